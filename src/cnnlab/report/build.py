"""`build_report(run)`: one self-contained HTML file describing a run, written to runs/NAME/report.html.

Everything is inside the file (images as base64 data URIs, CSS inline, no scripts or fonts), so it
opens offline in any browser and can be mailed or archived alone.
"""

from __future__ import annotations

import datetime
import warnings
from pathlib import Path

import jinja2

from cnnlab.atomic import atomic_write_text
from cnnlab.data.images import ImageLoadError
from cnnlab.errors import DataError
from cnnlab.report import sections

REPORT_NAME = "report.html"
GRID_IMAGES = 24  # the prediction grid: three rows of eight
GRADCAM_IMAGES = 4


def build_report(run: str | Path, out: str | Path | None = None) -> Path:
    """Write the HTML report of a run folder (default `runs/NAME/report.html`); returns its path.

    Sections: config, model summary (trainable vs frozen), training curves and per-epoch table,
    final metrics with the per-class table, confusion matrix, a grid of test predictions, the
    top-loss gallery, and Grad-CAM overlays and feature maps for a few test images. Evaluation
    comes from runs/NAME/evaluation/ (made by `cnnlab.evaluate.evaluate` when missing).
    """
    from cnnlab.train import load_model
    from cnnlab.train.checkpoint import resolve_checkpoint_path

    run_dir = Path(run)
    if not run_dir.is_dir():  # a checkpoint file: its folder is the run
        run_dir = resolve_checkpoint_path(run_dir).parent
    loaded = load_model(run_dir)
    context = {
        "run_name": run_dir.name,
        "run_dir": str(run_dir),
        "generated": datetime.datetime.now().strftime("%Y-%m-%d %H:%M"),
        "architecture": loaded.architecture.get("name", "model"),
        "class_names": loaded.class_names,
        "train_metrics": sections.read_json(run_dir / "metrics.json"),
        "config_text": (run_dir / "config.yaml").read_text() if (run_dir / "config.yaml").is_file() else "",
        "model": sections.model_section(loaded),
        "training": sections.training_section(run_dir),
        "evaluation": sections.evaluation_section(run_dir),
    }
    try:
        data = sections.load_run_data(loaded)
        images, labels = sections.sample_test_images(data, loaded, GRID_IMAGES)
    except (DataError, ImageLoadError) as e:  # the data lives on another machine: say so, keep the rest
        context["data_note"] = f"test images unavailable here: {e}"
        context["predictions"] = None
        context["explain"] = {"note": context["data_note"], "gradcam": [], "featuremaps": []}
    else:
        context["data_note"] = None
        context["predictions"] = sections.predictions_section(loaded, images, labels)
        context["explain"] = sections.explain_section(loaded, images, GRADCAM_IMAGES)
    html = render(context)
    path = Path(out) if out is not None else run_dir / REPORT_NAME
    return atomic_write_text(path, html)


def render(context: dict) -> str:
    """The report template filled in (autoescaped: run names and class names are user text)."""
    env = jinja2.Environment(loader=jinja2.PackageLoader("cnnlab.report", "templates"),
                             autoescape=jinja2.select_autoescape(["html", "j2"]),
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["num"] = format_number
    return env.get_template("report.html.j2").render(**context)


def format_number(value, digits: int = 4) -> str:
    """Integers with thousands separators, floats to `digits` significant places, text as is."""
    if isinstance(value, bool) or value is None:
        return "" if value is None else str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 10_000 else f"{value:.{digits}g}"
    try:
        return format_number(float(value), digits) if "." in str(value) else format_number(int(value), digits)
    except (TypeError, ValueError):
        return str(value)


def write_run_report(run_dir: str | Path) -> Path | None:
    """The training loop's hook: write report.html for a finished run; never fails the run.

    Returns the report's path, or None (with a warning naming the cause) when it could not be
    built, so a missing optional piece never turns a finished training run into an error.
    """
    try:
        return build_report(run_dir)
    except Exception as e:  # noqa: BLE001 - the run itself succeeded; the report is extra
        warnings.warn(f"{run_dir}: report.html not written ({type(e).__name__}: {e}); "
                      f"rebuild it with: cnnlab report {run_dir}", RuntimeWarning, stacklevel=2)
        return None
