"""Every command shown in the docs runs, so no page goes stale.

Each line of a ```bash block in docs/*.md and README.md is one command (a trailing backslash
joins the next line; lines starting with # are comments). The commands of one page run in
order in one fresh folder, so `cnnlab evaluate runs/NAME` finds the run that
`cnnlab train --name NAME` made a few lines before. Recipes are named as a user names them
(`--config keras-mnist`: they ship in the package), and `$CNNLAB_DATA` points at real MNIST; `cnnlab` and `python` are this checkout's.

How a command is treated, from the comment at the end of its line in the doc:

    (no marker)        runs as written and must exit 0; `cnnlab train` gets `--smoke` appended
                       (one epoch of three batches), so a 50-epoch recipe takes seconds.
    # needs: <what>    needs data, weights or hardware that is not here (cats-vs-dogs, CIFAR-10,
                       ImageNet weights, several nodes): only parsed, by the CLI's own parser
                       (verb, option names and option types), never run.
    # slow             minutes even on its smallest setting: `cnnlab train` lines still run with
                       --smoke; anything else is only parsed.

A command whose verb or option is not in this CLI (removed, renamed, never merged) fails: a
page never shows an option the CLI lacks. README.md cannot carry markers for commands
that its own text explains (`make`, a second machine), so `README_MARKERS` below gives them.
Counts a command's comment states (`# 93,322 parameters`) must be in what it prints.

Python blocks run too, statement by statement, in the page's folder after its commands, with
`fit` as a smoke run; statements that need what is not here are listed in `PYTHON_NEEDS`.
A `print(...)` whose comment states what it prints (`# 55`, `# 93,322`) must print that.
"""

from __future__ import annotations

import ast
import contextlib
import io
import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import typer.main

from cnnlab.recipes import recipe_names

try:  # typer ≥ 0.2x carries its own copy of click; its exceptions are not the click package's
    from typer._click.core import Context
    from typer._click.exceptions import ClickException, NoSuchOption, UsageError
except ImportError:  # older typer: click itself
    from click import ClickException, Context, NoSuchOption, UsageError

REPO = Path(__file__).resolve().parents[2]
PAGES = sorted((REPO / "docs").glob("*.md")) + [REPO / "README.md"]
COMMAND_TIMEOUT_S = 300
SHELL_SYNTAX = re.compile(r"[|&;<>$`*?~(){}]")  # lines the shell must interpret run through bash

# README.md lines that need a marker it cannot carry: the start of the command → its marker.
README_MARKERS = {
    "make demo": "needs: a fresh clone (make builds .venv; covered by .ci/run)",
    "make test": "needs: a fresh clone (it is the whole suite, this test included)",
    "cnnlab data split kaggle/train": "needs: Kaggle's dogs-vs-cats train folder",
    "cnnlab evaluate runs/a runs/b runs/c": "needs: three runs named a, b and c",
    "cnnlab predict runs/exp photos/": "needs: a photos/ folder and x.jpg",
    "cnnlab predict runs/exp/export x.jpg": "needs: a run exported to runs/exp/export and x.jpg",
    "torchrun": "needs: two nodes",
    "cnnlab train --data photos/": "needs: a photos/ folder",
    "cnnlab train --config cifar10": "needs: CIFAR-10 and ResNet-18 ImageNet weights",
    "cnnlab explain runs/exp digit.png": "needs: digit.png",
    "cnnlab serve": "needs: a person at a browser (it serves until Ctrl-C; tests/webapp drives it)",
    "cnnlab bench": "slow",  # minutes; tests/bench and tests/reliability run them smaller
}


@dataclass
class Command:
    page: Path
    line: int      # 1-based line of the doc where the command starts
    text: str      # the command without its trailing comment
    marker: str    # "", "needs: ...", "slow"
    comment: str = ""  # the whole trailing comment (figures it states are checked against the output)

    @property
    def id(self) -> str:
        return f"{self.page.name}:{self.line}"


def split_comment(line: str) -> tuple[str, str]:
    """'cmd --x "a # b"   # needs: data' → ('cmd --x "a # b"', 'needs: data'): a # outside
    quotes and after a space starts the comment."""
    quote = None
    for i, ch in enumerate(line):
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i].rstrip(), line[i + 1:].strip()
    return line.rstrip(), ""


def marker_of(comment: str) -> str:
    """The marker in a trailing comment, or "" for an ordinary comment."""
    for part in comment.split("#"):
        part = part.strip()
        if part.startswith("needs:") or part == "slow":
            return part
    return ""


def blocks(page: Path, language: str) -> list[tuple[int, list[str]]]:
    """The ```language blocks of a page: (line number of the first line, lines)."""
    out, current, start = [], None, 0
    for number, line in enumerate(page.read_text(encoding="utf-8").splitlines(), 1):
        stripped = line.strip()
        if current is None and stripped == f"```{language}":
            current, start = [], number + 1
        elif current is not None and stripped.startswith("```"):
            out.append((start, current))
            current = None
        elif current is not None:
            current.append(line)
    return out


def commands_of(page: Path) -> list[Command]:
    """Every command of the page's bash blocks, in order, with its marker."""
    found = []
    for start, lines in blocks(page, "bash"):
        pending, first = "", 0
        for offset, raw in enumerate(lines):
            text = raw.strip()
            if not pending and (not text or text.startswith("#")):
                continue
            if not pending:
                first = start + offset
            if text.endswith("\\"):
                pending += text[:-1] + " "
                continue
            command, comment = split_comment(pending + text)
            pending = ""
            marker = marker_of(comment)
            if page.name == "README.md" and not marker:
                marker = next((m for prefix, m in README_MARKERS.items() if command.startswith(prefix)), "")
            found.append(Command(page, first, command, marker, comment))
    return found


ALL_COMMANDS = [c for page in PAGES for c in commands_of(page)]


# --- parsing with the CLI's own parser --------------------------------------------------------

def cnnlab_args(command: str) -> list[str] | None:
    """The arguments after `cnnlab` (or `python -m cnnlab`, `torchrun ... -m cnnlab`), else None."""
    words = shlex.split(command)
    if words and words[0] == "cnnlab":
        return words[1:]
    for i in range(len(words) - 1):
        if words[i] == "-m" and words[i + 1] == "cnnlab":
            return words[i + 2:]
    return None


def parse(args: list[str]) -> None:
    """Parse `cnnlab ARGS` as the CLI would, without running it: unknown verbs and options and
    values of the wrong type raise click's usage errors."""
    from cnnlab.cli import app

    command = typer.main.get_command(app)
    ctx = None
    name = "cnnlab"
    while hasattr(command, "list_commands") and args and not args[0].startswith("-"):  # a group
        sub = command.get_command(Context(command), args[0])
        if sub is None:
            raise UsageError(f"No such command '{args[0]}'.")
        ctx = Context(command, info_name=name, parent=ctx)
        name, command, args = args[0], sub, args[1:]
    with command.make_context(name, list(args), parent=ctx):
        pass


# --- running a page in order ------------------------------------------------------------------

class PageFolder:
    """The folder where one page's commands run, and how far down the page it has got."""

    def __init__(self, root: Path, env: dict[str, str]):
        self.root, self.env, self.done = root, env, 0

    def run(self, command: Command) -> subprocess.CompletedProcess:
        text = command.text
        if cnnlab_args(text) and cnnlab_args(text)[:1] == ["train"] and "--smoke" not in text \
                and "--resume" not in text:
            text += " --smoke"
        args = cnnlab_args(text)
        if text.startswith("cnnlab ") and args is not None and not SHELL_SYNTAX.search(text):
            return self.run_in_process(args)
        return subprocess.run(["bash", "-c", text], cwd=self.root, env=self.env, capture_output=True,
                              text=True, timeout=COMMAND_TIMEOUT_S)

    def run_in_process(self, args: list[str]) -> subprocess.CompletedProcess:
        """A plain `cnnlab ...` line through the CLI's entry point in this process: the same code
        path as the shell's, without a fresh interpreter importing torch for each of ~100 lines."""
        from cnnlab.cli import main

        out, err, code = io.StringIO(), io.StringIO(), 0
        saved_env, saved_cwd = dict(os.environ), os.getcwd()
        os.environ.update({k: v for k, v in self.env.items() if k in ("CNNLAB_DATA", "MPLBACKEND", "COLUMNS")})
        os.chdir(self.root)
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                main(args)
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        finally:
            os.chdir(saved_cwd)
            os.environ.clear()
            os.environ.update(saved_env)
        return subprocess.CompletedProcess(args, code, out.getvalue(), err.getvalue())


def shims(folder: Path) -> Path:
    """A bin/ folder whose `cnnlab` and `python` are this checkout's, first on PATH."""
    folder.mkdir(parents=True, exist_ok=True)
    # Scripts, not symlinks: a venv's python finds its packages only when called by its own path.
    for name, call in (("python", ""), ("cnnlab", " -m cnnlab")):
        script = folder / name
        script.write_text(f'#!/bin/sh\nexec "{sys.executable}"{call} "$@"\n')
        script.chmod(0o755)
    return folder


@pytest.fixture(scope="module")
def page_folders(tmp_path_factory, mnist_root):
    base = tmp_path_factory.mktemp("docs")
    skimage_data = pytest.importorskip("skimage.data")
    from PIL import Image

    chelsea = base / "chelsea.png"
    Image.fromarray(skimage_data.chelsea()).save(chelsea)
    env = dict(os.environ, CNNLAB_DATA=str(mnist_root), OMP_NUM_THREADS="1", MPLBACKEND="Agg",
               PYTHONPATH=os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
               PATH=f"{shims(base / 'bin')}{os.pathsep}{os.environ.get('PATH', '')}", COLUMNS="130")
    folders = {}
    for page in PAGES:
        root = base / f"{page.parent.name}-{page.stem}"
        root.mkdir()
        # docs/your-own-code.md trains the user's model it shows, `mymodels.py` in the folder
        shutil.copy(REPO / "tests" / "mymodels.py", root / "mymodels.py")
        shutil.copy(chelsea, root / "chelsea.png")  # the README explains an ImageNet model on this photo
        folders[page] = PageFolder(root, env)
    return folders


def run_or_check(command: Command, folder: PageFolder) -> None:
    """Run (or only parse) one command; raises pytest outcomes with the reason."""
    args = cnnlab_args(command.text)
    if args is not None:
        try:  # a verb or option the page shows but the CLI lacks (removed, renamed) fails here
            parse(args)
        except ClickException as e:
            pytest.fail(f"{command.id}: `{command.text}` does not parse: {e.format_message()}")
    parse_only = command.marker.startswith("needs:") or (
        command.marker == "slow" and (args is None or args[:1] != ["train"]))
    if parse_only:
        if args is None:
            pytest.skip(f"{command.id}: {command.marker} (not a cnnlab command, so not parsed either)")
        return
    result = folder.run(command)
    assert result.returncode == 0, (f"{command.id}: `{command.text}` exited {result.returncode}\n"
                                    f"--- stdout\n{result.stdout[-3000:]}\n--- stderr\n{result.stderr[-3000:]}")
    missing = [f for f in stated_counts(command.comment) if f not in counts_in(result.stdout)]
    assert not missing, (f"{command.id}: the page says {missing} but `{command.text}` printed:\n"
                         f"{result.stdout[-3000:]}")


COUNT = re.compile(r"(?<![\d.,])\d{1,3}(?:,\d{3})+(?![\d,])")  # 93,322 — a count written with separators


def stated_counts(comment: str) -> list[int]:
    """The exact counts a doc comment states (numbers written with thousands separators)."""
    return [int(m.replace(",", "")) for m in COUNT.findall(comment)]


def counts_in(output: str) -> set[int]:
    """Every whole number the output shows, with or without thousands separators."""
    return {int(m.replace(",", "")) for m in re.findall(r"\d{1,3}(?:,\d{3})+|\d+", output)}


def test_the_docs_show_commands():
    pages = {c.page.name for c in ALL_COMMANDS}
    assert {"mnist-tutorial.md", "keras-mnist-and-tiny.md", "catsdogs.md", "cifar10-transfer.md",
            "explain.md", "how-a-conv-layer-works.md", "your-own-code.md", "README.md"} <= pages


@pytest.mark.parametrize("command", ALL_COMMANDS, ids=lambda c: c.id)
def test_doc_command(command: Command, page_folders):
    """One command of a page, after the page's earlier commands (run first if they were not)."""
    folder = page_folders[command.page]
    earlier = [c for c in ALL_COMMANDS if c.page == command.page]
    index = earlier.index(command)
    for previous in earlier[folder.done:index]:
        try:
            run_or_check(previous, folder)
        except (pytest.skip.Exception, AssertionError, pytest.fail.Exception):
            pass  # its own test reports it; what follows still gets its chance
    folder.done = max(folder.done, index + 1)
    run_or_check(command, folder)


# --- python blocks and recipes ----------------------------------------------------------------

PYTHON_BLOCKS = [(page, start, lines) for page in PAGES for start, lines in blocks(page, "python")]

# Python statements that need what is not here (the text they start with → why); they are compiled,
# not run, and so is every later statement that uses a name they define.
PYTHON_NEEDS = {
    'top_k(predict_proba(imagenet, ["cat.jpg"])': "needs: cat.jpg",
    'split_folder("kaggle/train"': "needs: Kaggle's dogs-vs-cats train folder",
    'small = fit("catsdogs': "needs: data/cats_and_dogs_small",
    'augmented = fit("catsdogs': "needs: data/cats_and_dogs_small",
    'cached = fit("catsdogs': "needs: data/cats_and_dogs_small and VGG16 ImageNet weights",
    'tuned = fit("catsdogs': "needs: data/cats_and_dogs_small and VGG16 ImageNet weights",
    'extract = fit("cifar10': "needs: CIFAR-10 and ResNet-18 ImageNet weights",
    'finetune = fit("cifar10': "needs: CIFAR-10 and ResNet-18 ImageNet weights",
    'ensemble = evaluate(["runs/mnist-tutorial", "runs/mnist-seed1"]': "needs: a second run, runs/mnist-seed1",
    'data = tuple(ImageFolder(f"photos/': "needs: a photos/ folder with train/, val/, test/ class folders",
}


def statements(lines: list[str], start: int) -> list[tuple[int, str, str]]:
    """A block's top-level statements: (doc line, source, the trailing comment of its first line)."""
    source = "\n".join(lines)
    tree = ast.parse(source)
    out = []
    for node in tree.body:
        text = "\n".join(lines[node.lineno - 1: node.end_lineno])
        _, comment = split_comment(lines[node.lineno - 1])
        out.append((start + node.lineno - 1, text, comment))
    return out


def stated_figures(comment: str) -> list[float]:
    """What a print's comment says it prints: the numbers before any words ('55', '[[5, 7], [13, 15]]',
    '(1, 1000, 6, 6) (32, 32)', '7.2e-05: ...'), or else the counts written with separators ('93,322 parameters')."""
    lead = re.match(r"[\d\s.,()\[\]e+-]+", comment)
    lead_text = lead.group(0) if lead else ""
    if re.search(r"\d", lead_text) and (not comment[len(lead_text):].strip()
                                        or comment[len(lead_text):].lstrip().startswith(":")):
        lead_text = COUNT.sub(lambda m: m.group(0).replace(",", ""), lead_text)  # 93,322 is one number
        return [float(x) for x in re.findall(r"-?\d+(?:\.\d+)?(?:e[+-]?\d+)?", lead_text.replace(",", " "))]
    return [float(n) for n in stated_counts(comment)]


def figures_in(output: str) -> list[float]:
    return [float(x.replace(",", "")) for x in re.findall(r"-?\d{1,3}(?:,\d{3})+|-?\d+(?:\.\d*)?(?:e[+-]?\d+)?", output)]


def shows(output: str, figure: float) -> bool:
    """The output shows the figure: exactly for whole numbers; a small fraction (a rounding error
    such as 7.2e-05, which varies with the BLAS) to within a factor of 3."""
    if figure == int(figure) and abs(figure) >= 1 or figure == 0:
        return figure in figures_in(output)
    return any(abs(figure) / 3 <= abs(x) <= 3 * abs(figure) for x in figures_in(output))


def smoke_fit(monkeypatch) -> None:
    """`fit` in a doc's Python runs as its `cnnlab train` lines do: one smoke epoch of three batches."""
    import cnnlab.train

    real = cnnlab.train.fit

    def fit(*args, **kwargs):
        kwargs.setdefault("smoke", True)
        kwargs.setdefault("quiet", True)
        return real(*args, **kwargs)
    monkeypatch.setattr(cnnlab.train, "fit", fit)


def reader_inputs(folder: Path) -> None:
    """What a page assumes the reader has at hand: a digit image, a folder of photos."""
    from PIL import Image

    from cnnlab.data import load_data

    if not (folder / "digit.png").exists():
        Image.fromarray(load_data("digits").test.images[0, 0].numpy()).resize((28, 28)).save(folder / "digit.png")
    if not (folder / "photos").exists():
        from image_files import make_class_folder

        make_class_folder(folder / "photos", per_class=6, size=32)


def run_block(page: Path, start: int, lines: list[str], folder: PageFolder, capsys) -> None:
    """Run one Python block statement by statement in the page's namespace (the blocks of a page
    build on each other, as a reader's session does); check the figures its prints state."""
    namespace, unavailable = folder.python
    ran = 0
    for line, text, comment in statements(lines, start):
        code = compile(text, f"{page.name}:{line}", "exec")
        names = {n.id for n in ast.walk(ast.parse(text)) if isinstance(n, ast.Name)}
        if any(text.startswith(prefix) for prefix in PYTHON_NEEDS) or names & unavailable:
            unavailable |= {n.id for n in ast.walk(ast.parse(text)) if isinstance(n, ast.Name)
                            and isinstance(n.ctx, ast.Store)}
            continue
        capsys.readouterr()
        try:
            exec(code, namespace)
        except Exception as e:
            pytest.fail(f"{page.name}:{line}: `{text.strip()}` raised {type(e).__name__}: {e}")
        ran += 1
        printed = capsys.readouterr().out
        if text.startswith("print(") or text.startswith("for "):
            missing = [f for f in stated_figures(comment) if not shows(printed, f)]
            assert not missing, f"{page.name}:{line}: the page says {comment!r}, but it printed:\n{printed[-2000:]}"
    assert ran, f"{page.name}:{start}: no statement of the block could run here"


@pytest.mark.parametrize("page,start,lines", PYTHON_BLOCKS, ids=[f"{p.name}:{s}" for p, s, _ in PYTHON_BLOCKS])
def test_python_block_runs(page, start, lines, page_folders, monkeypatch, capsys):
    """A page's Python block runs statement by statement in the page's folder (after the page's
    commands and its earlier blocks), and each print whose comment states what it prints prints that."""
    folder = page_folders[page]
    commands = [c for c in ALL_COMMANDS if c.page == page]
    for previous in commands[folder.done:]:
        with contextlib.suppress(pytest.skip.Exception, AssertionError, pytest.fail.Exception):
            run_or_check(previous, folder)
    folder.done = len(commands)
    reader_inputs(folder.root)
    smoke_fit(monkeypatch)
    monkeypatch.chdir(folder.root)
    for key in ("CNNLAB_DATA", "MPLBACKEND"):
        monkeypatch.setenv(key, folder.env[key])
    if not hasattr(folder, "python"):
        folder.python, folder.blocks_done = ({"__name__": "__doc_page__"}, set()), 0
    blocks_of_page = [(s, ls) for p, s, ls in PYTHON_BLOCKS if p == page]
    index = [s for s, _ in blocks_of_page].index(start)
    for s, ls in blocks_of_page[folder.blocks_done:index]:
        with contextlib.suppress(AssertionError, pytest.fail.Exception):
            run_block(page, s, ls, folder, capsys)
    folder.blocks_done = max(folder.blocks_done, index + 1)
    run_block(page, start, lines, folder, capsys)


RECIPES = recipe_names()
# A page names a recipe as a user types it: `--config NAME`, fit("NAME"), or `NAME` in a table.
# `recipes/NAME.yaml` is the spelling of a checkout before the recipes moved into the package.
RECIPE_MENTION = r'(?:--config |fit\("|`|recipes/)({name})(?:\.yaml)?(?=[`"\s)]|$)'


@pytest.mark.parametrize("recipe", RECIPES)
def test_every_recipe_is_on_a_docs_page(recipe):
    mention = re.compile(RECIPE_MENTION.format(name=re.escape(recipe)), re.M)
    pages = [p.name for p in PAGES if p.parent.name == "docs" and mention.search(p.read_text())]
    assert pages, f"recipe {recipe} is not named on any docs/*.md page; add it to the page of its workflow"


def test_recipes_named_in_the_docs_exist():
    named = {m for p in PAGES for m in re.findall(r'(?:--config |fit\(")(?:recipes/)?([\w.-]+?)(?:\.yaml)?(?=["\s]|$)',
                                                  p.read_text(), re.M)}
    assert named, "the docs name no recipe"
    missing = sorted(n for n in named if n not in RECIPES)
    assert not missing, f"the docs name recipes that do not ship in cnnlab/recipes: {missing} (have: {RECIPES})"


def test_a_removed_or_renamed_option_fails_rather_than_skips(tmp_path):
    page = tmp_path / "page.md"
    for text in ("cnnlab summary keras-mnist --inputs 1x28x28", "cnnlab sumary keras-mnist"):
        with pytest.raises(pytest.fail.Exception, match="does not parse"):
            run_or_check(Command(page, 1, text, "needs: nothing"), PageFolder(tmp_path, {}))


def test_stated_figures_are_read_from_comments():
    assert stated_figures("93,322 parameters, the book's output shapes") == [93322]
    assert stated_figures("[[5, 7], [13, 15]]") == [5, 7, 13, 15] and stated_figures("93,322") == [93322]
    assert stated_figures("7.2e-05: float32 rounding of 363-term sums") == [7.2e-05]
    assert stated_figures("the predicted class, probability and the PNG written") == []
    assert shows("Total params: 93,322", 93322) and not shows("Total params: 93,323", 93322)
    assert shows("[[ 5.  7.]\n [13. 15.]]", 13) and shows("3.1e-05", 7.2e-05) and not shows("1e-3", 7.2e-05)


def test_readme_markers_are_markers():
    # A value that is neither would be silently ignored, and the command run (a server, forever).
    assert all(m == "slow" or m.startswith("needs:") for m in README_MARKERS.values()), README_MARKERS


def test_explain_page_explains_its_mnist_digit_with_a_model_trained_on_mnist():
    # Issue 21 item 3: the page's 7 is an MNIST test image; a model of the 8×8 digits called it a 4.
    from cnnlab.train.config import load_config

    page = REPO / "docs" / "explain.md"
    trains = [c for c in commands_of(page) if (cnnlab_args(c.text) or [""])[0] == "train"]
    assert len(trains) == 1 and "MNIST(" in page.read_text()
    args = cnnlab_args(trains[0].text)
    recipe = args[args.index("--config") + 1]  # a packaged recipe's name
    assert load_config(recipe).data.source == "mnist", trains[0].text
