"""`cnnlab train --data <folder of photos>` with no other flag: EfficientNet-Lite0 by transfer
(issue 18 item 1); grayscale digit-like folders keep the small CNN; a flag overrides it."""

from __future__ import annotations

import json

import yaml
from typer.testing import CliRunner

from cnnlab.cli import app
from cnnlab.train.folder_default import chosen_defaults, finetune_epochs, photo_folder_reason
from image_files import make_class_folder


def test_photo_folder_default_trains_the_pretrained_model(tmp_path):
    photos = make_class_folder(tmp_path / "photos", per_class=10, size=96, ext=".jpg")
    result = CliRunner().invoke(app, ["train", "--data", str(photos), "--epochs", "2", "--image-size", "64",
                                      "--no-report", "--project", str(tmp_path / "runs"), "--name", "auto"],
                                env={"COLUMNS": "300"})
    assert result.exit_code == 0, result.output
    first = result.output.splitlines()[0]
    assert "no --model given" in first and "efficientnet_lite0" in first and "RGB photos" in first
    run = tmp_path / "runs" / "auto"
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    assert (cfg["model"], cfg["weights"], cfg["transfer"]) == ("efficientnet_lite0", "imagenet", "finetune")
    assert cfg["augment"] == "photo" and cfg["optimizer"] == "adamw" and cfg["unfreeze"] == "5"
    assert cfg["data"]["image_size"] == [64, 64]  # a flag the user gave still wins
    record = json.loads((run / "transfer.json").read_text())
    assert record["weights"] == "imagenet" and [p["name"] for p in record["phases"]] == ["head", "finetune"]
    assert record["phases"][1]["trainable"][0] == "backbone.blocks.3"


def test_what_the_folder_default_chooses(tmp_path):
    photos = make_class_folder(tmp_path / "photos", per_class=3, size=96, ext=".jpg")
    digits = make_class_folder(tmp_path / "digits", per_class=3, size=28, channels=1)
    small_rgb = make_class_folder(tmp_path / "icons", per_class=3, size=32)
    assert photo_folder_reason(str(photos)).startswith("RGB photos")
    assert photo_folder_reason(str(digits)) is None and photo_folder_reason(str(small_rgb)) is None
    assert photo_folder_reason("digits") is None
    assert chosen_defaults({"data": str(digits)}) == ({"data": str(digits)}, None)
    given = {"data": str(photos), "model": "mnist-tiny"}
    assert chosen_defaults(given) == (given, None)  # --model overrides the default
    settings, note = chosen_defaults({"data": str(photos), "transfer": "extract-cached"})
    assert note is None and "model" not in settings
    settings, note = chosen_defaults({"data": str(photos), "transfer": "finetune", "lr": 5e-4})
    assert settings["lr"] == 5e-4 and settings["optimizer"] == "adamw" and note.startswith("fine-tuning defaults")
    settings, _ = chosen_defaults({"data": "mnist", "transfer": "finetune", "weights": "runs/stage1"})
    assert "unfreeze" not in settings  # the backbone is a previous run's model: its own depth
    assert chosen_defaults({"data": "digits", "transfer": "finetune"})[0]["unfreeze"] == "5"  # Lite0
    # about 60 steps of fine-tuning, 3 to 10 epochs
    assert finetune_epochs(2000) == 3 and finetune_epochs(200) == 10 and finetune_epochs(500) == 4
