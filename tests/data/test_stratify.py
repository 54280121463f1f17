"""Stratified splits: every class in every split, in proportion; a class too small is named (issue 18 item 3)."""

import pytest
import torch
from image_files import make_class_folder

from cnnlab.cli import main
from cnnlab.data import load_data
from cnnlab.data.split import split_folder
from cnnlab.data.stratify import apportion, stratified_split, stratified_subset
from cnnlab.errors import DataError


def cat_and_coffee(root, cats=40, coffee=8):
    """The issue's folder: 40 + 8 images (the small class was left out of test before)."""
    make_class_folder(root, classes=("cat",), per_class=cats, size=12)
    make_class_folder(root, classes=("coffee",), per_class=coffee, size=12)
    return root


def test_40_8_folder_split_80_10_10_keeps_the_small_class_in_every_split(tmp_path):
    d = load_data(cat_and_coffee(tmp_path / "photos"), split=(0.8, 0.1, 0.1))
    assert d.class_names == ["cat", "coffee"]
    assert d.class_counts("train") == [32, 6]
    assert d.class_counts("val") == [4, 1]
    assert d.class_counts("test") == [4, 1]
    again = load_data(tmp_path / "photos", split=(0.8, 0.1, 0.1))
    assert torch.equal(d.test.labels, again.test.labels)  # a fixed seed, the same split


def test_class_too_small_for_the_split_names_the_class_and_its_count(tmp_path):
    root = cat_and_coffee(tmp_path / "photos", coffee=2)
    with pytest.raises(DataError) as e:
        load_data(root, split=(0.8, 0.1, 0.1))
    msg = str(e.value)
    assert f"{root / 'coffee'}: 2 images" in msg and "needs at least 3 per class" in msg
    assert "cat" not in msg.replace(str(root), "")  # the big class is not blamed


def test_train_refuses_the_too_small_class_with_exit_2_before_training(tmp_path, capsys):
    root = cat_and_coffee(tmp_path / "photos", coffee=2)
    with pytest.raises(SystemExit) as e:
        main(["train", "--data", str(root), "--epochs", "1", "--project", str(tmp_path / "runs")])
    err = capsys.readouterr().err
    assert e.value.code == 2, err
    assert "coffee: 2 images" in err and "Traceback" not in err
    assert not any((tmp_path / "runs").rglob("*.pt"))


def test_validation_carved_from_train_keeps_every_class(tmp_path):
    train = cat_and_coffee(tmp_path / "pets" / "train", cats=30, coffee=3)
    make_class_folder(train.parent / "test", classes=("cat", "coffee"), per_class=2, size=12)
    d = load_data(tmp_path / "pets", val_fraction=0.1)
    assert d.class_counts("val") == [3, 1] and d.class_counts("train") == [27, 2]
    root = cat_and_coffee(tmp_path / "one" / "train", coffee=1).parent
    with pytest.raises(DataError, match=r"coffee: 1 image;.*needs at least 2"):
        load_data(root, val_fraction=0.1)


def test_limit_is_stratified_and_refuses_fewer_images_than_classes(tmp_path):
    d = load_data(cat_and_coffee(tmp_path / "photos"), split=(0.8, 0.1, 0.1), limit=10)
    assert d.class_counts("train") == [8, 2]  # 32:6 of 10 by largest remainders, both classes kept
    assert d.class_counts("test") == [4, 1]  # already under the limit: untouched
    idx = stratified_subset(torch.tensor([0] * 50 + [1] * 2 + [2] * 3), 5, seed=0)
    assert len(idx) == 5 and set(torch.tensor([0] * 50 + [1] * 2 + [2] * 3)[idx].tolist()) == {0, 1, 2}
    with pytest.raises(DataError, match="limit.*2 images cannot hold the 3 classes"):
        stratified_subset(torch.tensor([0, 0, 1, 1, 2, 2]), 2, seed=0)


def test_apportion_is_proportional_with_minimums():
    assert apportion(40, [0.8, 0.1, 0.1], [1, 1, 1]) == [32, 4, 4]
    assert apportion(8, [0.8, 0.1, 0.1], [1, 1, 1]) == [6, 1, 1]
    assert apportion(3, [0.8, 0.1, 0.1], [1, 1, 1]) == [1, 1, 1]
    assert apportion(10, [0.7, 0.3, 0.0], [1, 1, 0]) == [7, 3, 0]
    for n in range(3, 60):
        counts = apportion(n, [0.8, 0.1, 0.1], [1, 1, 1])
        assert sum(counts) == n and min(counts) >= 1 and abs(counts[0] - 0.8 * n) < 2


def test_stratified_split_parts_are_disjoint_and_cover_the_pool():
    labels = torch.tensor([0] * 40 + [1] * 8 + [2] * 5)
    parts = stratified_split(labels, [0.8, 0.1, 0.1], seed=3)
    together = torch.cat(parts).sort().values
    assert torch.equal(together, torch.arange(len(labels)))
    for p in parts:
        assert set(labels[p].tolist()) == {0, 1, 2}


def test_data_split_by_ratio_keeps_every_class_and_refuses_a_small_one(tmp_path, capsys):
    src = cat_and_coffee(tmp_path / "big")
    counts = split_folder(src, tmp_path / "small", ratio=(0.8, 0.1, 0.1), seed=1)
    assert counts == {"train": {"cat": 32, "coffee": 6}, "validation": {"cat": 4, "coffee": 1},
                      "test": {"cat": 4, "coffee": 1}}
    d = load_data(tmp_path / "small")
    assert d.class_counts("test") == [4, 1]
    with pytest.raises(SystemExit) as e:
        main(["data", "split", str(src), str(tmp_path / "cli"), "--ratio", "0.8,0.1,0.1"])
    assert e.value.code == 0 and len(list((tmp_path / "cli" / "test" / "coffee").iterdir())) == 1
    tiny = cat_and_coffee(tmp_path / "tiny", coffee=2)
    with pytest.raises(SystemExit) as e:
        main(["data", "split", str(tiny), str(tmp_path / "no"), "--ratio", "0.8,0.1,0.1"])
    err = capsys.readouterr().err
    assert e.value.code == 2 and "coffee: 2 images" in err
    assert not (tmp_path / "no").exists()
    with pytest.raises(SystemExit) as e:
        main(["data", "split", str(src), str(tmp_path / "both"), "--ratio", "0.8,0.1,0.1", "--per-class", "2,1,1"])
    assert e.value.code == 2 and "give one of them" in capsys.readouterr().err
