"""Issue 19 item 12: malformed ONNX exports and sidecars are refused with one line naming the
file (CheckpointError, the CLI's exit 2), never an IndexError, a silent acceptance or a crash."""

from __future__ import annotations

import json
import shutil

import onnx
import pytest
from onnx import TensorProto, helper

from cnnlab.errors import CheckpointError
from cnnlab.evaluate import export
from cnnlab.evaluate.onnx_model import load_onnx, sidecar_path
from cnnlab.train import fit


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    run = fit(data="digits", model="mnist-tiny", epochs=1, limit=100, project=tmp_path_factory.mktemp("runs"),
              name="r", quiet=True, report=False, evaluate_test=False).run_dir
    return export(run, format="onnx", out=tmp_path_factory.mktemp("export") / "m.onnx").path


def _with_sidecar(exported, tmp_path, edit):
    model = shutil.copy(exported, tmp_path / "m.onnx")
    meta = json.loads(sidecar_path(exported).read_text())
    text = edit(meta)
    sidecar_path(model).write_text(text if isinstance(text, str) else json.dumps(meta))
    return model


SIDECARS = {
    "3 names for 10 outputs": (lambda m: m.__setitem__("class_names", ["a", "b", "c"]), "3 class names"),
    "50 names for 10 outputs": (lambda m: m.__setitem__("class_names", [f"c{i}" for i in range(50)]), "50 class"),
    "channel mismatch": (lambda m: m["preprocessing"].update(channels=3, mean=[0.5] * 3, std=[0.5] * 3), "input"),
    "deeply nested JSON": (lambda m: '{"class_names": ' + "[" * 100_000 + "]" * 100_000 + "}", "nested"),
    "huge input_size": (lambda m: m["preprocessing"].__setitem__("input_size", [10**6, 10**6]), "input_size"),
    "NaN mean": (lambda m: m["preprocessing"].__setitem__("mean", [float("nan")]), "mean"),
    "not JSON": (lambda m: "{", "JSON"),
}


@pytest.mark.parametrize("name", list(SIDECARS))
def test_malformed_sidecar_is_refused(exported, tmp_path, name):
    edit, must = SIDECARS[name]
    model = _with_sidecar(exported, tmp_path, edit)
    with pytest.raises(CheckpointError) as e:
        load_onnx(model)
    assert must in str(e.value) and "m.onnx" in str(e.value), e.value


def test_huge_constant_of_shape_is_refused(exported, tmp_path):
    # input X (1×1×28×28) → output = ConstantOfShape([10**12]): allocating it must fail cleanly
    shape = helper.make_tensor("shape", TensorProto.INT64, [1], [10**12])
    graph = helper.make_graph(
        [helper.make_node("Constant", [], ["s"], value=shape), helper.make_node("ConstantOfShape", ["s"], ["y"]),
         helper.make_node("Identity", ["x"], ["unused"])],
        "bomb", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 1, 28, 28])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None]),
         helper.make_tensor_value_info("unused", TensorProto.FLOAT, ["n", 1, 28, 28])])
    model = tmp_path / "m.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), model)
    shutil.copy(sidecar_path(exported), sidecar_path(model))
    with pytest.raises(CheckpointError, match="m.onnx"):
        load_onnx(model)


def test_intact_export_still_loads(exported):
    assert len(load_onnx(exported).class_names) == 10
