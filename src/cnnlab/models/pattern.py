"""The pattern builder: a CNN of the classic shape written as one line of text.

CS231n's pattern INPUT → [[CONV → RELU]*N → POOL?]*M → [FC → RELU]*K → FC becomes, e.g. for the
Keras book's MNIST convnet (93,322 parameters):

    conv32k3 relu maxpool2 conv64k3 relu maxpool2 conv64k3 relu fc64 relu fc10

Every word is one layer, so what you read is what you get: nothing is added implicitly except
the Flatten before the first `fc` (written or not). Words are separated by spaces or '-';
case does not matter.

Grammar:

    spec    := setting* item+
    setting := 'init=' ('default' | 'kaiming' | 'msra' | 'he' | 'xavier' | 'glorot')
    item    := layer | '[' item+ ']' ('x' | '*') COUNT        repeat the group COUNT times
    layer   := 'conv' C ['k' K] ['s' S] ['p' (P | 'same' | 'valid')]
                   C filters of K×K (default 3), stride S (default 1), padding P per side
                   (default valid = 0; 'same' keeps the size, stride 1 only)
             | ('maxpool' | 'avgpool' | 'pool') [K] ['s' S] ['p' P]
                   K×K pooling (default 2, 'pool' is max), stride S (default K)
             | 'fc' [N]       fully connected to N units; the last fc may omit N: num_classes
             | ('drop' | 'dropout') [RATE]        dropout, default 0.5
             | 'bn'           batch norm (BatchNorm2d on maps, BatchNorm1d after flattening)
             | 'lrn' [SIZE]   AlexNet's local response normalisation (size 5, α 1e-4, β 0.75, k 2)
             | 'gap'          global average pooling, then flatten
             | 'flatten'
             | 'relu' | 'leaky_relu' [SLOPE] | 'prelu' | 'elu' | 'gelu' | 'tanh' | 'sigmoid'

Examples: `[conv64k3p1 relu]x2 maxpool2` is one VGG block; `conv96k11s4 relu lrn maxpool3s2`
is AlexNet's first stage; `init=kaiming conv32k3psame bn relu ... gap fc` a modern small net.
`build_model("spec:<text>", num_classes=..., in_channels=..., input_size=...)` builds one
through the registry. Errors show the spec with a caret under the offending character, and a
layer whose output would be empty for the given input size is reported at its word.
"""

from __future__ import annotations

from collections import OrderedDict, defaultdict
from dataclasses import dataclass, replace
from typing import Any

from torch import nn

from cnnlab.errors import ModelError, did_you_mean
from cnnlab.models.fast_modules import Dropout, Sequential
from cnnlab.models.registry import ModelInfo, register_family
from cnnlab.models.output_size import conv_output_size
from cnnlab.shapes import as_hw, format_shape

_LAYER_NAMES = {
    "conv": "conv", "maxpool": "pool", "avgpool": "pool", "pool": "pool", "fc": "fc",
    "drop": "dropout", "dropout": "dropout", "bn": "bn", "lrn": "lrn", "gap": "gap",
    "flatten": "flatten", "relu": "act", "leaky_relu": "act", "prelu": "act", "elu": "act",
    "gelu": "act", "tanh": "act", "sigmoid": "act",
}
_ACTIVATIONS = {"relu": nn.ReLU, "leaky_relu": nn.LeakyReLU, "prelu": nn.PReLU, "elu": nn.ELU,
                "gelu": nn.GELU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}
_INITS = {"default": "default", "kaiming": "kaiming", "msra": "kaiming", "he": "kaiming",
          "xavier": "xavier", "glorot": "xavier"}
_SEPARATORS = " \t\r\n-"
_WORD_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789_.=")


class SpecError(ModelError):
    """A pattern spec that does not parse or build; `position` is the 0-based character index."""

    def __init__(self, spec: str, position: int, message: str):
        self.spec = spec
        self.position = position
        self.reason = message
        caret = " " * position + "^"
        super().__init__(f"pattern spec, column {position + 1}: {message}\n  {spec}\n  {caret}")


@dataclass(frozen=True)
class SpecLayer:
    """One layer word of a spec, as written; `position` points at its first character."""

    kind: str                     # conv, pool, fc, dropout, bn, lrn, gap, flatten, act
    word: str
    position: int
    width: int | None = None      # conv filters, fc units
    kernel: int | None = None     # conv / pool window
    stride: int | None = None
    padding: int | str | None = None
    pool: str | None = None       # 'max' or 'avg'
    rate: float | None = None     # dropout rate, leaky_relu slope
    size: int | None = None       # lrn size
    activation: str | None = None


@dataclass(frozen=True)
class PatternSpec:
    """A parsed spec: its text, the layers with repeats expanded, and the init setting."""

    text: str
    layers: tuple[SpecLayer, ...]
    init: str = "default"

    @property
    def num_classes(self) -> int | None:
        """The width of the last fc when it is written, else None (it takes num_classes)."""
        fcs = [layer for layer in self.layers if layer.kind == "fc"]
        return fcs[-1].width if fcs else None


# --- tokenizer ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Token:
    kind: str        # 'word', '[', ']'
    text: str
    position: int
    count: int = 0   # for ']': how many times the group repeats


def _tokenize(spec: str) -> list[_Token]:
    tokens, i, text = [], 0, spec.lower()
    while i < len(text):
        ch = text[i]
        if ch in _SEPARATORS:
            i += 1
        elif ch == "[":
            tokens.append(_Token("[", ch, i))
            i += 1
        elif ch == "]":
            start, i = i, i + 1
            while i < len(text) and text[i] in " \t":
                i += 1
            if i >= len(text) or text[i] not in "x*":
                raise SpecError(spec, min(i, len(text)), "a group ']' needs a repeat count "
                                "right after it, such as ]x2")
            i += 1
            digits_start = i
            while i < len(text) and text[i].isdigit():
                i += 1
            if i == digits_start or int(text[digits_start:i]) < 1:
                raise SpecError(spec, digits_start, "expected a repeat count of 1 or more "
                                "after 'x', such as ]x2")
            tokens.append(_Token("]", text[start:i], start, int(text[digits_start:i])))
        elif ch in _WORD_CHARS:
            start = i
            while i < len(text) and text[i] in _WORD_CHARS:
                i += 1
            tokens.append(_Token("word", text[start:i], start))
        else:
            raise SpecError(spec, i, f"unexpected character {ch!r}; layers are words such as "
                            "conv32k3, relu, maxpool2, fc10, separated by spaces or '-'")
    return tokens


# --- parser ------------------------------------------------------------------------------------

class _Word:
    """A cursor over one layer word, for reading its name, numbers and options."""

    def __init__(self, spec: str, token: _Token):
        self.spec, self.text, self.start, self.i = spec, token.text, token.position, 0

    def error(self, message: str, at: int | None = None) -> SpecError:
        return SpecError(self.spec, self.start + (self.i if at is None else at), message)

    def done(self) -> bool:
        return self.i >= len(self.text)

    def letters(self) -> str:
        begin = self.i
        while not self.done() and (self.text[self.i].isalpha() or self.text[self.i] == "_"):
            self.i += 1
        return self.text[begin:self.i]

    def number(self, what: str, *, whole: bool = True, required: bool = True,
               least: int = 1) -> float | int | None:
        begin = self.i
        while not self.done() and (self.text[self.i].isdigit() or self.text[self.i] == "."):
            self.i += 1
        raw = self.text[begin:self.i]
        if not raw:
            if required:
                raise self.error(f"expected {what} here")
            return None
        try:
            value = int(raw) if whole else float(raw)
        except ValueError:
            raise self.error(f"{raw!r} is not {'a whole number' if whole else 'a number'} "
                             f"({what})", begin) from None
        if whole and value < least:
            raise self.error(f"{what} must be at least {least}, got {value}", begin)
        return value


def _parse_options(word: _Word, allowed: str) -> dict[str, int | str]:
    """Options after the main number: k3, s2, p1 / psame / pvalid, each at most once."""
    options: dict[str, int | str] = {}
    while not word.done():
        at = word.i
        key = word.letters()
        value: int | str | None
        if key in ("psame", "pvalid") and "p" in allowed:
            key, value = "p", key[1:]
        elif len(key) == 1 and key in allowed:
            value = word.number(f"the number after '{key}'", least=0 if key == "p" else 1)
        else:
            names = {"k": "k<kernel>", "s": "s<stride>", "p": "p<padding>"}
            expected = ", ".join(names[k] for k in allowed) or "nothing"
            shown = key or word.text[at]
            raise word.error(f"unexpected {shown!r} in {word.text!r}; options here: {expected}",
                             at)
        if key in options:
            raise word.error(f"option '{key}' given twice in {word.text!r}", at)
        if key == "p" and value == "same" and "k" not in allowed:
            raise word.error("pooling padding must be a number", at)
        options[key] = value
    return options


def _parse_layer(spec: str, token: _Token) -> SpecLayer:
    word = _Word(spec, token)
    name = word.letters()
    if name not in _LAYER_NAMES:
        raise word.error(f"unknown layer {name or token.text!r}"
                         f"{did_you_mean(name, list(_LAYER_NAMES))}", 0)
    kind = _LAYER_NAMES[name]
    layer = SpecLayer(kind, token.text, token.position)
    if kind == "conv":
        width = word.number("the number of filters (as in conv32)")
        options = _parse_options(word, "ksp")
        layer = replace(layer, width=width, kernel=options.get("k", 3),
                        stride=options.get("s", 1), padding=options.get("p", "valid"))
    elif kind == "pool":
        kernel = word.number("the pool size", required=False)
        kernel = 2 if kernel is None else kernel
        options = _parse_options(word, "sp")
        layer = replace(layer, pool="avg" if name == "avgpool" else "max", kernel=kernel,
                        stride=options.get("s", kernel), padding=options.get("p", 0))
    elif kind == "fc":
        layer = replace(layer, width=word.number("the number of units", required=False))
    elif kind == "dropout":
        rate = word.number("the dropout rate", whole=False, required=False)
        layer = replace(layer, rate=0.5 if rate is None else rate)
        if not 0 <= layer.rate < 1:
            raise word.error(f"dropout rate {layer.rate:g} must be in [0, 1)", len(name))
    elif kind == "lrn":
        size = word.number("the LRN size", required=False)
        layer = replace(layer, size=5 if size is None else size)
    elif kind == "act":
        slope = None
        if name == "leaky_relu":
            slope = word.number("the negative slope", whole=False, required=False)
        layer = replace(layer, activation=name, rate=slope)
    if not word.done():
        raise word.error(f"unexpected {word.text[word.i:]!r} after {name!r}")
    return layer


def _parse_items(spec: str, tokens: list[_Token], i: int,
                 opening: _Token | None) -> tuple[list[SpecLayer], int]:
    layers: list[SpecLayer] = []
    while i < len(tokens):
        token = tokens[i]
        if token.kind == "[":
            group, i = _parse_items(spec, tokens, i + 1, token)
            close = tokens[i]
            if not group:
                raise SpecError(spec, token.position, "empty group '[]'")
            layers += group * close.count
            i += 1
        elif token.kind == "]":
            if opening is None:
                raise SpecError(spec, token.position, "']' without a matching '['")
            return layers, i
        elif "=" in token.text:
            raise SpecError(spec, token.position, f"setting {token.text!r} must come before "
                            "the first layer, e.g. 'init=kaiming conv32k3 ...'")
        else:
            layers.append(_parse_layer(spec, token))
            i += 1
    if opening is not None:
        raise SpecError(spec, opening.position, "this '[' is never closed by ']xN'")
    return layers, i


def parse_spec(spec: str) -> PatternSpec:
    """Parse a pattern spec into a PatternSpec, or raise SpecError pointing at the problem."""
    if not isinstance(spec, str) or not spec.strip():
        raise SpecError(str(spec), 0, "empty spec; write layers such as "
                        "'conv32k3 relu maxpool2 fc10'")
    tokens = _tokenize(spec)
    init = "default"
    i = 0
    while i < len(tokens) and tokens[i].kind == "word" and "=" in tokens[i].text:
        key, _, value = tokens[i].text.partition("=")
        if key != "init":
            raise SpecError(spec, tokens[i].position, f"unknown setting {key!r}; the only "
                            "setting is init=<kaiming|xavier|default>")
        if value not in _INITS:
            raise SpecError(spec, tokens[i].position + len(key) + 1,
                            f"unknown init {value!r}{did_you_mean(value, list(_INITS))}; "
                            f"choose from {', '.join(_INITS)}")
        init = _INITS[value]
        i += 1
    layers, _ = _parse_items(spec, tokens, i, None)
    if not layers:
        raise SpecError(spec, len(spec), "no layers after the settings")
    return PatternSpec(spec, tuple(layers), init)


# --- builder -----------------------------------------------------------------------------------

def _initialise(model: nn.Module, init: str) -> None:
    """He/MSRA (normal, fan-in, ReLU gain) or Glorot/Xavier (uniform) weights, zero biases."""
    if init == "default":
        return  # PyTorch's own: Kaiming-uniform with a = sqrt(5) for conv and linear layers
    for module in model.modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            if init == "kaiming":
                nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
            else:
                nn.init.xavier_uniform_(module.weight)
            if module.bias is not None:
                nn.init.zeros_(module.bias)


def build_from_spec(spec: str | PatternSpec, num_classes: int | None = None,
                    in_channels: int = 1, input_size: tuple[int, int] | int = 28) -> nn.Sequential:
    """Build the nn.Sequential a pattern spec describes, for images of in_channels × input_size.

    Layers are named by kind and count (conv1, relu1, pool1, ..., flatten, fc1). The last fc
    takes `num_classes` when written bare (`fc`), and must agree with it when written with a
    width. Sizes are checked as the model is built: a layer that would output an empty map
    raises a SpecError at its word.
    """
    parsed = parse_spec(spec) if isinstance(spec, str) else spec
    text = parsed.text
    height, width = as_hw(input_size)
    shape: tuple[int, ...] = (in_channels, height, width)
    counters: dict[str, int] = defaultdict(int)
    modules: list[tuple[str, nn.Module]] = []
    fc_layers = [layer for layer in parsed.layers if layer.kind == "fc"]
    last_fc = fc_layers[-1] if fc_layers else None

    def add(prefix: str, module: nn.Module, numbered: bool = True) -> None:
        counters[prefix] += 1
        modules.append((f"{prefix}{counters[prefix]}" if numbered else prefix, module))

    def fail(layer: SpecLayer, message: str) -> SpecError:
        return SpecError(text, layer.position, message)

    def need_map(layer: SpecLayer) -> tuple[int, int, int]:
        if len(shape) != 3:
            raise fail(layer, f"{layer.word!r} needs a feature map, but the layers before it "
                       f"already flattened it to {shape[0]} values; move it before the first "
                       "fc/flatten/gap")
        return shape  # type: ignore[return-value]

    for layer in parsed.layers:
        if layer.kind == "conv":
            c, h, w = need_map(layer)
            k, s, p = layer.kernel, layer.stride, layer.padding
            if p == "same":
                if s != 1:
                    raise fail(layer, f"padding 'same' needs stride 1 (got s{s}); write the "
                               f"padding as a number, e.g. p{(k - 1) // 2}")
                padding: int | str = (k - 1) // 2 if k % 2 else "same"
                out_hw = (h, w)
            else:
                padding = 0 if p == "valid" else p
                try:
                    out_hw = (conv_output_size(h, k, padding, s, layer=layer.word),
                              conv_output_size(w, k, padding, s, layer=layer.word))
                except ModelError as e:
                    raise fail(layer, f"at input {format_shape((in_channels, height, width))} "
                               f"this layer gets {format_shape(shape)}: {e}") from None
            add("conv", nn.Conv2d(c, layer.width, k, stride=s, padding=padding))
            shape = (layer.width, *out_hw)
        elif layer.kind == "pool":
            c, h, w = need_map(layer)
            k, s, p = layer.kernel, layer.stride, layer.padding
            if p > k // 2:
                raise fail(layer, f"pool padding p{p} is more than half the window {k} "
                           "(PyTorch refuses it)")
            try:
                out_hw = (conv_output_size(h, k, p, s, layer=layer.word),
                          conv_output_size(w, k, p, s, layer=layer.word))
            except ModelError as e:
                raise fail(layer, f"at input {format_shape((in_channels, height, width))} this "
                           f"layer gets {format_shape(shape)}: {e}") from None
            pool_class = nn.MaxPool2d if layer.pool == "max" else nn.AvgPool2d
            add("pool", pool_class(k, stride=s, padding=p))
            shape = (c, *out_hw)
        elif layer.kind in ("flatten", "gap") or (layer.kind == "fc" and len(shape) == 3):
            c, h, w = need_map(layer)
            if layer.kind == "gap":
                add("gap", nn.AdaptiveAvgPool2d(1), numbered=False)
                h = w = 1
            add("flatten", nn.Flatten(), numbered=False)
            shape = (c * h * w,)
        if layer.kind == "fc":
            units = layer.width
            if layer is last_fc:
                if units is None:
                    units = 10 if num_classes is None else num_classes
                elif num_classes is not None and units != num_classes:
                    raise fail(layer, f"the last layer {layer.word!r} has {units} outputs but "
                               f"num_classes={num_classes}; write a bare 'fc' to take "
                               "num_classes")
            elif units is None:
                raise fail(layer, "only the last fc may omit its width (it takes "
                           "num_classes); write e.g. fc64")
            add("fc", nn.Linear(shape[0], units))
            shape = (units,)
        elif layer.kind == "dropout":
            add("drop", Dropout(layer.rate))
        elif layer.kind == "bn":
            add("bn", nn.BatchNorm2d(shape[0]) if len(shape) == 3 else nn.BatchNorm1d(shape[0]))
        elif layer.kind == "lrn":
            need_map(layer)
            add("lrn", nn.LocalResponseNorm(layer.size, alpha=1e-4, beta=0.75, k=2.0))
        elif layer.kind == "act":
            act_class = _ACTIVATIONS[layer.activation]
            module = act_class(layer.rate) if layer.rate is not None else act_class()
            add(layer.activation, module)
    final = parsed.layers[-1]
    if len(shape) != 1:
        raise fail(final, f"the spec ends with a {format_shape(shape)} feature map; end it "
                   "with fc (or gap) so the model outputs one score per class")
    if num_classes is not None and shape[0] != num_classes:
        raise fail(final, f"the model outputs {shape[0]} values but num_classes="
                   f"{num_classes}; end with a bare 'fc' to take num_classes")
    model = Sequential(OrderedDict(modules))
    _initialise(model, parsed.init)
    return model


@register_family("spec", placeholder="<pattern>", description="a model written in the pattern "
                 "grammar, e.g. 'spec:conv32k3 relu maxpool2 fc10' (docs/pattern-spec.md)")
def resolve_spec(text: str) -> tuple[ModelInfo, Any]:
    parsed = parse_spec(text)
    counts = defaultdict(int)
    for layer in parsed.layers:
        counts[layer.kind] += 1
    summary = ", ".join(f"{counts[k]} {k}" for k in ("conv", "pool", "fc") if counts[k])
    info = ModelInfo(f"spec:{text}", f"pattern spec ({summary})", (28, 28), 1,
                     parsed.num_classes or 10, "cnnlab pattern spec (docs/pattern-spec.md)")

    def build(num_classes: int, in_channels: int, input_size: tuple[int, int]) -> nn.Sequential:
        return build_from_spec(parsed, num_classes, in_channels, input_size)

    return info, build
