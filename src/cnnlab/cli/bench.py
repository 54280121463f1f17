"""`cnnlab bench NAME`: run a benchmark script of benchmarks/ (they ship with the source
checkout, not the installed package); `--help` lists the scripts found."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import typer

from cnnlab.cli.help import help_from, listing
from cnnlab.errors import CnnlabError

app = typer.Typer()


def benchmark_folders() -> list[Path]:
    """benchmarks/ of the current folder and of this checkout (beside src/)."""
    return [Path.cwd() / "benchmarks", Path(__file__).resolve().parents[3] / "benchmarks"]


def benchmarks() -> dict[str, Path]:
    """Every benchmarks/bench_NAME.py found, by NAME (the current folder's first)."""
    found: dict[str, Path] = {}
    for folder in benchmark_folders():
        for script in sorted(folder.glob("bench_*.py")) if folder.is_dir() else []:
            found.setdefault(script.stem.removeprefix("bench_"), script)
    return found


def find_benchmark(name: str) -> Path:
    """benchmarks/bench_NAME.py of this checkout (beside src/) or of the current folder."""
    known = benchmarks()
    if name in known:
        return known[name]
    raise CnnlabError(f"benchmark {name!r}: no benchmarks/bench_{name}.py here"
                      + (f"; choose one of {', '.join(known)}" if known else
                         " (benchmarks ship with the source checkout, not the installed package)"))


def what_it_measures(script: Path) -> str:
    """The first paragraph of the script's docstring, on one line."""
    doc = ast.get_docstring(ast.parse(script.read_text(encoding="utf-8"))) or ""
    return " ".join(doc.split("\n\n")[0].split())


def benchmark_list() -> str:
    found = benchmarks()
    if not found:
        return "No benchmarks/ here: they ship with the source checkout, not the installed package."
    return listing("Benchmarks:", [(name, what_it_measures(path)) for name, path in found.items()])


@app.command("bench", context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
             cls=help_from(epilog=benchmark_list))
def bench(
    ctx: typer.Context,
    name: str = typer.Argument("speed", help="Which benchmark (listed below)"),
) -> None:
    """Run a benchmark (benchmarks/bench_NAME.py); extra options go to the script (e.g. --rows 1,2)."""
    import runpy

    script = find_benchmark(name)
    saved = sys.argv
    sys.argv = [str(script), *ctx.args]
    try:
        runpy.run_path(str(script), run_name="__main__")
    finally:
        sys.argv = saved
