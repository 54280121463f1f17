"""`train_and_report`: what `cnnlab train` does — fit, then evaluate, then the report.

    from cnnlab.pipeline import train_and_report
    result = train_and_report(data="digits", model="mnist-tiny", epochs=5)
    print(result.run_dir)                     # evaluation/ and report.html are in it

`fit` stops at the run folder. The evaluation and the report then share one `Run`: the checkpoint
is loaded once and the test split once, and the report shows the evaluation that just ran
instead of computing the test metrics again by another path.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from cnnlab.errors import DataError
from cnnlab.run import Run
from cnnlab.train.config import TrainConfig
from cnnlab.train.loop import TrainResult, fit
from cnnlab.train.progress import TrainLogger

if TYPE_CHECKING:
    from cnnlab.evaluate.evaluation import EvaluationResult


def train_and_report(config: TrainConfig | str | Path | None = None, *, resume: str | Path | None = None,
                     quiet: bool = False, smoke: bool = False, **settings: Any) -> TrainResult:
    """`fit` with the same arguments, then (unless the config says `report: false`) the run's
    evaluation/ and report.html. A failure after training warns and never fails the run."""
    result = fit(config, resume=resume, quiet=quiet, smoke=smoke, **settings)
    if result.config.report and result.rank == 0 and not result.already_finished:
        report = evaluate_and_report(result.run_dir)
        if report is not None:
            TrainLogger(enabled=not quiet).print(f"report: {report}")
    return result


def evaluate_and_report(run: Run | str | Path) -> Path | None:
    """Evaluate a finished run on its test split, then write its report.html from that evaluation.

    Returns the report's path, or None (with a warning naming the cause) when it could not be
    built: the run itself succeeded, and `cnnlab report RUN` rebuilds the report later.
    """
    # Imported here, not at the top: torchmetrics alone takes 3–11 s to import on the 2-core
    # machine, and `cnnlab train --no-report` (or a short run) never evaluates.
    from cnnlab.evaluate.evaluation import evaluate
    from cnnlab.report.build import warn_report_not_written, write_run_report

    evaluation: EvaluationResult | None
    try:
        run = Run.open(run)
        try:
            evaluation = evaluate(run)
        except DataError:  # the run's data is not on this machine: the report says so
            evaluation = None
    except Exception as e:  # noqa: BLE001 - the run itself succeeded; the report is extra
        warn_report_not_written(run, e)
        return None
    return write_run_report(run, evaluation)
