"""The run folder: the contract every verb after training shares.

`fit` writes a run folder (`cnnlab.run.writer`); evaluate, predict, export, explain, the report
and the web app open it as a `Run` and ask it for the model, the data settings training resolved,
and the paths to write into. The file names live in `cnnlab.run.files`, and nowhere else.

    from cnnlab.run import Run
    run = Run.open("runs/exp")
    run.model().class_names, run.data().test, run.metrics()["test_acc"]

The rest is importable from its module: `checkpoint` (LoadedModel, load_model, load_checkpoint,
save_checkpoint), `files` (the names, new_run_dir, resolve_checkpoint_path), `history`
(read_history, plot_curves), `data_settings` (resolve_data_config), `writer` (RunWriter).
"""

from cnnlab.run.folder import Run, as_run

__all__ = ["Run", "as_run"]
