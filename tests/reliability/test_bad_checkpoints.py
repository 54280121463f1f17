"""Issue 19 items 4 (checkpoint bombs), 11 (malformed checkpoints) and 16 (NaN/inf weights):
each file is refused on load with a CheckpointError naming it (the CLI's exit 2), never a
traceback, an allocator error or a model that predicts NaN."""

from __future__ import annotations

import copy
import os

import pytest
import torch

from cnnlab.errors import CheckpointError
from cnnlab.run.checkpoint import load_model, save_checkpoint
from reliability.matrix import run_cli_inprocess


@pytest.fixture(scope="module")
def good_state(tmp_path_factory):
    from cnnlab.train import fit

    run = fit(data="digits", model="mnist-tiny", epochs=1, limit=100, project=tmp_path_factory.mktemp("runs"),
              name="good", quiet=True, report=False, evaluate_test=False).run_dir
    return torch.load(run / "best.pt", weights_only=True)


def _bomb(levels: int):
    x = [1]
    for _ in range(levels):
        x = [x, x]  # pickled once per level (the memo shares them): 2**levels values as a tree
    return x


def _selfref():
    x = []
    x.append(x)
    return x


def _timm(s):
    s["architecture"] = {"name": "timm:resnet18", "num_classes": 10, "in_channels": 1, "input_size": [28, 28],
                         "kwargs": {"checkpoint_path": "/etc/passwd"}}


def _nan(s):
    s["model"][next(iter(s["model"]))].fill_(float("nan"))


def _inf(s):
    s["model"][list(s["model"])[-1]][0] = float("inf")


MUTATIONS = {
    "preprocessing {}": (lambda s: s.__setitem__("preprocessing", {}), "preprocessing"),
    "preprocessing 'x'": (lambda s: s.__setitem__("preprocessing", "x"), "preprocessing"),
    "huge num_classes": (lambda s: s["architecture"].__setitem__("num_classes", 10**12), "num_classes"),
    "huge input_size": (lambda s: (s["architecture"].__setitem__("input_size", [10**6, 10**6]),
                                   s["preprocessing"].__setitem__("input_size", [10**6, 10**6])), "input_size"),
    "alias bomb in kwargs (shallow, wide)": (lambda s: s["architecture"].__setitem__("kwargs", {"x": _bomb(24)}),
                                            "expands"),
    "deep kwargs": (lambda s: s["architecture"].__setitem__("kwargs", {"x": _bomb(40)}), "nested"),
    "recursive kwargs": (lambda s: s["architecture"].__setitem__("kwargs", {"x": _selfref()}), "itself"),
    "timm checkpoint_path=/etc/passwd": (_timm, "checkpoint_path"),
    "script in a class name": (lambda s: s.__setitem__("class_names", ["</script>" * 30] + s["class_names"][1:]),
                               "class_names[0]"),
    "class names not a list": (lambda s: s.__setitem__("class_names", 5), "class_names"),
    "weights not tensors": (lambda s: s.__setitem__("model", [1]), "model"),
    "NaN weights": (_nan, "NaN"),
    "inf weights": (_inf, "NaN or infinite"),
}


@pytest.mark.parametrize("name", list(MUTATIONS))
def test_malformed_checkpoint_is_refused(tmp_path, good_state, name):
    mutate, must = MUTATIONS[name]
    state = copy.deepcopy(good_state)
    mutate(state)
    torch.save(state, tmp_path / "best.pt")
    with pytest.raises(CheckpointError) as e:
        load_model(tmp_path)
    assert "best.pt" in str(e.value) and must in str(e.value), e.value


def test_zero_byte_and_foreign_files_are_refused(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "best.pt").write_bytes(b"")
    (tmp_path / "passwd").mkdir()
    (tmp_path / "passwd" / "best.pt").symlink_to("/etc/passwd")
    for run in ("empty", "passwd"):
        with pytest.raises(CheckpointError, match="not a readable checkpoint"):
            load_model(tmp_path / run)


def test_fifo_checkpoint_is_refused_without_hanging(tmp_path):
    os.mkfifo(tmp_path / "x.pt")
    with pytest.raises(CheckpointError, match="not a regular file"):
        load_model(tmp_path / "x.pt")


def test_nan_weights_predict_exits_2(tmp_path, good_state):
    from PIL import Image

    state = copy.deepcopy(good_state)
    _nan(state)
    save_checkpoint(state, tmp_path / "run" / "best.pt")
    Image.new("L", (28, 28)).save(tmp_path / "x.png")
    code, err = run_cli_inprocess(["predict", str(tmp_path / "run"), str(tmp_path / "x.png")])
    assert code == 2 and "NaN" in err, err


def test_a_good_checkpoint_still_loads(tmp_path, good_state):
    torch.save(good_state, tmp_path / "best.pt")
    assert load_model(tmp_path).class_names == [str(i) for i in range(10)]
