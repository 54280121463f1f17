"""The HTML report of a run: one self-contained file with config, model, curves, metrics,
confusion matrix, predictions, top losses, Grad-CAM and feature maps.

    from cnnlab.report import build_report
    build_report("runs/exp")            # → runs/exp/report.html
"""

from __future__ import annotations

__all__ = ["build_report"]


def __getattr__(name: str):
    # Imported on first use: `cnnlab --help` registers `cnnlab report` without loading torch.
    if name == "build_report":
        from cnnlab.report.build import build_report

        return build_report
    raise AttributeError(f"module 'cnnlab.report' has no attribute {name!r}")
