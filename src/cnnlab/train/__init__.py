"""Training: the fit loop, callbacks (early stopping, checkpoints, schedules), run folders,
resume, multi-device training through Lightning Fabric, and the learning-rate finder.

    from cnnlab.train import fit
    result = fit(data="digits", model="mnist-tiny", epochs=5)
    print(result.run_dir, result.metrics["test_acc"])
"""

from cnnlab.train.callbacks import MetricMonitor
from cnnlab.train.checkpoint import LoadedModel, load_checkpoint, load_model, resolve_checkpoint_path, save_checkpoint
from cnnlab.train.config import TrainConfig, config_from_dict, load_config, merge_settings
from cnnlab.train.loop import NonFiniteLossError, TrainResult, fit
from cnnlab.train.lr_find import LRFindResult, lr_find
from cnnlab.train.runs import new_run_dir, read_history

__all__ = [
    "MetricMonitor", "LoadedModel", "load_checkpoint", "load_model", "resolve_checkpoint_path", "save_checkpoint",
    "TrainConfig", "config_from_dict", "load_config", "merge_settings", "NonFiniteLossError", "TrainResult", "fit",
    "LRFindResult", "lr_find", "new_run_dir", "read_history",
]
