"""The Keras book's chapter-5 table (dogs vs cats from 2,000 photos) on cats_and_dogs_small: test accuracy, wall time and training images/s per row.

    python benchmarks/bench_catsdogs.py                       # every row, then the table
    cnnlab bench catsdogs --rows 3,5,6 --cut 100              # some rows, on 100 training photos per class
    cnnlab bench catsdogs --rows 3 --results out.jsonl        # append each finished row to a file ...
    cnnlab bench catsdogs --table out.jsonl                   # ... and print the table of a file's rows

Each row runs its recipe (`cnnlab recipes show NAME`) on `--data` (default: $CNNLAB_DATA/cats_and_dogs_small,
1,000/500/500 photos per class): fit, then the 1,000 test photos with the best validation weights.
The book's VGG16 rows run on EfficientNet-Lite0, whose ImageNet weights ship in a package (VGG16's
are not available offline). Row 6 is `cnnlab train --data DATA` with no other flag; its settings are
the photo-folder default (cnnlab.train.folder_default), so when they equal row 5's the one run is
shown on both rows (said in the table). `--cut N` keeps N training photos per class (same validation
and test photos), the issue's harder set where fine-tuning must beat cached features.

Wall time is the whole fit (decoding, cached-feature passes, every epoch with its validation, the
test split); images/s is training only: photos per second of the epochs that train on images (the
cached-feature epochs of a head are not photos and are left out; the extract-cached row shows "—").
All rows share one project folder, so the extract-cached and fine-tuning rows share the cached
features of the same photos. Timings depend on the machine's load; the table says the thread count.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path


# row: (label, recipe, the book's accuracy, target)
ROWS = {
    1: ("the book's convnet from scratch, 30 epochs", "catsdogs-small", "71 %", "≥ 71 %"),
    2: ("+ augmentation and dropout, 100 epochs", "catsdogs-augment", "82 %", "≥ 82 %"),
    3: ("pretrained base, cached features + dense head", "catsdogs-lite0-extract-cached", "90 %", "≥ 98.5 %"),
    4: ("frozen base end to end, with augmentation", "catsdogs-lite0-extract", "96 %", "≥ 98.5 %"),
    5: ("fine-tuning", "catsdogs-lite0-finetune", "97 %", "≥ 99.0 %, ≥ row 3"),
    6: ("`cnnlab train --data DATA`, no other flag", None, "—", "≥ 99.0 %"),
}
TRANSFER_ROWS = (3, 4, 5, 6)


def recipe_path(name: str) -> Path:
    """The recipe file of a name (recipes ship inside the package, cnnlab/recipes)."""
    from cnnlab.recipes import get_recipe

    return get_recipe(name).path


def row_settings(row: int, data: str, cut: int | None) -> tuple[Path | None, dict]:
    """(recipe file or None, settings on top of it) of one row."""
    extra = {"data": data, **({"per_class": cut} if cut else {})}
    if row == 6:
        from cnnlab.train.folder_default import chosen_defaults

        settings, _ = chosen_defaults(extra)
        return None, settings
    return recipe_path(ROWS[row][1]), extra


def same_run(row_a: int, row_b: int, data: str, cut: int | None) -> bool:
    """True when two rows resolve to the same training config (then one run serves both)."""
    from cnnlab.train.config import load_config, merge_settings

    def resolved(row: int) -> dict:
        recipe, settings = row_settings(row, data, cut)
        cfg = load_config(recipe, settings) if recipe else merge_settings(None, settings)
        return cfg.to_dict()

    return resolved(row_a) == resolved(row_b)


def run_row(row: int, data: str, cut: int | None, project: Path) -> dict:
    """Train one row in `project`; returns its measurements."""
    import torch

    from cnnlab.train import fit

    recipe, settings = row_settings(row, data, cut)
    name = f"row{row}" + (f"-cut{cut}" if cut else "")
    start = time.perf_counter()
    result = fit(recipe, project=str(project), name=name, quiet=True, **settings)
    wall = time.perf_counter() - start
    cfg = result.config
    # epochs that trained on photos: all but a cached head's (extract-cached; finetune's head phase)
    head_epochs = cfg.epochs if cfg.transfer == "extract-cached" else (
        (cfg.head_epochs or max(1, cfg.epochs // 2)) if cfg.transfer == "finetune" and cfg.cached_head else 0)
    photo_epochs = [h for h in result.history if h["epoch"] > head_epochs]
    seen = sum(h["images_per_s"] * h["seconds"] for h in photo_epochs)
    seconds = sum(h["seconds"] for h in photo_epochs)
    return {"row": row, "cut": cut, "recipe": recipe.stem if recipe else "(photo-folder default)",
            "test_acc": result.metrics.get("test_acc"), "best_epoch": result.best_epoch,
            "best_val": result.best_value, "monitor": cfg.monitor, "epochs": len(result.history),
            "wall_s": wall, "train_images_per_s": seen / seconds if seconds else None,
            "threads": torch.get_num_threads(), "run": str(result.run_dir),
            "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}


def table(results: list[dict]) -> str:
    """The chapter-5 table (markdown) of finished rows, the full set first, then each cut."""
    lines = []
    for cut in sorted({r.get("cut") or 0 for r in results}):
        rows = {r["row"]: r for r in results if (r.get("cut") or 0) == cut}
        title = "full set (1,000 training photos per class)" if not cut else f"cut to {cut} training photos per class"
        lines += [f"\n{title}; test accuracy on the 1,000 test photos\n",
                  "| row | recipe | book | target | test acc | wall | train images/s |",
                  "|---|---|---:|---:|---:|---:|---:|"]
        for row, (label, recipe, book, target) in ROWS.items():
            r = rows.get(row)
            if r is None:
                if not cut or row in TRANSFER_ROWS:
                    lines.append(f"| {row} {label} | {recipe or '(photo-folder default)'} | {book} | {target} "
                                 "| not run | — | — |")
                continue
            acc = f"{100 * r['test_acc']:.1f} %" if r.get("test_acc") is not None else "—"
            ips = f"{r['train_images_per_s']:.1f}" if r.get("train_images_per_s") else "—"
            wall = f"{r['wall_s'] / 60:.1f} min" if r.get("wall_s") is not None else "—"
            recipe = r["recipe"] + (f" (the run of row {r['same_as']})" if r.get("same_as") else "")
            lines.append(f"| {row} {label} | {recipe} | {book} | {target} | {acc} | {wall} | {ips} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default=str(Path(os.environ.get("CNNLAB_DATA", "data")) / "cats_and_dogs_small"))
    p.add_argument("--rows", default="1,2,3,4,5,6", help="comma-separated row numbers")
    p.add_argument("--cut", type=int, default=None, help="training photos per class (rows 3–6 only)")
    p.add_argument("--project", default="runs/bench-catsdogs", help="folder of the rows' run folders")
    p.add_argument("--results", default=None, help="append each finished row (JSON line) to this file")
    p.add_argument("--table", default=None, help="print the table of a --results file and exit")
    a = p.parse_args(argv)
    if a.table:
        print(table([json.loads(line) for line in Path(a.table).read_text().splitlines() if line.strip()]))
        return
    rows = [int(r) for r in a.rows.split(",") if r.strip()]
    unknown = [r for r in rows if r not in ROWS]
    if unknown:
        p.error(f"--rows: {unknown} (expected some of {list(ROWS)})")
    if a.cut:
        rows = [r for r in rows if r in TRANSFER_ROWS]
    if not Path(a.data).is_dir():
        p.error(f"--data: {a.data} is not a folder (expected cats_and_dogs_small: train/ validation/ test/)")
    results: list[dict] = []
    for row in rows:
        done = next((r for r in results if r["row"] in (5, 6) and row in (5, 6) and same_run(r["row"], row, a.data, a.cut)), None)
        if done is not None:
            r = {**done, "row": row, "recipe": "(photo-folder default)" if row == 6 else done["recipe"],
                 "same_as": done["row"]}
        else:
            r = run_row(row, a.data, a.cut, Path(a.project))
        results.append(r)
        print(f"row {row}: test {r['test_acc']}, wall {r['wall_s']:.0f} s, run {r['run']}", flush=True)
        if a.results:
            with open(a.results, "a", encoding="utf-8") as f:
                f.write(json.dumps(r) + "\n")
    print(table(results))


if __name__ == "__main__":
    main()
