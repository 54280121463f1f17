"""Issue 19 item 15: `cnnlab report` on a run with a garbled history.csv or a truncated
metrics.json exits 2 with one line naming the file (it once gave a traceback)."""

from __future__ import annotations

import shutil

import pytest

from cnnlab.errors import CheckpointError
from cnnlab.run import Run
from cnnlab.train import fit
from reliability.matrix import run_cli_inprocess


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return fit(data="digits", model="mnist-tiny", epochs=1, limit=100, project=tmp_path_factory.mktemp("runs"),
               name="r", quiet=True, report=False, evaluate_test=False).run_dir


DAMAGE = {
    "history.csv": [b"epoch,train_loss\n1,abc\n", b"epoch,train_loss\n1,0.5,7,8\n", b"epoch\n\xff\xfe\n"],
    "metrics.json": [b'{"test_acc": 0.9', b"[1, 2]", b"[" * 100_000, b"9" * 5000],
}


@pytest.mark.parametrize("name,content", [(n, c) for n, cs in DAMAGE.items() for c in cs])
def test_report_on_damaged_run_file_exits_2_naming_it(run_dir, tmp_path, name, content):
    run = shutil.copytree(run_dir, tmp_path / "r")
    (run / name).write_bytes(content)
    code, err = run_cli_inprocess(["report", str(run)])
    assert code == 2 and name in err and "Traceback" not in err, err
    with pytest.raises(CheckpointError, match=name):
        Run.open(run).history() if name == "history.csv" else Run.open(run).metrics()


def test_intact_files_read_back(run_dir):
    run = Run.open(run_dir)
    assert run.history()[0]["epoch"] == 1 and run.metrics()["status"] == "finished"
