"""FC layers turned into convolutions: same scores at the training size, a score map beyond."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from cnnlab.errors import ModelError
from cnnlab.models import build_model
from cnnlab.models.fully_convolutional import to_fully_convolutional
from cnnlab.models.pattern import build_from_spec


def _randomise_batch_norm(model: nn.Module) -> None:
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.running_mean.uniform_(-1, 1)
            m.running_var.uniform_(0.5, 2)


@pytest.mark.parametrize(("name", "kwargs", "shape"), [
    ("keras-mnist", {}, (1, 28, 28)),
    ("mnist-tutorial", {}, (1, 28, 28)),
    ("mnist-tiny", {}, (1, 28, 28)),
    ("lenet5", {}, (1, 28, 28)),
    ("keras-catsdogs", {"dropout": 0.5}, (3, 150, 150)),
    ("spec:conv8k3 relu maxpool2 fc32 bn relu drop fc", {}, (1, 28, 28)),
    ("spec:conv8k3p1 bn relu maxpool2 conv16k3 gap fc", {"in_channels": 3}, (3, 32, 32)),
])
def test_same_scores_at_the_training_size(name, kwargs, shape):
    torch.manual_seed(0)
    model = build_model(name, **kwargs)
    _randomise_batch_norm(model)
    model.eval()
    fcn = to_fully_convolutional(model, shape).eval()
    assert not any(isinstance(m, nn.Linear) for m in fcn.modules())
    x = torch.randn(3, *shape)
    with torch.no_grad():
        scores = fcn(x)
        assert scores.shape[2:] == (1, 1)
        assert (scores.flatten(1) - model(x)).abs().max().item() <= 1e-5


def test_each_cell_of_the_score_map_is_the_model_on_a_crop():
    torch.manual_seed(0)
    model = build_model("keras-mnist").eval()  # valid padding: crops are exact
    fcn = to_fully_convolutional(model, (1, 28, 28)).eval()
    assert fcn.score_stride == (4, 4) and fcn.training_input_size == (28, 28)
    image = torch.randn(1, 1, 40, 36)
    with torch.no_grad():
        scores = fcn(image)
        assert scores.shape == (1, 10, 4, 3)  # (40-28)/4+1, (36-28)/4+1
        for i in range(4):
            for j in range(3):
                crop = image[:, :, 4 * i:4 * i + 28, 4 * j:4 * j + 28]
                assert (scores[:, :, i, j] - model(crop)).abs().max().item() <= 1e-5


def test_pattern_built_net_slides_too():
    torch.manual_seed(1)
    model = build_from_spec("conv6k5 tanh avgpool2 conv12k5 relu maxpool2 fc20 relu fc",
                            num_classes=3).eval()
    fcn = to_fully_convolutional(model, (1, 28, 28)).eval()
    image = torch.randn(2, 1, 36, 28)
    with torch.no_grad():
        scores = fcn(image)
        assert scores.shape == (2, 3, 3, 1)
        assert fcn.score_stride == (4, 4)
        crop = image[:, :, 8:36, :]
        assert (scores[:, :, 2, 0] - model(crop)).abs().max().item() <= 1e-5


@pytest.fixture(scope="module")
def alexnet():
    torch.manual_seed(0)
    return build_model("alexnet", num_classes=10).eval()


def test_torchvision_alexnet_scores_a_384_image_as_a_6x6_map(alexnet):
    fcn = to_fully_convolutional(alexnet, (3, 224, 224)).eval()
    assert isinstance(fcn.avgpool, nn.Identity)  # identity at 224; it would undo the sliding
    assert isinstance(fcn.classifier[1], nn.Conv2d) and fcn.classifier[1].kernel_size == (6, 6)
    assert fcn.classifier[4].kernel_size == (1, 1)
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        reference = alexnet(x)
        assert (fcn(x).flatten(1) - reference).abs().max().item() <= 1e-5 * max(
            1.0, reference.abs().max().item())
        assert fcn(torch.randn(1, 3, 384, 384)).shape == (1, 10, 6, 6)  # CS231n: (384-224)/32+1
    assert fcn.score_stride == (32, 32)
    assert fcn.features[0].weight is not alexnet.features[0].weight  # a copy


def test_unsupported_models_and_sizes_are_refused():
    with torch.device("meta"):
        resnet = build_model("resnet18")
        alexnet = build_model("alexnet")
    with pytest.raises(ModelError, match="global average pooling"):
        to_fully_convolutional(resnet, (3, 224, 224))
    with pytest.raises(ModelError, match="resizes them to 6×6"):
        to_fully_convolutional(alexnet, (3, 256, 256))
    with pytest.raises(ModelError, match="no nn.Flatten"):
        to_fully_convolutional(nn.Sequential(nn.Conv2d(1, 2, 3)), (1, 8, 8))
    odd = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.LayerNorm(72), nn.Linear(72, 2))
    with pytest.raises(ModelError, match="LayerNorm"):
        to_fully_convolutional(odd, (1, 8, 8))
