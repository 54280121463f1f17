"""--balance sampler|loss on an imbalanced made-up folder (issue 18 item 4)."""

import pytest
import torch
from image_files import make_class_folder

from cnnlab.data import load_data
from cnnlab.errors import ConfigError
from cnnlab.train import fit
from cnnlab.train.loop import _class_weights
from cnnlab.train.config import TrainConfig


@pytest.fixture(scope="module")
def imbalanced(tmp_path_factory):
    """60 cats and 6 coffee cups (dark and bright blobs): one class ten times the other."""
    root = tmp_path_factory.mktemp("imbalanced") / "photos"
    make_class_folder(root, classes=("cat",), per_class=60, size=12)
    make_class_folder(root, classes=("coffee",), per_class=6, size=12)
    return root


def drawn_share_of_small_class(loader, epochs=6):
    labels = []
    for epoch in range(epochs):
        loader.set_epoch(epoch)
        labels += [y for _, y in loader]
    labels = torch.cat(labels)
    return float((labels == 1).float().mean()), len(labels)


def test_sampler_draws_each_class_equally_often_and_keeps_the_epoch_length(imbalanced):
    data = load_data(imbalanced, split=(0.8, 0.1, 0.1))
    assert data.class_counts("train") == [48, 4]
    plain, n_plain = drawn_share_of_small_class(data.loader("train", 8, seed=0))
    balanced, n_balanced = drawn_share_of_small_class(data.loader("train", 8, seed=0, balance=True))
    assert n_plain == n_balanced == 6 * 52
    assert abs(plain - 4 / 52) < 1e-6
    assert 0.4 < balanced < 0.6
    again, _ = drawn_share_of_small_class(data.loader("train", 8, seed=0, balance=True))
    assert again == balanced  # seeded per epoch: a resumed run draws the same
    val = [y for _, y in data.loader("val", 8)]
    assert torch.cat(val).tolist() == data.val.labels.tolist()  # evaluation is never resampled


def test_loss_balance_weights_classes_by_inverse_frequency(imbalanced):
    data = load_data(imbalanced, split=(0.8, 0.1, 0.1))
    weights = _class_weights(TrainConfig(data=str(imbalanced), balance="loss"), data)
    assert torch.allclose(weights, torch.tensor([52 / (2 * 48), 52 / (2 * 4)]))
    assert _class_weights(TrainConfig(data=str(imbalanced)), data) is None
    with pytest.raises(ConfigError, match="give one of them"):
        TrainConfig(balance="loss", class_weights=[1.0, 2.0])
    with pytest.raises(ConfigError, match="balance: 'sampler' cannot be used with transfer 'extract-cached'"):
        TrainConfig(balance="sampler", transfer="extract-cached")
    with pytest.raises(ConfigError, match="balance"):
        TrainConfig(balance="oversample")


@pytest.mark.parametrize("mode", ["sampler", "loss"])
def test_fit_with_balance_trains_and_says_so(imbalanced, tmp_path, capsys, mode):
    r = fit(data=str(imbalanced), balance=mode, epochs=2, batch_size=8, project=tmp_path, report=False)
    out = capsys.readouterr().out
    assert "balancing: " + ("each class drawn equally often" if mode == "sampler" else "loss weighted") in out
    assert r.config.balance == mode and all(torch.isfinite(torch.tensor(h["train_loss"])) for h in r.history)
