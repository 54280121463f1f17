"""One small model trained once on the digits, shared by the report and web-app tests."""

from __future__ import annotations

import pytest
from webapp_images import png_bytes


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory):
    """A finished run folder: mnist-tiny on 400 digits for 2 epochs (a few seconds on one core)."""
    from cnnlab.train import fit

    project = tmp_path_factory.mktemp("runs")
    result = fit(data="digits", model="mnist-tiny", limit=400, batch_size=32, epochs=2, quiet=True,
                 project=project, name="digits")
    return result.run_dir


@pytest.fixture(scope="session")
def loaded(trained_run):
    from cnnlab.train import load_model

    return load_model(trained_run)


@pytest.fixture(scope="session")
def digit_pngs(trained_run):
    """Test-split digits as PNG bytes at their original 8×8 size, with the model's own answers."""
    from cnnlab.data import load_data
    from cnnlab.inference import predict_proba
    from cnnlab.train import load_model

    data = load_data("digits", limit=400)
    images = data.test.images[:40]  # uint8 N×1×8×8
    pngs = [png_bytes(im[0].numpy()) for im in images]
    loaded = load_model(trained_run)
    probs = predict_proba(loaded, pngs)
    expected = [loaded.class_names[i] for i in probs.argmax(1)]
    return pngs, expected
