"""What a run prints: a rich progress bar per epoch (loss, accuracy, images/s, ETA), one summary
line per epoch, and optional TensorBoard events. Quiet mode prints nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn


class TrainLogger:
    """Progress and epoch lines on rank 0; silent elsewhere or when quiet."""

    def __init__(self, enabled: bool = True, tensorboard_dir: Path | None = None, console: Console | None = None):
        self.enabled = enabled
        self.console = console or Console()
        self.progress: Progress | None = None
        self.task = None
        self.writer = None
        if tensorboard_dir is not None:  # events are written even in quiet mode
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(str(tensorboard_dir))

    def print(self, *args: Any, **kwargs: Any) -> None:
        if self.enabled:
            self.console.print(*args, **kwargs)

    def start_epoch(self, epoch: int, epochs: int, steps: int) -> None:
        if not self.enabled:
            return
        self.progress = Progress(TextColumn(f"epoch {epoch}/{epochs}"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("{task.fields[stats]}"), TimeRemainingColumn(),
                                 console=self.console, transient=True)
        self.progress.start()
        self.task = self.progress.add_task("train", total=steps, stats="")

    def update(self, step: int, loss: float, acc: float, images_per_s: float) -> None:
        if self.progress is not None:
            self.progress.update(self.task, completed=step,
                                 stats=f"loss {loss:.4f} acc {acc:.4f} {images_per_s:,.0f} img/s")

    def end_epoch(self, row: dict[str, Any], improved: bool) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None
        if self.writer is not None:
            for key in ("train_loss", "train_acc", "val_loss", "val_acc", "lr", "images_per_s"):
                if row.get(key) is not None:
                    self.writer.add_scalar(key, row[key], row["epoch"])
            self.writer.flush()
        if self.enabled:
            mark = " [green]*best[/green]" if improved else ""
            self.console.print(
                f"epoch {row['epoch']:>3}  train loss {row['train_loss']:.4f} acc {row['train_acc']:.4f}  "
                f"val loss {row['val_loss']:.4f} acc {row['val_acc']:.4f}  lr {row['lr']:.2e}  "
                f"{row['seconds']:.1f}s {row['images_per_s']:,.0f} img/s{mark}", highlight=False)

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None
        if self.writer is not None:
            self.writer.close()
