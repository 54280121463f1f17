"""`build_report(run)`: one self-contained HTML file describing a run, written into its run folder.

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
from cnnlab.evaluate.evaluation import EvaluationResult
from cnnlab.report import sections
from cnnlab.run import Run, files

GRID_IMAGES = 24  # the prediction grid: three rows of eight
GRADCAM_IMAGES = 4


def build_report(run: Run | str | Path, out: str | Path | None = None, *,
                 evaluation: EvaluationResult | None = None) -> Path:
    """Write the HTML report of a run (default `runs/NAME/report.html`); returns its path.

    Sections: config, model summary (trainable vs frozen), training curves and per-epoch table,
    final metrics with the per-class table, confusion matrix, a grid of test predictions, the
    top-loss gallery, and Grad-CAM overlays and feature maps for a few test images. The
    evaluation is `evaluation` when given (what `evaluate(run)` just returned), else the one in
    runs/NAME/evaluation/ (made by `cnnlab.evaluate.evaluate` when missing). `run` is a `Run`,
    a run folder or a checkpoint file; its model and data are loaded once and shared.
    """
    run = Run.open(run)
    loaded = run.model()
    context = {
        "run_name": run.folder.name if run.folder is not None else run.name,
        "run_dir": str(run.folder),
        "generated": datetime.datetime.now().strftime("%Y-%m-%d %H:%M"),
        "architecture": loaded.architecture.get("name", "model"),
        "class_names": loaded.class_names,
        "train_metrics": run.metrics(),
        "config_text": run.config_text(),
        "config_path": str(run.file(files.CONFIG)),
        "model": sections.model_section(loaded),
        "training": sections.training_section(run),
        "evaluation": sections.evaluation_section(run, evaluation),
    }
    try:
        images, labels = sections.sample_test_images(run.data(), loaded, GRID_IMAGES)
    except (DataError, ImageLoadError) as e:  # the data lives on another machine: say so, keep the rest
        context["data_note"] = f"test images unavailable here: {e}"
        context["predictions"] = None
        context["explain"] = {"note": context["data_note"], "gradcam": [], "featuremaps": []}
    else:
        context["data_note"] = None
        context["predictions"] = sections.predictions_section(loaded, images, labels)
        context["explain"] = sections.explain_section(run, images, GRADCAM_IMAGES)
    html = render(context)
    path = Path(out) if out is not None else run.output_path(files.REPORT)
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


def write_run_report(run: Run | str | Path, evaluation: EvaluationResult | None = None) -> Path | None:
    """`build_report` that never fails: the report's path, or None (with a warning naming the
    cause) when it could not be built, so a missing optional piece never turns a finished
    training run into an error."""
    try:
        return build_report(run, evaluation=evaluation)
    except Exception as e:  # noqa: BLE001 - the run itself succeeded; the report is extra
        warn_report_not_written(run, e)
        return None


def warn_report_not_written(run: Run | str | Path, error: Exception) -> None:
    """The warning for a report that could not be built, naming the cause and how to rebuild it."""
    where = run.folder if isinstance(run, Run) else run
    warnings.warn(f"{where}: report.html not written ({type(error).__name__}: {error}); "
                  f"rebuild it with: cnnlab report {where}", RuntimeWarning, stacklevel=3)
