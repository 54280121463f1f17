"""Explain on a model trained on the digits: Grad-CAM against its definition, gradient-ascent
patterns, layer errors, every method's PNG, and the CLI."""

import io
import re

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from cnnlab.cli import main
from cnnlab.data import load_data
from cnnlab.data.transforms import Preprocessing
from cnnlab.errors import CnnlabError
from cnnlab.explain import explain, list_layers
from cnnlab.explain.api import METHODS
from cnnlab.explain.result import Explanation
from cnnlab.explain.target_layers import LayerError, cam_layer, default_layer, trace_layers
from cnnlab.train import fit, load_model
from cnnlab.run.checkpoint import LoadedModel

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """The PyTorch tutorial CNN trained for 3 epochs on 600 digits (about 7 s), shared by the tests."""
    r = fit(data="digits", model="mnist-tutorial", epochs=3, limit=600, batch_size=32, quiet=True,
            project=tmp_path_factory.mktemp("runs"), name="digits")
    return r.run_dir


@pytest.fixture(scope="module")
def digit_png(run_dir):
    path = run_dir.parent / "four.png"
    data = load_data("digits")
    Image.fromarray(data.test.images[0, 0].numpy()).save(path)
    return path


def small_net(channels: int = 3) -> LoadedModel:
    """Conv-BN-ReLU-Conv-ReLU-GAP-Linear, random weights, 3 channels: Grad-CAM through BatchNorm."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(channels, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU(inplace=True),
                          nn.Conv2d(6, 5, 3, padding=1), nn.ReLU(inplace=True),
                          nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(5, 4)).eval()
    model[1].running_mean.uniform_(-0.5, 0.5)  # non-trivial BN statistics
    pre = Preprocessing(input_size=(12, 12), channels=channels, mean=(0.5,) * channels, std=(0.25,) * channels)
    return LoadedModel(model, ["a", "b", "c", "d"], pre, {}, {}, None)


def test_gradcam_matches_its_definition():
    loaded = small_net()
    rng = np.random.default_rng(1)
    image = (rng.random((12, 12, 3)) * 255).astype(np.uint8)
    for target in (0, 2, "d"):
        e = explain(loaded, image, method="gradcam", layer="3", target=target)
        # independent computation: A = output of conv "3"; alpha_k = mean of dy_c/dA^k; ReLU(sum_k alpha_k A^k)
        x = loaded.preprocessing.normalize(torch.from_numpy(image).permute(2, 0, 1)[None])
        a = loaded.model[:4](x).detach().requires_grad_(True)
        y = loaded.model[4:](a.clone())[0, e.prediction["index"]]  # clone: the next ReLU is in-place
        (grad,) = torch.autograd.grad(y, a)
        alpha = grad.mean(dim=(2, 3), keepdim=True)
        cam = torch.relu((alpha * a).sum(dim=1))[0].detach().numpy()
        assert cam.max() > 0
        np.testing.assert_allclose(e.arrays["cam"], cam, rtol=1e-4, atol=1e-6)
        assert e.arrays["heatmap"].shape == (12, 12)  # the same resolution here: only rescaled to peak 1
        np.testing.assert_allclose(e.arrays["heatmap"], cam / cam.max(), atol=1e-5)
    assert e.prediction["class"] == "d"


def test_gradcam_plus_plus_matches_the_papers_formula():
    loaded = small_net()
    image = np.zeros((12, 12, 3), np.uint8)
    image[3:8, 4:9] = 255
    rng = np.random.default_rng(2)
    noisy = (rng.random((12, 12, 3)) * 255).astype(np.uint8)
    for img, target in ((image, None), (noisy, 1), (noisy, "c")):
        e = explain(loaded, img, method="gradcam++", layer="3", target=target)
        # Independent computation of Chattopadhay et al. 2018, eq. 19 (exponential score, so the
        # 2nd and 3rd derivatives are g², g³): with g = dy_c/dA and A the output of conv "3",
        # a_ij^k = g² / (2 g² + Σ_ab A_ab^k g³), w_k = Σ_ij a_ij^k ReLU(g_ij^k), map = ReLU(Σ_k w_k A^k).
        x = loaded.preprocessing.normalize(torch.from_numpy(img).permute(2, 0, 1)[None])
        a = loaded.model[:4](x).detach().requires_grad_(True)
        y = loaded.model[4:](a.clone())[0, e.prediction["index"]]
        (grad,) = torch.autograd.grad(y, a)
        g, act = grad[0].double().numpy(), a[0].detach().double().numpy()
        cam = np.zeros(act.shape[1:])
        for k in range(act.shape[0]):
            denom = 2 * g[k] ** 2 + act[k].sum() * g[k] ** 3
            alpha = np.divide(g[k] ** 2, denom, out=np.zeros_like(denom), where=(denom != 0) & (g[k] != 0))
            cam += (alpha * np.maximum(g[k], 0)).sum() * act[k]
        cam = np.maximum(cam, 0)
        assert cam.max() > 0 and cam.min() == 0  # a map with structure, not a constant
        assert e.arrays["cam"].shape == (12, 12) and (e.arrays["cam"] >= 0).all()
        np.testing.assert_allclose(e.arrays["cam"], cam, rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(e.arrays["heatmap"], cam / cam.max(), atol=1e-5)


def test_list_layers_and_default_layer(run_dir):
    layers = list_layers(run_dir)
    names = [li.name for li in layers]
    assert names[:5] == ["conv1", "relu1", "pool1", "drop1", "conv2"] and names[-1] == "fc2"
    shapes = {li.name: li.output_shape for li in layers}
    assert shapes["conv1"] == (32, 28, 28) and shapes["pool2"] == (64, 7, 7) and shapes["fc1"] == (64,)
    assert default_layer(load_model(run_dir).model) == "conv2"


def test_gradcam_defaults_to_the_block_output_after_the_last_convs_activation(run_dir, digit_png):
    # The Grad-CAM paper's code (relu5_3) and the Keras book use the maps after the activation.
    e = explain(run_dir, digit_png, method="gradcam")
    assert e.layers == ["relu2"]
    at_relu2 = explain(run_dir, digit_png, method="gradcam", layer="relu2")
    np.testing.assert_array_equal(e.arrays["cam"], at_relu2.arrays["cam"])
    at_conv2 = explain(run_dir, digit_png, method="gradcam", layer="conv2")  # still reachable with --layer
    assert not np.array_equal(e.arrays["cam"], at_conv2.arrays["cam"])
    plus = explain(run_dir, digit_png, method="gradcam++")
    np.testing.assert_array_equal(plus.arrays["cam"],
                                  explain(run_dir, digit_png, method="gradcam++", layer="relu2").arrays["cam"])


@pytest.mark.parametrize(("name", "kwargs", "shape", "expected"), [
    ("mnist-tutorial", {}, (1, 28, 28), "relu2"),            # conv2 → relu2 → pool2
    ("keras-mnist", {}, (1, 28, 28), "relu3"),               # the last conv has no pool after it
    ("spec:conv16k3p1 maxpool2 bn relu conv32k3p1 maxpool2 bn relu fc10", {}, (1, 28, 28), "relu2"),  # pool first
    ("keras-catsdogs", {}, (3, 150, 150), "relu4"),
    ("torchvision:resnet18", {"num_classes": 3, "input_size": 64}, (3, 64, 64), "layer4"),  # after the add and ReLU
    ("googlenet", {}, (3, 96, 96), "inception5b"),            # the concatenation, not one branch's conv
    ("efficientnet_lite0", {}, (3, 96, 96), "bn2"),           # timm's BatchNormAct2d: BN and ReLU6
])
def test_default_cam_layer_is_the_last_conv_blocks_output(name, kwargs, shape, expected):
    from cnnlab.models import build_model

    model = build_model(name, **kwargs).eval()
    layers = trace_layers(model, torch.zeros(1, *shape))
    assert cam_layer(model, layers) == expected


def test_unknown_layer_lists_valid_names_and_linear_is_refused(run_dir, digit_png):
    with pytest.raises(LayerError, match=r"'conv9'.*valid names: conv1, relu1, pool1.*fc2"):
        explain(run_dir, digit_png, method="gradcam", layer="conv9")
    for method in ("gradcam", "gradcam++", "featuremaps", "patterns"):
        with pytest.raises(LayerError, match=rf"'fc1' \(Linear\).*not feature maps.*{re.escape(method)} needs a conv layer"):
            explain(run_dir, digit_png, method=method, layer="fc1")
    with pytest.raises(LayerError, match="no convolution filters"):
        explain(run_dir, method="filters", layer="fc1")
    with pytest.raises(CnnlabError, match="needs an image"):
        explain(run_dir, method="saliency")
    with pytest.raises(CnnlabError, match="unknown; choose one of"):
        explain(run_dir, digit_png, method="lime")
    with pytest.raises(CnnlabError, match=r"class 'cat'.*classes: 0, 1"):
        explain(run_dir, digit_png, target="cat")
    with pytest.raises(CnnlabError, match="index out of range"):
        explain(run_dir, digit_png, target=10)
    with pytest.raises(CnnlabError, match=r"unknown option\(s\) \['pach'\]"):
        explain(run_dir, digit_png, method="occlusion", pach=5)


def test_patterns_raise_the_filter_activation_far_above_the_noise(run_dir):
    e = explain(run_dir, method="patterns", layer="conv2", n=8)
    start, end = e.arrays["activation_start"], e.arrays["activation_end"]
    assert e.arrays["patterns"].shape == (8, 1, 28, 28)
    alive = start > 0.1  # filters that respond to the noise at all (a dead filter stays put)
    ratios = end[alive] / start[alive]
    print("pattern activations: start", np.round(start, 2), "end", np.round(end, 2),
          f"mean ratio over live filters {end[alive].mean() / start[alive].mean():.1f}")
    assert alive.sum() >= 4 and (end >= start - 1e-6).all()
    assert (ratios > 5).all()
    assert end[alive].mean() / start[alive].mean() > 10


@pytest.mark.parametrize("method", METHODS)
def test_every_method_writes_a_png(run_dir, digit_png, tmp_path, method):
    e = explain(run_dir, digit_png, method=method, out=tmp_path)
    assert isinstance(e, Explanation) and e.method == method and e.png.startswith(PNG)
    assert e.path.read_bytes() == e.png and e.path.parent == tmp_path
    Image.open(io.BytesIO(e.png)).verify()
    if method in ("gradcam", "gradcam++", "occlusion", "saliency"):
        h = e.arrays["heatmap"]
        assert h.shape == (28, 28) and h.min() >= 0 and h.max() == pytest.approx(1.0)
        assert h.min() < 0.5 and h.std() > 0.05  # a map that points somewhere, not a constant
        layer = {"gradcam": "relu2-", "gradcam++": "relu2-"}.get(method, "")
        assert e.path.name == f"{method}-{layer}class-4-four.png"
        assert e.prediction["class"] == "4" and 0 < e.prediction["probability"] <= 1
    if method == "featuremaps":  # the Keras view: every conv (after its ReLU) and pool layer
        assert [k for k in e.arrays if k.startswith("maps/")] == ["maps/relu1", "maps/pool1", "maps/relu2",
                                                                   "maps/pool2"]
        assert e.arrays["maps"].shape == (32, 28, 28)
    if method == "embedding":
        assert e.arrays["points"].shape == (len(e.arrays["labels"]), 2)
    if method == "top-images":
        scores = e.arrays["scores"]
        assert len(scores) == 16 and (np.diff(scores) <= 0).all()


def test_featuremaps_of_one_layer_in_the_tutorial_grid(run_dir, digit_png):
    e = explain(run_dir, digit_png, method="featuremaps", layer="conv1")
    assert list(e.arrays) == ["maps", "maps/conv1", "sparsity"] and e.arrays["maps"].shape == (32, 28, 28)


def test_torchvision_resnet_gradcam_on_rgb_input():
    from cnnlab.models import build_model

    torch.manual_seed(0)
    model = build_model("torchvision:resnet18", num_classes=3, input_size=64).eval()
    pre = Preprocessing(input_size=(64, 64), channels=3, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))
    loaded = LoadedModel(model, ["x", "y", "z"], pre, {}, {}, None)
    image = (np.random.default_rng(0).random((80, 70, 3)) * 255).astype(np.uint8)
    for layer in (None, "layer4"):
        e = explain(loaded, image, method="gradcam", layer=layer)
        assert e.arrays["heatmap"].shape == (64, 64) and np.isfinite(e.arrays["heatmap"]).all()


def test_cli_lists_layers_and_writes_the_default_file(run_dir, digit_png, capsys):
    with pytest.raises(SystemExit) as done:
        main(["explain", str(run_dir), "--list-layers"])
    assert done.value.code in (0, None)
    out = capsys.readouterr().out
    assert "conv2" in out and "64×14×14" in out
    with pytest.raises(SystemExit) as done:
        main(["explain", str(run_dir), str(digit_png), "--method", "occlusion", "--class", "4"])
    assert done.value.code in (0, None)
    assert (run_dir / "explain" / "occlusion-class-4-four.png").read_bytes().startswith(PNG)
    with pytest.raises(SystemExit) as done:
        main(["explain", str(run_dir), str(digit_png), "--layer", "nope"])
    assert done.value.code == 2
    assert "valid names: conv1" in capsys.readouterr().err


def test_explain_files_are_named_by_layer_and_class_so_none_overwrites_another(run_dir, digit_png, tmp_path):
    # Issue 21 item 6: featuremaps --layer conv1 and a later call with another or no --layer both wrote
    # featuremaps-digit.png; filters.png and patterns.png the same.
    calls = [
        (["--method", "featuremaps", "--layer", "conv1"], "featuremaps-conv1-four.png"),
        (["--method", "featuremaps", "--layer", "conv2"], "featuremaps-conv2-four.png"),
        (["--method", "featuremaps"], "featuremaps-relu1-to-pool2-four.png"),
        (["--method", "gradcam", "--class", "4"], "gradcam-relu2-class-4-four.png"),
        (["--method", "gradcam", "--class", "9"], "gradcam-relu2-class-9-four.png"),
        (["--method", "gradcam", "--layer", "conv2", "--class", "4"], "gradcam-conv2-class-4-four.png"),
    ]
    out = tmp_path / "explain"
    for args, name in calls:
        with pytest.raises(SystemExit) as done:
            main(["explain", str(run_dir), str(digit_png), *args, "--out", str(out)])
        assert done.value.code in (0, None)
        assert (out / name).is_file(), (name, sorted(p.name for p in out.iterdir()))
    for layer, name in ((None, "filters-conv1.png"), ("conv2", "filters-conv2.png")):
        assert explain(run_dir, method="filters", layer=layer, out=out).path == out / name
    assert explain(run_dir, method="patterns", layer="conv1", n=2, steps=2, out=out).path == out / "patterns-conv1.png"
    assert len(list(out.iterdir())) == len(calls) + 3
