import pytest

from cnnlab.train import fit, lr_find


def test_lr_find_suggests_a_sane_learning_rate(tmp_path):
    r = lr_find(data="digits", model="mnist-tiny", limit=600, steps=60, out=tmp_path / "lr.png")
    assert r.plot.is_file() and len(r.lrs) >= 20
    assert r.lrs == sorted(r.lrs)
    # The suggestion sits on the falling part of the curve: below the rate of the lowest loss
    # (within two decades of it), where the loss still drops over the next few steps.
    i_min = min(range(len(r.losses)), key=r.losses.__getitem__)
    i = r.lrs.index(r.suggestion)
    assert r.losses[i_min] < r.losses[0] - 0.2  # the sweep found rates that learn
    assert r.lrs[i_min] / 100 <= r.suggestion < r.lrs[i_min]
    assert r.losses[min(i + 3, i_min)] < r.losses[i] - 0.01


@pytest.mark.slow
def test_keras_mnist_convnet_reaches_99_percent(mnist_root, tmp_path):
    """The Keras book's MNIST convnet, RMSprop, 5 epochs, batch 64: the book reports 99.1 %."""
    r = fit(data="mnist", data_root=mnist_root, model="keras-mnist", optimizer="rmsprop", epochs=5,
            batch_size=64, project=tmp_path, quiet=True)
    assert r.metrics["test_acc"] >= 0.990
