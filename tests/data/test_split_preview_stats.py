import json

import pytest
from image_files import blob_image, make_class_folder, save_image
from PIL import Image

from cnnlab.cli import main
from cnnlab.data import load_data
from cnnlab.data.augment import resolve_augment
from cnnlab.data.preview import preview_augmented, preview_batch
from cnnlab.data.split import split_folder
from cnnlab.data.stats import data_stats
from cnnlab.errors import DataError


def kaggle_style(folder, n=12):
    for cls in ("cat", "dog"):
        for i in range(n):
            save_image(folder / f"{cls}.{i}.jpg", blob_image(10, i, cls == "dog"))
    return folder


def test_split_by_file_name_prefix(tmp_path):
    src = kaggle_style(tmp_path / "kaggle")
    counts = split_folder(src, tmp_path / "small", per_class=(6, 3, 3), seed=1)
    assert counts == {"train": {"cat": 6, "dog": 6}, "validation": {"cat": 3, "dog": 3}, "test": {"cat": 3, "dog": 3}}
    files = {p.relative_to(tmp_path / "small").parts[:2] for p in (tmp_path / "small").rglob("*.jpg")}
    assert ("validation", "dog") in files
    d = load_data(tmp_path / "small")
    assert (len(d.train), len(d.val), len(d.test)) == (12, 6, 6)


def test_split_is_deterministic_and_disjoint(tmp_path):
    src = make_class_folder(tmp_path / "src", per_class=10)
    split_folder(src, tmp_path / "a", (4, 3, 3), seed=5)
    split_folder(src, tmp_path / "b", (4, 3, 3), seed=5)
    names = lambda root: sorted(str(p.relative_to(root)) for p in root.rglob("*.png"))  # noqa: E731
    assert names(tmp_path / "a") == names(tmp_path / "b")
    train = {p.name for p in (tmp_path / "a" / "train").rglob("*.png")}
    test = {p.name for p in (tmp_path / "a" / "test").rglob("*.png")}
    assert not train & test


def test_split_refuses_non_empty_destination_and_too_few_images(tmp_path):
    src = kaggle_style(tmp_path / "kaggle", n=5)
    (tmp_path / "dst").mkdir()
    (tmp_path / "dst" / "keep.txt").write_text("mine")
    with pytest.raises(DataError, match="not empty"):
        split_folder(src, tmp_path / "dst", (2, 1, 1))
    with pytest.raises(DataError, match="cat has 5.*need 12"):
        split_folder(src, tmp_path / "new", (6, 3, 3))
    assert not (tmp_path / "new").exists()


def test_split_refuses_unsafe_class_names(tmp_path):
    src = tmp_path / "src"
    save_image(src / "..hidden" / "a.png", blob_image(8, 0, True))  # dot folders are ignored
    save_image(src / "bad name;rm" / "a.png", blob_image(8, 0, True))
    with pytest.raises(DataError, match="not a safe"):
        split_folder(src, tmp_path / "out", (1, 0, 0))
    assert not (tmp_path / "out").exists()


def test_preview_writes_a_png_grid(tmp_path):
    d = load_data("digits")
    p = preview_batch(d, tmp_path / "grid.png", n=16)
    q = preview_augmented(d, tmp_path / "aug.png", resolve_augment("light"), n=5)
    assert Image.open(p).size[0] > 300 and Image.open(q).size[0] > 300


def test_stats_counts_and_sizes(tmp_path):
    make_class_folder(tmp_path / "pets", per_class=10, size=14)
    s = data_stats(load_data(tmp_path / "pets", split=(0.6, 0.2, 0.2)))
    assert s["counts"]["train"] == {"cats": 6, "dogs": 6}
    assert s["original_sizes"]["most_common"][0] == [14, 14, 20]
    assert 0 < s["mean"][0] < 1


def test_cli_data_verbs(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        main(["data", "stats", "--data", "digits", "--json"])
    assert e.value.code == 0
    assert json.loads(capsys.readouterr().out)["counts"]["test"]["0"] > 0
    with pytest.raises(SystemExit) as e:
        main(["data", "preview", "--data", "digits", "--out", str(tmp_path / "p.png")])
    assert e.value.code == 0 and (tmp_path / "p.png").is_file()
    with pytest.raises(SystemExit) as e:
        main(["data", "stats", "--data", str(tmp_path / "missing")])
    assert e.value.code == 2
    assert "no such folder" in capsys.readouterr().err
    src = kaggle_style(tmp_path / "k", n=4)
    with pytest.raises(SystemExit) as e:
        main(["data", "split", str(src), str(tmp_path / "s"), "--per-class", "2,1,1"])
    assert e.value.code == 0 and len(list((tmp_path / "s").rglob("*.jpg"))) == 8
