"""Training: the fit loop, callbacks (early stopping, checkpoints, schedules), resume,
multi-device training through Lightning Fabric, and the learning-rate finder. `fit` stops at the
run folder; evaluation and the report come after it (`cnnlab.pipeline`).

    from cnnlab.train import fit, load_model
    result = fit(data="digits", model="mnist-tiny", epochs=5)
    print(result.run_dir, result.metrics["test_acc"])
    loaded = load_model(result.run_dir)                 # a checkpoint alone can predict

The rest is importable from its module: `loop` (TrainResult, NonFiniteLossError), `config`
(TrainConfig, load_config, merge_settings), `lr_find` (lr_find, LRFindResult), `callbacks`,
`optim`, `losses`; checkpoints and run files are `cnnlab.run`'s (`cnnlab.run.checkpoint`:
load_checkpoint, save_checkpoint, LoadedModel; `cnnlab.run.history`: read_history).
"""

from cnnlab.run.checkpoint import load_model
from cnnlab.train.loop import fit
from cnnlab.train.lr_find import lr_find

__all__ = ["fit", "load_model", "lr_find"]
