"""--mixup / --cutmix: torchvision v2 MixUp and CutMix on batches, soft targets in the loss (issue 18 item 4)."""

import pytest
import torch
from image_files import make_class_folder

from cnnlab.data import load_data
from cnnlab.data.mixing import BatchMixer
from cnnlab.errors import ConfigError
from cnnlab.train import fit

QUICK = dict(data="digits", model="mnist-tiny", limit=200, batch_size=32, quiet=True, report=False)


@pytest.fixture(scope="module")
def batch():
    x, y = next(iter(load_data("digits", limit=64).loader("train", 32, shuffle=True, seed=2)))
    return x, y


def test_mixup_mixes_images_and_labels_in_the_same_proportion(batch):
    x, y = batch
    torch.manual_seed(0)
    xm, soft = BatchMixer(10, mixup=0.4)(x, y)
    assert xm.shape == x.shape and soft.shape == (32, 10) and soft.dtype.is_floating_point
    assert torch.allclose(soft.sum(1), torch.ones(32)) and (soft >= 0).all()
    assert ((soft > 0).sum(1) == 2).any()  # soft: some rows hold two classes
    partner = x.roll(1, 0)  # torchvision mixes each image with the previous one of the batch
    for i in range(32):
        if y[i] != y[i - 1]:
            lam = soft[i, y[i]]
            assert torch.allclose(xm[i], lam * x[i] + (1 - lam) * partner[i], atol=1e-5)
            assert torch.isclose(soft[i, y[i - 1]], 1 - lam)


def test_cutmix_pastes_a_box_and_weights_labels_by_its_area(batch):
    x, y = batch
    torch.manual_seed(1)
    xm, soft = BatchMixer(10, cutmix=1.0)(x, y)
    assert xm.shape == x.shape and torch.allclose(soft.sum(1), torch.ones(32))
    pasted = (xm != x).any(1)  # pixels taken from the partner image
    assert pasted.any()
    own_share = 1 - pasted.flatten(1).float().mean(1)
    for i in range(32):
        if y[i] != y[i - 1] and not torch.equal(x[i], x[i - 1]):
            # at most the box's area changed (some pasted pixels may equal the originals)
            assert soft[i, y[i]] <= own_share[i] + 1e-6


def test_both_pick_one_per_batch_and_bad_alphas_are_refused(batch):
    x, y = batch
    both = BatchMixer(10, mixup=0.2, cutmix=1.0)
    kinds = set()
    for seed in range(12):
        torch.manual_seed(seed)
        xm, _ = both(x, y)
        blended = (x != x.roll(1, 0)) & (xm != x) & (xm != x.roll(1, 0))  # neither image's pixel: MixUp
        kinds.add("mixup" if blended.any() else "cutmix")
    assert kinds == {"mixup", "cutmix"}
    with pytest.raises(ConfigError, match="mixup: -1"):
        BatchMixer(10, mixup=-1)
    with pytest.raises(ConfigError, match="mixup"):
        fit(epochs=1, mixup=-0.5, **QUICK)
    with pytest.raises(ConfigError, match="extract-cached"):
        fit(epochs=1, cutmix=1.0, transfer="extract-cached", **QUICK)


def test_fit_with_mixup_and_cutmix_trains_and_evaluates_with_hard_labels(tmp_path, capsys):
    r = fit(epochs=3, mixup=0.2, cutmix=1.0, project=tmp_path, name="mix", lr=3e-3, **{**QUICK, "quiet": False})
    out = capsys.readouterr().out
    assert "mixing: MixUp α=0.2 or CutMix α=1 per batch" in out
    h = r.history
    assert all(torch.isfinite(torch.tensor([row["train_loss"], row["val_loss"]])).all() for row in h)
    assert h[-1]["val_acc"] > 0.3 and h[-1]["train_loss"] < h[0]["train_loss"]
    assert 0.0 <= r.metrics["test_acc"] <= 1.0  # test and validation: hard labels, as without mixing
    assert r.config.mixup == 0.2 and "cutmix: 1.0" in (r.run_dir / "config.yaml").read_text()


def test_one_logit_models_take_the_mixed_share_of_class_1(tmp_path):
    root = make_class_folder(tmp_path / "pets", per_class=10, size=32)
    r = fit(data=str(root), model="keras-catsdogs", image_size=150, epochs=1, batch_size=8, mixup=0.4,
            project=tmp_path, quiet=True, report=False)
    assert torch.isfinite(torch.tensor(r.history[0]["train_loss"]))


def test_data_preview_shows_mixed_images_with_their_shares(tmp_path, capsys):
    from cnnlab.cli import main
    from cnnlab.data.preview import mixed_title

    assert mixed_title(torch.tensor([0.0, 0.25, 0.0, 0.75]), ["a", "b", "c", "d"]) == "d 75% + b 25%"
    for extra in (["--mixup", "0.4"], ["--cutmix", "1.0", "--augmented", "--augment", "trivialaugment"]):
        out = tmp_path / f"p{len(extra)}.png"
        with pytest.raises(SystemExit) as e:
            main(["data", "preview", "--data", "digits", "--n", "8", "--out", str(out), *extra])
        assert e.value.code == 0, capsys.readouterr().err
        assert out.stat().st_size > 5000
