"""Rows 7–10 of `cnnlab bench speed`: where practitioners wait (issue 22), each ours vs a plain reference.

 7. A linear head on cached EfficientNet-Lite0 features, ~250 photos, 20 epochs, wall time from
    the command to its exit: `cnnlab train --transfer extract-cached` vs a plain script (timm
    features once, then a linear head).
 8. `cnnlab predict` on 1,000 photos vs a plain loop (PIL + torchvision transforms + batched
    forward): images/s and peak RSS; ours again on 3,000 photos, to show memory does not grow.
 9. Start-up: `cnnlab --help`, `version` and `models`, wall time (no reference: target ≤ 0.5 s).
10. The Keras book's convnet from scratch on cats_and_dogs_small (150×150, batch 20, RMSprop),
    3 epochs, wall per epoch with validation: `fit` vs the same net in a plain torch loop over
    `ImageFolder` + DataLoader workers, as the book's pipeline reads the folder.

Every command runs in its own process (`python -m cnnlab ...` or `python speed_rows.py --ref ...`)
and is timed from start to exit. "Peak RSS" is the highest memory of the whole process tree,
sampled every 20 ms from /proc: the sum of each process's PSS (resident pages, a page shared by
n processes counted 1/n in each), so DataLoader workers count, and the torch libraries they share
with their parent are not counted once per worker.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PY = sys.executable
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO / "src"), os.environ.get("PYTHONPATH")]))}


# --- running and measuring one command ----------------------------------------------------------

def _tree_rss_bytes(root: int) -> int:
    """Memory of `root` and its descendants: the sum of their PSS (/proc; 0 for processes gone meanwhile)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(entry))
            except (OSError, ValueError, IndexError):
                continue
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        todo.extend(children.get(pid, []))
        try:  # PSS: a page shared by n processes (torch's libraries in forked workers) counts 1/n in each
            with open(f"/proc/{pid}/smaps_rollup") as f:
                total += next(int(line.split()[1]) for line in f if line.startswith("Pss:")) * 1024
        except (OSError, ValueError, IndexError, StopIteration):
            continue
    return total


def run_measured(argv: list[str], cwd: Path | None = None) -> dict:
    """Run a command; its wall seconds, peak process-tree RSS (bytes), exit code and output."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=cwd, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = [0]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], _tree_rss_bytes(proc.pid))
            done.wait(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = proc.communicate()
    wall = time.perf_counter() - start
    done.set()
    sampler.join()
    if proc.returncode != 0:
        raise SystemExit(f"speed_rows: {' '.join(map(str, argv))} exited {proc.returncode}:\n{err[-3000:]}")
    return {"wall": wall, "rss": peak[0], "stdout": out, "stderr": err}


def _gb(n: float) -> str:
    return f"{n / 1024**3:.2f} GB"


# --- data: folders of real photos -----------------------------------------------------------------

def photo_folder(src: Path, dst: Path, per_class: int, splits=("train",)) -> Path:
    """Copy `per_class` photos of each class of `src/<split>/` into `dst/<class>/` (regular files:
    cnnlab reads no symlinks out of a folder)."""
    if dst.exists():
        shutil.rmtree(dst)
    for cls in ("cats", "dogs"):
        files = [f for split in splits for f in sorted((src / split / cls).iterdir())][:per_class]
        (dst / cls).mkdir(parents=True)
        for f in files:
            shutil.copyfile(f, dst / cls / f.name)
    return dst


# --- references: the plain scripts, run as `python speed_rows.py --ref NAME JSON` --------------------

def ref_cached_head(folder: str, epochs: int) -> dict:
    """Plain script: Lite0 (timm, ImageNet weights) features of every photo once, then a linear head."""
    import timm
    import torch
    import torchvision.transforms as T
    from PIL import Image

    from cnnlab.models.pretrained_weights import efficientnet_lite0_state_dict

    torch.manual_seed(0)
    backbone = timm.create_model("tf_efficientnet_lite0", num_classes=0)
    backbone.load_state_dict({k: v for k, v in efficientnet_lite0_state_dict().items()
                              if not k.startswith("classifier.")})
    backbone.eval()
    tf = T.Compose([T.Resize((224, 224)), T.ToTensor(), T.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))])
    paths = sorted(Path(folder).rglob("*.jpg"))
    labels = torch.tensor([0 if p.parent.name == "cats" else 1 for p in paths])
    feats = []
    with torch.inference_mode():
        for i in range(0, len(paths), 32):
            x = torch.stack([tf(Image.open(p).convert("RGB")) for p in paths[i:i + 32]])
            feats.append(backbone(x))
    feats = torch.cat(feats)
    perm = torch.randperm(len(paths))
    n_train = int(0.8 * len(paths))
    tr, va = perm[:n_train], perm[n_train:]
    head = torch.nn.Linear(feats.shape[1], 2)
    opt = torch.optim.Adam(head.parameters(), lr=1e-3)
    for _ in range(epochs):
        for idx in tr[torch.randperm(len(tr))].split(32):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(head(feats[idx]), labels[idx]).backward()
            opt.step()
    with torch.no_grad():
        acc = float((head(feats[va]).argmax(1) == labels[va]).float().mean())
    return {"val_acc": acc}


def ref_predict(checkpoint: str, folder: str, batch_size: int = 64) -> dict:
    """Plain loop: PIL + torchvision transforms + batched forward over every photo of a folder."""
    import torch
    import torchvision.transforms as T
    from PIL import Image

    from cnnlab.run.checkpoint import load_model

    loaded = load_model(checkpoint)
    pre = loaded.preprocessing
    model = loaded.model.eval()
    tf = T.Compose([T.Resize(tuple(pre.input_size)), T.ToTensor(), T.Normalize(pre.mean, pre.std)])
    paths = sorted(Path(folder).rglob("*.jpg"))
    predicted = []
    with torch.inference_mode():
        for i in range(0, len(paths), batch_size):
            x = torch.stack([tf(Image.open(p).convert("RGB")) for p in paths[i:i + batch_size]])
            predicted += model(x).argmax(1).tolist()
    return {"files": len(predicted)}


def ref_book_convnet(root: str, epochs: int) -> dict:
    """The Keras book's convnet in a plain torch loop: ImageFolder + DataLoader workers, batch 20,
    150×150 scaled to [0, 1], RMSprop 1e-4, binary cross-entropy; validation each epoch."""
    import torch
    import torchvision.transforms as T
    from torch.utils.data import DataLoader
    from torchvision.datasets import ImageFolder

    from cnnlab.models import build_model

    torch.manual_seed(0)
    tf = T.Compose([T.Resize((150, 150)), T.ToTensor()])
    train = DataLoader(ImageFolder(f"{root}/train", tf), batch_size=20, shuffle=True, num_workers=2,
                       persistent_workers=True)
    val = DataLoader(ImageFolder(f"{root}/validation", tf), batch_size=20, num_workers=2, persistent_workers=True)
    model = build_model("keras-catsdogs", num_classes=2)  # 3,453,121 parameters, one sigmoid logit
    opt = torch.optim.RMSprop(model.parameters(), lr=1e-4, alpha=0.9, eps=1e-7)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    epoch_walls, train_seconds, val_acc = [], [], 0.0
    for _ in range(epochs):
        start = time.perf_counter()
        model.train()
        for x, y in train:
            opt.zero_grad()
            loss_fn(model(x).reshape(-1), y.float()).backward()
            opt.step()
        train_seconds.append(time.perf_counter() - start)
        model.eval()
        correct = 0
        with torch.inference_mode():
            for x, y in val:
                correct += int(((model(x).reshape(-1) > 0).long() == y).sum())
        val_acc = correct / len(val.dataset)
        epoch_walls.append(time.perf_counter() - start)
    return {"epoch_walls": epoch_walls, "train_seconds": train_seconds, "val_acc": val_acc}


def ours_book_convnet(root: str, epochs: int, project: str) -> dict:
    """`fit` with the catsdogs-small recipe, 3 epochs; the wall of each epoch read at its end."""
    from cnnlab.run.writer import RunWriter
    from cnnlab.train import fit
    from cnnlab.train.config import load_config

    ends: list[float] = []
    write_history = RunWriter.write_history

    def timed(self, history, *a, **kw):  # called once at the end of every epoch (and once in finish)
        if not kw.get("final"):
            ends.append(time.perf_counter())
        return write_history(self, history, *a, **kw)

    RunWriter.write_history = timed
    cfg = load_config("catsdogs-small", {})  # the packaged recipe
    start = time.perf_counter()
    r = fit(cfg, data=root, epochs=epochs, project=project, quiet=True, evaluate_test=False, report=False)
    walls = [b - a for a, b in zip([start] + ends, ends)]
    return {"epoch_walls": walls, "train_seconds": [h["seconds"] for h in r.history],
            "val_acc": r.history[-1]["val_acc"], "first_epoch_includes": "data loading and model set-up"}


REFERENCES = {"cached_head": ref_cached_head, "predict": ref_predict, "book_convnet": ref_book_convnet,
              "ours_book_convnet": ours_book_convnet}


def run_reference(name: str, **kwargs) -> dict:
    """A reference (or an instrumented `fit`) in its own process: wall, peak RSS and its JSON."""
    r = run_measured([PY, __file__, "--ref", name, json.dumps(kwargs)])
    return {**json.loads(r["stdout"].strip().splitlines()[-1]), "wall": r["wall"], "rss": r["rss"]}


# --- the rows --------------------------------------------------------------------------------------

def row7(data: Path, work: Path, epochs: int = 20, per_class: int = 125) -> None:
    folder = photo_folder(data, work / "photos", per_class)

    def ours(name: str) -> dict:
        return run_measured([PY, "-m", "cnnlab", "train", "--data", str(folder), "--transfer", "extract-cached",
                             "--epochs", str(epochs), "--no-report", "--project", str(work / "runs"), "--name", name,
                             "-q"])

    ref = run_reference("cached_head", folder=str(folder), epochs=epochs)
    cold = ours("row7")  # the first run computes the features and caches them under runs/.cache/features
    warm = ours("row7-again")  # a second run on the same photos and backbone reads them from that cache
    print(f"\n7 cached-features head, {2 * per_class} photos, {epochs} epochs, wall from command to exit "
          "(target ≥ 1.5×)")
    print(f"  plain script (timm features once + linear head)  {ref['wall']:6.1f} s  peak RSS {_gb(ref['rss'])}")
    for label, r in (("cnnlab train --transfer extract-cached, first", cold),
                     ("the same again (features from the cache)", warm)):
        print(f"  {label:<47}{r['wall']:6.1f} s  peak RSS {_gb(r['rss'])}   ratio {ref['wall'] / r['wall']:.2f}×")


def row8(data: Path, work: Path, per_class: int = 500) -> None:
    checkpoint = work / "runs" / "row7"
    if not checkpoint.exists():
        raise SystemExit("row 8 predicts with row 7's run: run rows 7,8 together")
    small = photo_folder(data, work / "photos1000", per_class, splits=("train", "validation", "test"))
    n_small = 2 * per_class
    ref = run_reference("predict", checkpoint=str(checkpoint), folder=str(small))
    ours = run_measured([PY, "-m", "cnnlab", "predict", str(checkpoint), str(small), "--format", "csv"])
    big = run_measured([PY, "-m", "cnnlab", "predict", str(checkpoint), str(data), "--format", "csv"])
    n_big = big["stdout"].count("\n") - 1
    print("\n8 predict on photos (Lite0 head of row 7, 3×224), wall from command to exit")
    print(f"  plain loop (PIL + transforms + batched forward), {n_small:,} photos  {n_small / ref['wall']:6.1f} img/s  "
          f"peak RSS {_gb(ref['rss'])}")
    print(f"  cnnlab predict, {n_small:,} photos                                  {n_small / ours['wall']:6.1f} img/s  "
          f"peak RSS {_gb(ours['rss'])}   ratio {ref['wall'] / ours['wall']:.2f}× (target ≥ 1.0×, RSS ≤ 1 GB)")
    print(f"  cnnlab predict, {n_big:,} photos                                  {n_big / big['wall']:6.1f} img/s  "
          f"peak RSS {_gb(big['rss'])}")


def row9(repeats: int = 5) -> None:
    print(f"\n9 start-up, wall from command to exit (median of {repeats}; target ≤ 0.5 s)")
    for verb in (["--help"], ["version"], ["models"]):
        walls = [run_measured([PY, "-m", "cnnlab", *verb])["wall"] for _ in range(repeats)]
        print(f"  cnnlab {' '.join(verb):<10} {statistics.median(walls):5.2f} s  (min {min(walls):.2f})")
    walls = [run_measured([PY, "-c", "import torch"])["wall"] for _ in range(repeats)]
    print(f"  for scale: python -c 'import torch'  {statistics.median(walls):5.2f} s")


def row10(data: Path, work: Path, epochs: int = 3) -> None:
    ref = run_reference("book_convnet", root=str(data), epochs=epochs)
    ours = run_reference("ours_book_convnet", root=str(data), epochs=epochs, project=str(work / "runs"))

    def steady(r: dict) -> float:  # the first epoch of ours also loads the data: compare the later ones
        return statistics.median(r["epoch_walls"][1:] or r["epoch_walls"])

    print(f"\n10 the book's convnet on cats_and_dogs_small, {epochs} epochs, wall per epoch with validation "
          "(median of epochs 2..)")
    for label, r in (("plain torch loop (ImageFolder + 2 workers)", ref), ("cnnlab fit (catsdogs-small recipe)", ours)):
        train = statistics.median(r["train_seconds"][1:] or r["train_seconds"])
        print(f"  {label:<44} {steady(r):6.1f} s/epoch  (training {train:5.1f} s, other {steady(r) - train:4.1f} s)"
              f"  all epochs {' '.join(f'{w:.1f}' for w in r['epoch_walls'])}  peak RSS {_gb(r['rss'])}")
    print(f"  ratio {steady(ref) / steady(ours):.2f}× (target ≥ 1.2×); Keras/TF-CPU: "
          + ("not installed here" if _missing("tensorflow") else "see docs"))


def _missing(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is None


def small_copy(data: Path, dst: Path, per_class: int) -> Path:
    """cats_and_dogs_small in miniature (train/validation/test × cats/dogs, `per_class` each)."""
    for split in ("train", "validation", "test"):
        for cls in ("cats", "dogs"):
            (dst / split / cls).mkdir(parents=True, exist_ok=True)
            for f in sorted((data / split / cls).iterdir())[:per_class]:
                shutil.copyfile(f, dst / split / cls / f.name)
    return dst


def practitioner_rows(rows: set[int], data_root: Path, quick: bool = False) -> None:
    """Print rows 7–10 (those in `rows`) using cats_and_dogs_small under `data_root`.

    `quick`: a few photos and epochs, to check the rows run (numbers not comparable)."""
    import tempfile

    data = data_root / "cats_and_dogs_small"
    if rows & {7, 8, 10} and not data.is_dir():
        raise SystemExit(f"rows 7, 8 and 10 need {data} (train/validation/test × cats/dogs)")
    work = Path(tempfile.mkdtemp(prefix="cnnlab-bench-rows-"))
    try:
        if quick:
            data = small_copy(data, work / "small", 12)
        if 9 in rows:
            row9(repeats=1 if quick else 5)
        if rows & {7, 8}:
            row7(data, work, epochs=2 if quick else 20, per_class=8 if quick else 125)
        if 8 in rows:
            row8(data, work, per_class=12 if quick else 500)
        if 10 in rows:
            row10(data, work, epochs=2 if quick else 3)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--ref":
        sys.path.insert(0, str(REPO / "src"))
        print(json.dumps(REFERENCES[sys.argv[2]](**json.loads(sys.argv[3]))))
    else:
        import argparse

        p = argparse.ArgumentParser(description="rows 7–10 of bench_speed (also: bench_speed.py --rows 7,8,9,10)")
        p.add_argument("--rows", default="7,8,9,10")
        p.add_argument("--data-root", default=os.environ.get("CNNLAB_DATA", "data"))
        p.add_argument("--quick", action="store_true", help="a few photos and epochs: check the rows run")
        args = p.parse_args()
        practitioner_rows({int(r) for r in args.rows.split(",")}, Path(args.data_root), args.quick)
