import shutil

import pytest
import torch
from image_files import exif_rotated_jpeg, make_class_folder, write_bad_images

from cnnlab.data import load_data
from cnnlab.data.folders import scan_folder
from cnnlab.errors import DataError


def test_class_folder_is_split_by_ratio(tmp_path):
    make_class_folder(tmp_path / "pets", per_class=20)
    d = load_data(tmp_path / "pets", split=(0.6, 0.2, 0.2))
    assert d.class_names == ["cats", "dogs"]
    assert (d.channels, d.input_size) == (3, (16, 16))
    assert d.class_counts("train") == [12, 12] and d.class_counts("test") == [4, 4]
    assert d.train.in_memory


def test_presplit_folder_with_validation_name(tmp_path):
    for split, n in (("train", 8), ("validation", 3), ("test", 3)):
        make_class_folder(tmp_path / "pets" / split, per_class=n)
    d = load_data(tmp_path / "pets")
    assert (len(d.train), len(d.val), len(d.test)) == (16, 6, 6)


def test_presplit_without_val_carves_it_from_train(tmp_path):
    make_class_folder(tmp_path / "pets" / "train", per_class=10)
    d = load_data(tmp_path / "pets", val_fraction=0.2)
    assert (len(d.train), len(d.val), d.test) == (16, 4, None)
    with pytest.raises(DataError, match="no 'test' split"):
        d.split("test")


def test_bad_files_are_listed_and_skipped_and_odd_modes_converted(tmp_path):
    root = make_class_folder(tmp_path / "pets", per_class=10)
    expected = write_bad_images(root / "cats")
    d = load_data(root, split=(0.8, 0.1, 0.1), image_size=16)
    skipped = {p.split("/")[-1]: r for p, r in ((s.path, s.reason) for s in d.skipped)}
    should_skip = {n for n, outcome in expected.items() if outcome == "skip"}
    assert set(skipped) == should_skip
    assert "0 bytes" in skipped["zero.png"] and "decompression bomb" in skipped["bomb.png"]
    assert "truncated" in skipped["truncated.png"] and "not an image file" in skipped["notes.txt"]
    loaded = sum(n for n in (len(d.train), len(d.val), len(d.test)))
    assert loaded == 20 + sum(1 for o in expected.values() if o == "load")


def test_exif_rotation_and_16_bit_grey_keep_their_look(tmp_path):
    """Odd modes do not just load, they look right: a 20 wide × 10 high JPEG whose EXIF says
    "rotate 90°" loads 10 wide × 20 high with its white half on top, and 16-bit grey keeps its
    brightness (scaled from 0–65535, not clipped at 255)."""
    import numpy as np
    from PIL import Image

    root = tmp_path / "odd"
    for c in ("a", "b"):
        (root / c).mkdir(parents=True)
        for i in range(3):
            (root / c / f"exif{i}.jpg").write_bytes(exif_rotated_jpeg())
    d = load_data(root, split=(0.5, 0.5, 0.0))
    assert d.input_size == (20, 10)  # H × W: the EXIF rotation was applied
    img = d.train.images[0].float().mean(0)  # 20 × 10
    assert img[:9].mean() > 200 and img[11:].mean() < 55  # the left half (white) became the top

    grey = tmp_path / "grey"
    levels = {"quarter": 16384, "half": 32768, "three-quarters": 49152}
    for c, v in levels.items():
        (grey / c).mkdir(parents=True)
        for i in range(3):
            Image.fromarray(np.full((8, 8), v + 100 * i, np.uint16)).save(grey / c / f"{i}.png")
    assert Image.open(grey / "half" / "0.png").mode.startswith("I")  # really 16-bit on disk
    g = load_data(grey, split=(0.5, 0.5, 0.0))
    assert g.channels == 1
    images = torch.cat([g.train.images, g.val.images])
    labels = torch.cat([g.train.labels, g.val.labels])
    assert len(images) == 9
    for c, v in levels.items():
        expected = np.array([(v + 100 * i) / 65535 * 255 for i in range(3)])  # 64, 128, 192 and a little
        for m in images[labels == g.class_names.index(c)].float().mean(dim=(1, 2, 3)).numpy():
            assert np.abs(expected - m).min() <= 1.0, (c, m, expected)


def test_streaming_gives_the_same_batches_as_memory(tmp_path):
    root = make_class_folder(tmp_path / "pets", per_class=10, size=12)
    mem = load_data(root, in_memory=True)
    disk = load_data(root, in_memory=False)
    assert not disk.train.in_memory
    assert mem.preprocessing == disk.preprocessing
    for a, b in zip(mem.loader("train", 4), disk.loader("train", 4, num_workers=2)):
        assert torch.equal(a[1], b[1]) and torch.allclose(a[0], b[0])


def test_grey_folder_stays_grey(tmp_path):
    make_class_folder(tmp_path / "g", per_class=6, channels=1)
    assert load_data(tmp_path / "g").channels == 1


def test_empty_class_folder_is_an_error_before_training(tmp_path):
    root = make_class_folder(tmp_path / "pets", per_class=5)
    (root / "birds").mkdir()
    with pytest.raises(DataError, match=r"birds: 0 images found .*remove the folder or add images"):
        scan_folder(root)


def test_class_of_only_unreadable_files_is_an_error(tmp_path):
    root = make_class_folder(tmp_path / "pets", per_class=5)
    (root / "birds").mkdir()
    (root / "birds" / "a.jpg").write_bytes(b"")
    with pytest.raises(DataError, match=r"birds: 0 images found \(1 file\(s\) skipped"):
        load_data(root)


def test_single_class_is_an_error(tmp_path):
    make_class_folder(tmp_path / "pets", classes=("cats",), per_class=5)
    with pytest.raises(DataError, match="only one class"):
        load_data(tmp_path / "pets")


def test_split_missing_a_class_is_an_error(tmp_path):
    make_class_folder(tmp_path / "pets" / "train", per_class=4)
    make_class_folder(tmp_path / "pets" / "val", classes=("cats",), per_class=2)
    with pytest.raises(DataError, match=r"split 'val' has no folder for class\(es\) \['dogs'\]"):
        load_data(tmp_path / "pets")


def test_missing_folder(tmp_path):
    with pytest.raises(DataError, match="no such folder|not a built-in"):
        scan_folder(tmp_path / "nope")
