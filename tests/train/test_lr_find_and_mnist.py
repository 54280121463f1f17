import pytest

from cnnlab.train import fit, lr_find


def test_lr_find_suggests_a_sane_learning_rate(tmp_path):
    r = lr_find(data="digits", model="mnist-tiny", limit=600, steps=60, out=tmp_path / "lr.png")
    assert r.plot.is_file() and len(r.lrs) >= 20
    assert 1e-5 <= r.suggestion <= 1.0
    assert r.lrs == sorted(r.lrs)


@pytest.mark.slow
def test_keras_mnist_convnet_reaches_99_percent(mnist_root, tmp_path):
    """The Keras book's MNIST convnet, RMSprop, 5 epochs, batch 64: the book reports 99.1 %."""
    r = fit(data="mnist", data_root=mnist_root, model="keras-mnist", optimizer="rmsprop", epochs=5,
            batch_size=64, project=tmp_path, quiet=True)
    assert r.metrics["test_acc"] >= 0.990
