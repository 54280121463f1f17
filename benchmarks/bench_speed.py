"""CPU training throughput and time to accuracy: cnnlab vs the tutorial loops, side by side.

    python benchmarks/bench_speed.py [--data-root ../shared/data] [--rows 1,2,3,4,5] [--epochs 1] [--repeats 3]

Rows (each ours vs a reference written out below, measured in the same run):
 1. PyTorch MNIST tutorial model + tutorial augmentation, batch 64, Adam: `cnnlab train` vs the
    tutorial's own loop (DataLoader + PIL transforms).
 2. Keras-book MNIST convnet, RMSprop, batch 64: `cnnlab train` vs a plain PyTorch loop over
    in-memory tensors.
 3. Time to 99.0 % MNIST test accuracy: cnnlab's fastest recipe (the recipe mnist-fast) vs
    the Keras-book recipe (keras-mnist, RMSprop, 5 epochs, batch 64).
 4. Model FLOP utilisation of rows 2 and 3: training FLOP/s over the machine's large-GEMM FLOP/s.
 5. Inference: images/s and single-image latency (p50/p95), PyTorch vs ONNX Runtime.
 6. EfficientNet-Lite0 fine-tuning, all blocks unfrozen, batch 32 at 224: `cnnlab train --transfer
    finetune --unfreeze all` (its fine-tuning defaults: channels-last, BatchNorm frozen, AdamW) on a
    folder of photos vs a plain timm loop (tf_efficientnet_lite0, Adam, train() mode, random
    tensors, channels-last); images/s of the fine-tuning epoch and each process's peak RSS. With
    `--ablation`, what each change gives: the plain loop without channels-last and with cnnlab's
    malloc setting, and ours with only the top five blocks unfrozen (the frozen bottom runs
    without autograd).
 7–10. Where practitioners wait (benchmarks/speed_rows.py): a head on cached features (wall from
    command to exit), `cnnlab predict` on 1,000 photos (images/s, peak RSS), start-up, and the
    Keras book's convnet per epoch on cats_and_dogs_small, each against a plain script.

Throughput is over training batches only (no evaluation). Wall time is everything a loop does
after `import torch`: its own imports, data loading, training, evaluation and (ours) checkpoints.
Accuracy is on the 10,000 MNIST test images.

Every loop runs in a fresh Python process (this script with --worker), so none inherits another's
memory-allocator state or settings: glibc malloc adapts to what a process has freed before, which
alone moved single runs by ±10 %, and cnnlab's training sets malloc to keep freed memory (see
cnnlab.train.allocator), which must not speed up a reference measured after it. Rows 1 and 2 also
print the reference with that same malloc setting, to show how much of the ratio it accounts for.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F

warnings.filterwarnings("ignore", message=".*legacy TorchScript-based ONNX export")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

# Where every row runs: "cpu" here; on a GPU machine `--device cuda` runs the references there
# too (as the tutorials do with .to(device)) and ours with `--precision` (bf16-mixed AMP).
DEVICE = torch.device("cpu")
PRECISION = "32"
LIMIT: int | None = None  # --limit: a quick check that the script runs (numbers not comparable)


def _sync() -> None:
    if DEVICE.type == "cuda":
        torch.cuda.synchronize()


# --- references: the loops the tutorials write -------------------------------------------------

def tutorial_loop(root: str, train_indices: list[int], epochs: int) -> dict:
    """The PyTorch MNIST tutorial: torchvision MNIST + PIL transforms + DataLoader, batch 64,
    CNNModel, CrossEntropy, Adam(1e-3, weight_decay=1e-5)."""
    import torchvision.transforms as T
    from torch.utils.data import DataLoader, Subset
    from torchvision.datasets import MNIST

    from cnnlab.models import build_model

    torch.manual_seed(0)
    tf = T.Compose([T.RandomHorizontalFlip(), T.RandomRotation(10), T.ToTensor(), T.Normalize((0.5,), (0.5,))])
    train = DataLoader(Subset(MNIST(root, train=True, transform=tf), train_indices[:LIMIT]), batch_size=64,
                       shuffle=True)
    test = DataLoader(MNIST(root, train=False, transform=T.Compose([T.ToTensor(), T.Normalize((0.5,), (0.5,))])),
                      batch_size=1000)
    model = build_model("mnist-tutorial").to(DEVICE)  # the tutorial's CNNModel, 220,234 parameters
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=1e-5)
    train_seconds, seen = 0.0, 0
    for _ in range(epochs):
        model.train()
        t = time.perf_counter()
        for x, y in train:
            x, y = x.to(DEVICE), y.to(DEVICE)
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            seen += len(y)
        _sync()
        train_seconds += time.perf_counter() - t
    acc = _accuracy(model, ((x, y) for x, y in test))
    return {"images/s": seen / train_seconds, "acc": acc}


def plain_loop(root: str, epochs: int, model_name: str = "keras-mnist", batch_size: int = 64) -> dict:
    """A plain PyTorch loop over in-memory tensors: the fastest thing a tutorial writes by hand."""
    from torchvision.datasets import MNIST

    from cnnlab.models import build_model

    torch.manual_seed(0)
    tr, te = MNIST(root, train=True), MNIST(root, train=False)
    x_train = ((tr.data[:, None].float() / 255 - 0.1307) / 0.3081).to(DEVICE)
    x_test = ((te.data[:, None].float() / 255 - 0.1307) / 0.3081).to(DEVICE)
    y_train, y_test = tr.targets.to(DEVICE), te.targets.to(DEVICE)
    n = int(len(x_train) * 0.9)  # the same 90 % cnnlab trains on (it holds 10 % out for validation)
    n = min(n, LIMIT or n)
    model = build_model(model_name).to(DEVICE)
    opt = torch.optim.RMSprop(model.parameters(), lr=1e-3, alpha=0.9, eps=1e-7)  # Keras' RMSprop
    train_seconds, seen = 0.0, 0
    for _ in range(epochs):
        model.train()
        t = time.perf_counter()
        perm = torch.randperm(n, device=DEVICE)
        for i in range(0, n, batch_size):
            idx = perm[i:i + batch_size]
            opt.zero_grad()
            loss = F.cross_entropy(model(x_train[idx]), y_train[idx])
            loss.backward()
            opt.step()
            seen += len(idx)
        _sync()
        train_seconds += time.perf_counter() - t
    acc = _accuracy(model, ((x_test[i:i + 1000], y_test[i:i + 1000]) for i in range(0, len(x_test), 1000)))
    return {"images/s": seen / train_seconds, "acc": acc}


@torch.inference_mode()
def _accuracy(model, batches) -> float:
    model.eval()
    correct = total = 0
    for x, y in batches:
        x, y = x.to(DEVICE), y.to(DEVICE)
        correct += int((model(x).argmax(1) == y).sum())
        total += len(y)
    return correct / total


# --- row 6: EfficientNet-Lite0 fine-tuning ---------------------------------------------------

LITE0_IMAGES = 400  # 320 train (10 steps of 32), 40 val, 40 test


def lite0_plain_loop(steps: int = 10, channels_last: bool = True, batch_size: int = 32) -> dict:
    """The plain loop of issue 22: timm tf_efficientnet_lite0, 2 classes, Adam, train() mode,
    random tensors at 224, every weight trainable; images/s after one warm-up step."""
    import timm

    torch.manual_seed(0)
    model = timm.create_model("tf_efficientnet_lite0", num_classes=2).to(DEVICE)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(memory_format=fmt).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    x = torch.randn(batch_size, 3, 224, 224, device=DEVICE).to(memory_format=fmt)
    y = torch.randint(0, 2, (batch_size,), device=DEVICE)
    seconds = 0.0
    for step in range(steps + 1):
        t = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()
        opt.step()
        _sync()
        if step:  # the first step allocates everything
            seconds += time.perf_counter() - t
    return {"images/s": steps * batch_size / seconds, "acc": float("nan")}


def lite0_photos(folder: Path, n: int = LITE0_IMAGES) -> Path:
    """A two-class folder of n 256×256 JPEG photos (smooth random colour fields): decoding and
    resizing cost what real photos of that size cost; their content does not matter for speed."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    for i in range(n):
        d = folder / ("a" if i % 2 else "b")
        d.mkdir(parents=True, exist_ok=True)
        small = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
        Image.fromarray(small).resize((256, 256), Image.BICUBIC).save(d / f"{i:04d}.jpg", quality=90)
    return folder


def lite0_ours(folder: str, project: str, unfreeze: str = "all") -> dict:
    """`cnnlab train --data FOLDER --transfer finetune --unfreeze all` with its fine-tuning
    defaults, one head epoch (cached features) then one fine-tuning epoch; its images/s."""
    from cnnlab.train import fit
    from cnnlab.train.folder_default import chosen_defaults

    settings, _ = chosen_defaults({"data": folder, "transfer": "finetune", "unfreeze": unfreeze, "epochs": 2,
                                   "head_epochs": 1, "batch_size": 32, "image_size": (224, 224),
                                   "augment": "none"})  # the plain loop augments nothing
    if DEVICE.type == "cuda":
        settings.update(accelerator="cuda", precision=PRECISION)
    r = fit(project=project, quiet=True, report=False, evaluate_test=False, **settings)
    tuned = r.history[-1]
    return {"images/s": tuned["images_per_s"], "acc": tuned["val_acc"]}


def peak_rss_gb() -> float:
    """This process's peak resident memory (Linux: ru_maxrss is in KiB)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


# --- ours ------------------------------------------------------------------------------------

def ours(root: str, project: str, **settings) -> dict:
    from cnnlab.train import fit

    if DEVICE.type == "cuda":
        settings.update(accelerator="cuda", precision=PRECISION)
    if LIMIT:
        settings["limit"] = LIMIT
    # No report.html: the references write none (the report re-evaluates and draws Grad-CAM).
    settings["report"] = False
    r = fit(data="mnist", data_root=root, project=project, quiet=True, **settings)
    seen = sum(h["images_per_s"] * h["seconds"] for h in r.history)
    seconds = sum(h["seconds"] for h in r.history)
    return {"images/s": seen / seconds, "acc": r.metrics["test_acc"], "model": r.model,
            "batch_size": r.config.batch_size}


# --- FLOPs ------------------------------------------------------------------------------------

def gemm_flops(n: int = 2048, repeats: int = 5) -> float:
    """The device's large-GEMM FLOP/s (float32; on the CPU all torch threads), best of `repeats`."""
    a, b = torch.randn(n, n, device=DEVICE), torch.randn(n, n, device=DEVICE)
    a @ b
    _sync()
    best = 0.0
    for _ in range(repeats):
        t = time.perf_counter()
        a @ b
        _sync()
        best = max(best, 2 * n**3 / (time.perf_counter() - t))
    return best


def training_flops_per_image(model: torch.nn.Module, input_shape: tuple[int, int, int], batch: int = 64) -> float:
    """Forward + backward FLOPs of one training step, per image (torch's FlopCounterMode)."""
    from torch.utils.flop_counter import FlopCounterMode

    x = torch.randn(batch, *input_shape)
    y = torch.randint(0, 10, (batch,))
    model.train()
    with FlopCounterMode(display=False) as counter:
        F.cross_entropy(model(x), y).backward()
    model.zero_grad(set_to_none=True)
    return counter.get_total_flops() / batch


# --- inference ----------------------------------------------------------------------------------

def inference_row(name: str, model: torch.nn.Module, input_shape: tuple[int, int, int], batch: int,
                  batches: int = 20, singles: int = 100) -> list[dict]:
    import onnxruntime as ort

    model.eval()
    x = torch.randn(batch, *input_shape)
    one = x[:1]
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "m.onnx"
        torch.onnx.export(model, (one,), str(path), input_names=["images"], output_names=["logits"],
                          dynamic_axes={"images": {0: "batch"}, "logits": {0: "batch"}}, dynamo=False)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = torch.get_num_threads()
        sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])

        def torch_run(inp):
            with torch.inference_mode():
                return model(inp)

        def ort_run(inp):
            return sess.run(None, {"images": inp.numpy()})[0]

        rows = []
        for engine, run in (("PyTorch", torch_run), ("ONNX Runtime", ort_run)):
            run(x)
            t = time.perf_counter()
            for _ in range(batches):
                run(x)
            throughput = batches * batch / (time.perf_counter() - t)
            lat = []
            for _ in range(singles):
                t = time.perf_counter()
                run(one)
                lat.append((time.perf_counter() - t) * 1e3)
            q = statistics.quantiles(lat, n=20)
            rows.append({"model": name, "engine": engine, "images/s": throughput,
                         "p50 ms": statistics.median(lat), "p95 ms": q[18]})
    return rows


# --- one loop per process -------------------------------------------------------------------

def measure(loop: str, **options) -> dict:
    """Run one loop (`worker`) in a fresh Python process and return its numbers."""
    job = {"loop": loop, "device": str(DEVICE), "precision": PRECISION, "limit": LIMIT, **options}
    proc = subprocess.run([sys.executable, __file__, "--worker", json.dumps(job)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"bench_speed: the {loop} loop failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def side_by_side(jobs: list[dict], repeats: int = 1) -> list[dict]:
    """Run each job `repeats` times, taking turns (A, B, C, A, B, C, ...), and return each job's
    median numbers: a burst of load on a shared machine then hits one round, not one side."""
    runs: list[list[dict]] = [[] for _ in jobs]
    for _ in range(repeats):
        for job, out in zip(jobs, runs):
            out.append(measure(**job))
    return [{**{key: statistics.median(r[key] for r in out) for key in out[0]}, "runs": out} for out in runs]


def paired(a: dict, b: dict, key: str = "images/s") -> float:
    """The median over rounds of a[key] / b[key]: each round ran both, one right after the other."""
    return statistics.median(x[key] / y[key] for x, y in zip(a["runs"], b["runs"]))


def worker(job: dict) -> dict:
    """One loop, in this process: 'tutorial', 'plain' or 'ours' (with cnnlab settings).

    Its wall time is everything after `import torch`: the loop's own imports (torchvision for
    the references; cnnlab, torchvision and Lightning for ours), data loading, training,
    evaluation and, for ours, checkpoints."""
    start = time.perf_counter()
    global DEVICE, PRECISION, LIMIT
    DEVICE, PRECISION, LIMIT = torch.device(job["device"]), job["precision"], job["limit"]
    if job.get("keep_freed_memory"):  # the ablation: a reference with cnnlab's malloc setting
        from cnnlab.train.allocator import keep_freed_memory

        keep_freed_memory()
    if job["loop"] == "tutorial":
        result = tutorial_loop(job["root"], torch.load(job["indices"]).tolist(), job["epochs"])
    elif job["loop"] == "plain":
        result = plain_loop(job["root"], job["epochs"])
    elif job["loop"] == "lite0-plain":
        result = lite0_plain_loop(channels_last=job["channels_last"])
    elif job["loop"] == "lite0-ours":
        result = lite0_ours(job["folder"], job["project"], job["unfreeze"])
    else:
        result = ours(job["root"], job["project"], **job["settings"])
    result["wall"] = time.perf_counter() - start
    result["peak rss GB"] = peak_rss_gb()
    if "model" in result:  # row 4: the trained model's FLOPs per training image
        result["flops/image"] = training_flops_per_image(result.pop("model"), (1, 28, 28), result.pop("batch_size"))
        result["gemm flop/s"] = gemm_flops(repeats=10)  # the peak, in the same process, right after
    return result


# --- the table --------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-root", default=None)
    p.add_argument("--rows", default="1,2,3,4,5,7,8,9,10")
    p.add_argument("--epochs", type=int, default=1, help="epochs for rows 1 and 2")
    p.add_argument("--repeats", type=int, default=1, help="run rows 1-3 this many times, in turns; print medians")
    p.add_argument("--limit", type=int, default=None, help="train on this many images (a quick check only)")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--precision", default="bf16-mixed", help="cnnlab's precision on cuda (Lightning's names)")
    p.add_argument("--ablation", action="store_true", help="row 6: also what channels-last, the malloc setting "
                   "and a frozen bottom give")
    p.add_argument("--worker", default=None, help=argparse.SUPPRESS)  # internal: run one loop, print JSON
    args = p.parse_args(argv)
    if args.repeats < 1:
        p.error(f"--repeats {args.repeats}: expected 1 or more")
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return {}
    from cnnlab.data.sources import resolve_data_root
    from cnnlab.models import build_model
    from cnnlab.train.config import load_config

    global DEVICE, PRECISION, LIMIT
    DEVICE, PRECISION, LIMIT = torch.device(args.device), args.precision, args.limit
    rows = {int(r) for r in args.rows.split(",")}
    root = str(resolve_data_root(args.data_root))
    project = tempfile.mkdtemp(prefix="cnnlab-bench-")
    results: dict = {}
    gpu = f", GPU {torch.cuda.get_device_name()} ({PRECISION} for cnnlab)" if DEVICE.type == "cuda" else ""
    print(f"machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads, "
          f"torch {torch.__version__}{gpu}, {time.strftime('%Y-%m-%d')}"
          + (f"; rows 1-3: medians of {args.repeats} runs, taken in turns" if args.repeats > 1 else ""))
    table, ablation = [], []

    def ours_job(**settings) -> dict:
        return {"loop": "ours", "root": root, "project": project, "settings": settings}

    if 1 in rows:
        # the same 54,000 training images for both: cnnlab's split, handed to the tutorial loop
        indices = str(Path(project) / "train_indices.pt")
        torch.save(torch.tensor(_train_indices(root)), indices)
        tutorial = {"loop": "tutorial", "root": root, "epochs": args.epochs, "indices": indices}
        ref, our, ref_kept = side_by_side([
            tutorial,
            ours_job(model="mnist-tutorial", augment="mnist-tutorial", optimizer="adam", lr=1e-3, weight_decay=1e-5,
                     batch_size=64, epochs=args.epochs, channels_last=True),
            {**tutorial, "keep_freed_memory": True}], args.repeats)
        table.append(("1 tutorial CNN + flip/rotate aug, b64", ref, our))
        ablation.append(("1 tutorial loop", ref, ref_kept, our))
    if 2 in rows or 4 in rows:
        plain = {"loop": "plain", "root": root, "epochs": args.epochs}
        ref, our, ref_kept = side_by_side([
            plain,
            ours_job(model="keras-mnist", optimizer="rmsprop", lr=1e-3, batch_size=64, epochs=args.epochs,
                     channels_last=True),
            {**plain, "keep_freed_memory": True}], args.repeats)
        table.append(("2 keras-mnist RMSprop b64", ref, our))
        ablation.append(("2 plain loop", ref, ref_kept, our))
        results["row2"] = our
    if 3 in rows or 4 in rows:
        keras, fast = side_by_side([
            ours_job(model="keras-mnist", optimizer="rmsprop", lr=1e-3, batch_size=64, epochs=5),
            ours_job(config=None, **_settings(load_config("mnist-fast")))], args.repeats)
        table.append(("3 time to 99.0% (Keras recipe vs mnist-fast)", keras, fast))
        results["row3"] = fast

    if table:
        print(f"\n{'row':<46}{'ref img/s':>10}{'ours img/s':>11}{'ratio':>7}{'ref wall s':>11}{'ours wall s':>12}"
              f"{'ratio':>7}{'ref acc':>9}{'ours acc':>9}")
    for label, ref, our in table:
        print(f"{label:<46}{ref['images/s']:>10,.0f}{our['images/s']:>11,.0f}{paired(our, ref):>6.2f}×"
              f"{ref['wall']:>11.1f}{our['wall']:>12.1f}{paired(ref, our, 'wall'):>6.2f}×"
              f"{ref['acc']:>9.4f}{our['acc']:>9.4f}")
    if args.repeats > 1:
        print("(images/s and wall: medians over the rounds; ratios: the median of each round's ratio)")
        print("images/s ratio in each round: " + "; ".join(
            f"row {label.split()[0]}: " + ", ".join(f"{o['images/s'] / r['images/s']:.2f}×"
                                                    for r, o in zip(ref["runs"], our["runs"]))
            for label, ref, our in table))
    if "row3" in results:
        fast = results["row3"]
        verdict = "reached" if fast["acc"] >= 0.99 else "MISSED"
        print(f"row 3: mnist-fast {verdict} 99.0 % ({fast['acc']:.2%}) in {fast['wall']:.1f} s; the Keras recipe "
              f"took {keras['wall']:.1f} s ({paired(keras, fast, 'wall'):.2f}× longer)")
    if ablation and DEVICE.type == "cpu":
        print("\nthe references with cnnlab's malloc setting (cnnlab.train.allocator), each in its own process:")
        for label, ref, ref_kept, our in ablation:
            print(f"  {label:<18}{ref['images/s']:>8,.0f} → {ref_kept['images/s']:>7,.0f} img/s "
                  f"({paired(ref_kept, ref):.2f}×); ours vs it: {paired(our, ref_kept):.2f}×")

    if 4 in rows:
        # Each training process measured the large-GEMM peak right after training, so a burst of
        # load on the machine hits the numerator and the denominator of one round alike.
        print("\n4 model FLOP utilisation (training FLOP/s over the large-GEMM peak measured in the same process; "
              "medians over rounds)")
        mfu_rows = [("keras-mnist b64 (row 2)", results["row2"])]
        if "row3" in results:
            mfu_rows.append(("mnist-fast (row 3)", results["row3"]))
        for label, runs in mfu_rows:
            per_image = runs["flops/image"]
            achieved = statistics.median(per_image * r["images/s"] for r in runs["runs"])
            mfu = statistics.median(per_image * r["images/s"] / r["gemm flop/s"] for r in runs["runs"])
            print(f"  {label:<28}{per_image / 1e6:6.1f} MFLOP/img  {achieved / 1e9:6.1f} GFLOP/s  "
                  f"peak {runs['gemm flop/s'] / 1e9:6.1f} GFLOP/s  MFU {mfu:5.1%}")

    if 6 in rows:
        lite0_row(project, args.repeats, args.ablation)

    if 5 in rows:
        print("\n5 inference (batch: 64 for keras-mnist, 16 for efficientnet_lite0 at 224)")
        print(f"  {'model':<22}{'engine':<14}{'images/s':>10}{'p50 ms':>9}{'p95 ms':>9}")
        for name, size, batch in (("keras-mnist", (1, 28, 28), 64), ("efficientnet_lite0", (3, 224, 224), 16)):
            for r in inference_row(name, build_model(name, num_classes=10 if name == "keras-mnist" else 1000), size, batch):
                print(f"  {r['model']:<22}{r['engine']:<14}{r['images/s']:>10,.0f}{r['p50 ms']:>9.2f}{r['p95 ms']:>9.2f}")

    if rows & {7, 8, 9, 10}:
        sys.path.insert(0, str(REPO / "benchmarks"))
        from speed_rows import practitioner_rows

        practitioner_rows(rows & {7, 8, 9, 10}, Path(root))
    return results


def lite0_row(project: str, repeats: int, ablation: bool) -> None:
    """Row 6: Lite0 fine-tuning, ours vs the plain timm loop, each in its own process, in turns."""
    folder = str(lite0_photos(Path(project) / "lite0-photos"))
    plain = {"loop": "lite0-plain", "channels_last": True}
    ours_all = {"loop": "lite0-ours", "folder": folder, "project": project, "unfreeze": "all"}
    jobs = [plain, ours_all]
    if ablation:
        jobs += [{**plain, "channels_last": False}, {**plain, "keep_freed_memory": True},
                 {**ours_all, "unfreeze": "5"}]
    measured = side_by_side(jobs, repeats)
    ref, our = measured[:2]
    print("\n6 EfficientNet-Lite0 fine-tuning, b32 at 224 (ours: the fine-tuning epoch of `--transfer finetune "
          "--unfreeze all`, no augmentation; plain: timm loop on random tensors)")
    print(f"  {'loop':<54}{'images/s':>9}{'vs plain':>9}{'peak RSS GB':>12}{'vs plain':>9}")

    def line(label: str, r: dict) -> None:
        print(f"  {label:<54}{r['images/s']:>9.1f}{paired(r, ref):>8.2f}×{r['peak rss GB']:>12.2f}"
              f"{paired(r, ref, 'peak rss GB'):>8.2f}×")

    line("plain timm loop, channels-last, Adam, all unfrozen", ref)
    line("cnnlab, all unfrozen (channels-last, BN frozen, AdamW)", our)
    if ablation:
        line("plain, NCHW (no channels-last)", measured[2])
        line("plain, channels-last + cnnlab's malloc setting", measured[3])
        line("cnnlab, top 5 blocks (frozen bottom without autograd)", measured[4])


def _train_indices(root: str) -> list[int]:
    """Indices (into MNIST's 60,000 training images) of cnnlab's training split, so the tutorial
    loop trains on the same 54,000 images as cnnlab."""
    from cnnlab.data.bundle import stratified_split
    from cnnlab.settings import DataConfig
    from cnnlab.data.sources import load_mnist, resolve_data_root

    cfg = DataConfig(source="mnist", data_root=root)
    raw = load_mnist(resolve_data_root(root))
    tr, _ = stratified_split(raw.train_labels, [1 - cfg.val_fraction, cfg.val_fraction], cfg.seed)
    return tr.tolist()


def _settings(cfg) -> dict:
    d = cfg.to_dict()
    d.pop("data")
    for k in ("name", "project"):
        d.pop(k)
    return d


if __name__ == "__main__":
    main()
