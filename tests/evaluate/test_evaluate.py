"""evaluate(): numbers checked against a confusion matrix computed by hand from the model's own
outputs, the files it writes, and evaluation on other data."""

from __future__ import annotations

import csv
import dataclasses
import json

import numpy as np
import pytest
import torch
from PIL import Image

from cnnlab.data import load_data
from cnnlab.errors import DataError
from cnnlab.evaluate import evaluate
from cnnlab.train import load_model


def hand_confusion(run):
    """The test split's confusion matrix straight from the model's logits, no cnnlab.evaluate."""
    loaded = load_model(run)
    data = load_data("digits", image_size=(28, 28))  # the run trained on digits at the preset's 28×28
    with torch.no_grad():
        logits = loaded.model(loaded.preprocessing.normalize(data.test.images))
    y = data.test.labels.numpy()
    pred = logits.argmax(1).numpy()
    cm = np.zeros((10, 10), np.int64)
    np.add.at(cm, (y, pred), 1)
    loss = torch.nn.functional.cross_entropy(logits, data.test.labels).item()
    return cm, loss


def test_metrics_agree_with_a_hand_computed_confusion_matrix(digit_run, tmp_path):
    r = evaluate(digit_run, out=tmp_path / "ev")
    cm, loss = hand_confusion(digit_run)
    np.testing.assert_array_equal(r.confusion, cm)
    assert r.accuracy == pytest.approx(np.trace(cm) / cm.sum(), abs=1e-6)
    assert r.loss == pytest.approx(loss, rel=1e-4)
    tp = np.diag(cm)
    precision = np.divide(tp, cm.sum(0), out=np.zeros(10), where=cm.sum(0) > 0)
    recall = tp / cm.sum(1)
    f1 = np.divide(2 * precision * recall, precision + recall, out=np.zeros(10), where=precision + recall > 0)
    for i, row in enumerate(r.per_class):
        assert row["class"] == str(i) and row["support"] == cm[i].sum()
        assert (row["precision"], row["recall"], row["f1"]) == pytest.approx((precision[i], recall[i], f1[i]), abs=1e-6)
    assert r.macro["f1"] == pytest.approx(f1.mean(), abs=1e-6)
    assert r.weighted["recall"] == pytest.approx((recall * cm.sum(1)).sum() / cm.sum(), abs=1e-6)
    # the most confused pair is the largest off-diagonal cell
    off = cm - np.diag(tp)
    i, j = np.unravel_index(off.argmax(), off.shape)
    assert r.most_confused[0] == (str(i), str(j), off[i, j])
    # top-5 from the probabilities
    top5 = np.argsort(-r.probs, 1)[:, :5]
    assert r.top5 == pytest.approx(np.mean([y in t for y, t in zip(r.labels, top5)]), abs=1e-6)
    # the same numbers as the run's own test evaluation at the end of training
    trained = json.loads((digit_run / "metrics.json").read_text())
    assert r.accuracy == pytest.approx(trained["test_acc"], abs=1e-6)
    assert r.loss == pytest.approx(trained["test_loss"], rel=1e-4)


def test_writes_every_file_and_metrics_json_matches(digit_run, tmp_path):
    r = evaluate(digit_run, out=tmp_path / "ev", top_losses=8)
    for key in ("metrics", "confusion_png", "confusion_csv", "top_losses", "misclassified", "predictions"):
        assert r.files[key].is_file() and r.files[key].stat().st_size > 0, key
    for png in ("confusion_png", "top_losses", "misclassified"):
        assert Image.open(r.files[png]).format == "PNG"
    saved = json.loads(r.files["metrics"].read_text())
    assert saved["accuracy"] == r.accuracy and saved["confusion"] == r.confusion.tolist()
    assert saved == json.loads(json.dumps(r.to_dict()))
    rows = list(csv.reader(r.files["confusion_csv"].open()))
    assert rows[0][1:] == r.class_names and [list(map(int, x[1:])) for x in rows[1:]] == r.confusion.tolist()
    norm = list(csv.reader((tmp_path / "ev" / "confusion_matrix_normalized.csv").open()))
    assert all(abs(sum(map(float, x[1:])) - 1) < 1e-5 for x in norm[1:])
    preds = list(csv.DictReader(r.files["predictions"].open()))
    assert len(preds) == len(r.labels)
    assert sum(int(p["correct"]) for p in preds) == np.trace(r.confusion)
    assert {"index", "true", "predicted", "probability", "loss", "p:0", "p:9"} <= set(preds[0])


def test_default_folder_is_inside_the_run(digit_run):
    r = evaluate(digit_run / "best.pt", top_losses=4)
    assert r.out_dir == digit_run / "evaluation"
    assert (digit_run / "evaluation" / "metrics.json").is_file()


def test_tta_warns_on_digits_and_writes_beside_the_plain_evaluation(digit_run, capsys):
    # Issue 21 item 4: `evaluate runs/digits --tta` flipped digits silently (0.9375 → 0.9261) and
    # overwrote the plain evaluation/ folder.
    import json

    import warnings as w

    plain = evaluate(digit_run, top_losses=2)
    before = (plain.out_dir / "metrics.json").read_text()
    with pytest.warns(UserWarning, match=r"horizontal mirror, but for seed0 its classes are digits"):
        tta = evaluate(digit_run, top_losses=2, tta=True)
    assert tta.out_dir == digit_run / "evaluation-tta" and plain.out_dir == digit_run / "evaluation"
    assert (plain.out_dir / "metrics.json").read_text() == before          # the plain results survive
    assert json.loads((tta.out_dir / "metrics.json").read_text())["accuracy"] == pytest.approx(tta.accuracy)
    with w.catch_warnings():
        w.simplefilter("error")
        evaluate(digit_run, top_losses=2)                                       # no TTA, no warning


def test_other_data_maps_its_classes_onto_the_models(digit_run, tmp_path):
    digits = load_data("digits")
    folder = tmp_path / "sevens_and_threes"
    for cls in ("7", "3"):  # folder order differs from the model's class order
        idx = (digits.train.labels == int(cls)).nonzero().flatten()[:10]
        for k, i in enumerate(idx.tolist()):
            (folder / cls).mkdir(parents=True, exist_ok=True)
            Image.fromarray(digits.train.images[i, 0].numpy()).save(folder / cls / f"{k}.png")
    r = evaluate(digit_run, data=str(folder), split="train", out=tmp_path / "ev")
    support = {row["class"]: row["support"] for row in r.per_class}
    assert support["3"] + support["7"] == len(r.labels) > 0
    assert sum(support.values()) == len(r.labels)
    (folder / "cat").mkdir()
    for k in range(3):
        Image.fromarray(np.zeros((8, 8), np.uint8)).save(folder / "cat" / f"{k}.png")
    with pytest.raises(DataError, match=r"\['cat'\] are not among the model's classes"):
        evaluate(digit_run, data=str(folder), split="train", out=tmp_path / "ev2")


class OneLogit(torch.nn.Module):
    """A one-logit binary classifier (as the Keras book's cats-vs-dogs head): 'bright' when the
    mean normalised pixel is high."""

    binary_output = True

    def __init__(self):
        super().__init__()
        self.scale = torch.nn.Parameter(torch.tensor(4.0))

    def forward(self, x):
        return (x.mean(dim=(1, 2, 3)) * self.scale)[:, None]


def test_binary_one_logit_model(digit_run, tmp_path):
    base = load_model(digit_run)
    loaded = dataclasses.replace(base, model=OneLogit(), class_names=["0", "1"])
    r = evaluate(loaded, classes=["0", "1"], data="digits", out=tmp_path / "bin")
    assert r.probs.shape == (len(r.labels), 2) and r.top5 is None
    np.testing.assert_allclose(r.probs.sum(1), 1, atol=1e-6)
    assert r.confusion.shape == (2, 2) and r.confusion.sum() == len(r.labels)
    assert r.accuracy == pytest.approx(np.mean(r.probs.argmax(1) == r.labels), abs=1e-6)
