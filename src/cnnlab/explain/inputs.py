"""What an explanation starts from: a trained model, one image prepared as in training, the class
to explain, and the run's own data for the whole-split methods."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from cnnlab.errors import ConfigError
from cnnlab.inference import ImageLike, as_uint8_tensor, predict_batch
from cnnlab.run.checkpoint import LoadedModel
from cnnlab.run.folder import Run


def resolve_source(source: str | Path | LoadedModel | Run) -> LoadedModel:
    """The model of a run folder, checkpoint file, `Run` or LoadedModel (eval mode).

    Anything shaped like one (a model, class names and preprocessing, as
    `cnnlab.models.pretrained.load_pretrained` returns for ImageNet models) is used as it is.
    """
    return Run.open(source).model()


@dataclass
class PreparedImage:
    """One image as the model sees it (`batch`, 1×C×H×W normalised) and as a person sees it
    (`display`, H×W or H×W×3 floats in [0, 1] at the input size)."""

    batch: torch.Tensor
    display: np.ndarray
    stem: str


def image_stem(image: ImageLike) -> str:
    """A short name for output files: the file's stem, else "image"."""
    if isinstance(image, (str, Path)):
        return Path(image).stem or "image"
    return "image"


def prepare_image(loaded: LoadedModel, image: ImageLike) -> PreparedImage:
    """Decode, resize and normalise one image exactly as training and `predict` do."""
    pre = loaded.preprocessing
    uint8 = pre.prepare_uint8(as_uint8_tensor(image, pre.channels))
    device = next(loaded.model.parameters()).device  # a model loaded onto a GPU explains there
    batch = pre.normalize(uint8[None]).to(device)
    display = uint8.permute(1, 2, 0).numpy().astype(np.float32) / 255.0
    return PreparedImage(batch, display[:, :, 0] if display.shape[2] == 1 else display, image_stem(image))


def display_images(loaded: LoadedModel, batch: torch.Tensor) -> np.ndarray:
    """Normalised N×C×H×W → N×H×W(×3) floats in [0, 1] for plotting."""
    x = loaded.preprocessing.denormalize(batch.detach().cpu()).permute(0, 2, 3, 1).numpy()
    return x[..., 0] if x.shape[-1] == 1 else x


# An index is ASCII digits only: str.isdigit() accepts '²' and '٣', which int() then refuses or
# reads as another number, and 5000 digits overflow int()'s limit (issue 19 item 14).
_CLASS_INDEX = re.compile(r"-?[0-9]{1,9}")


def class_index(loaded: LoadedModel, target: int | str | None, probs: np.ndarray) -> int:
    """The class to explain: a class name, an index, or None for the predicted class."""
    names = loaded.class_names
    if target is None:
        return int(np.argmax(probs))
    if isinstance(target, str):
        if target in names:
            return names.index(target)
        if target.strip() in names:
            return names.index(target.strip())
        if not _CLASS_INDEX.fullmatch(target.strip()):
            return match_class_name(target, names)
        target = int(target.strip())
    if not 0 <= int(target) < len(names):
        raise ConfigError(f"class {target}: index out of range (expected 0 to {len(names) - 1}, "
                          f"or a name: {', '.join(names)})")
    return int(target)


def match_class_name(text: str, names: list[str]) -> int:
    """The class `text` names, matched loosely: case and spacing ignored ("Tabby", "african_elephant"),
    or the one class whose name contains it as a word ("elephant" → ambiguous, "tabby" → "tabby").
    Otherwise a ConfigError suggesting the closest names (ImageNet has 1,000: not all listed)."""
    import difflib
    import re

    def norm(s: str) -> str:
        return re.sub(r"[\s_-]+", " ", s).strip().casefold()

    wanted = norm(text)
    folded = [norm(n) for n in names]
    if wanted in folded:
        return folded.index(wanted)
    containing = [i for i, n in enumerate(folded) if re.search(rf"\b{re.escape(wanted)}\b", n)] if wanted else []
    if len(containing) == 1:
        return containing[0]
    close = [names[folded.index(c)] for c in difflib.get_close_matches(wanted, folded, n=5, cutoff=0.6)]
    candidates = list(dict.fromkeys([names[i] for i in containing] + close))[:8]
    listed = ", ".join(names) if len(names) <= 20 else f"{len(names)} classes; `cnnlab predict` shows the top ones"
    hint = f"; did you mean: {', '.join(repr(c) for c in candidates)}?" if candidates else ""
    shown = text if len(text) <= 40 else text[:40] + "…"
    raise ConfigError(f"class {shown!r}: not a class of this model{hint} (expected a class name or an index "
                      f"0 to {len(names) - 1}; classes: {listed})")


def predict_one(loaded: LoadedModel, batch: torch.Tensor) -> np.ndarray:
    """Class probabilities of a 1-image batch through cnnlab.inference (the shared path)."""
    return predict_batch(loaded, batch)[0].numpy()


def prediction_dict(loaded: LoadedModel, probs: np.ndarray, index: int) -> dict:
    """{"class", "index", "probability"} of the explained class."""
    return {"class": loaded.class_names[index], "index": index, "probability": float(probs[index])}


def class_scores(loaded: LoadedModel):
    """forward(x) → one logit per class; a one-logit binary model becomes [-z, z], whose softmax
    is [1 - sigmoid(z), sigmoid(z)], so either class can be explained."""
    model = loaded.model

    def forward(x: torch.Tensor) -> torch.Tensor:
        logits = model(x)
        if loaded.binary_output:
            z = logits.reshape(-1, 1)
            return torch.cat([-z, z], dim=1)
        return logits

    return forward


def run_data(source: LoadedModel | Run, **data_options):
    """The run's own data set (as training resolved it), with options overriding it; `data=`
    (evaluate's spelling) or `source=` picks other images, at the model's input size and channels."""
    from cnnlab.data import load_data

    run = Run.open(source)
    other = data_options.pop("data", None) or data_options.pop("source", None)
    settings = {k: v for k, v in data_options.items() if v is not None}
    if other is None:
        return run.data(**settings)
    pre = run.model().preprocessing
    return load_data(other, **{"image_size": tuple(pre.input_size), "channels": pre.channels, **settings})


def need_image(image, method: str) -> None:
    if image is None:
        raise ConfigError(f"method {method!r}: needs an image (a file, bytes, array or PIL image)")

