"""Layers of the NumPy engine, each with a forward and a hand-written backward pass.

The contract, micrograd-small:

* ``forward(x)`` computes the output and keeps what backward will need.
* ``backward(dout)`` takes ∂loss/∂output, stores ∂loss/∂param in ``layer.grads`` (overwriting,
  not accumulating as torch does) and returns ∂loss/∂input.
* ``layer.params`` and ``layer.grads`` are dicts with the same keys (``"weight"``, ``"bias"``);
  the optimizer updates the ``params`` arrays in place.
* ``train()`` / ``eval()`` switch Dropout; ``output_shape(shape)`` checks a design without data.

Images are N×C×H×W like torch, and weights have torch's shapes (Conv2d K×C×F×F, Linear
out×in), so torch weights copy straight in. Parameters take the layer's ``dtype`` (float32 by
default, float64 for gradient checks) and inputs are cast to it.
"""

from __future__ import annotations

import math
from typing import Iterator

import numpy as np

from cnnlab.errors import ModelError
from cnnlab.scratch.im2col import IntOrPair, col2im, im2col
from cnnlab.scratch.shapes import as_pair, conv_output_size


class Layer:
    """Base class: a name for error messages, params/grads dicts and the train/eval switch."""

    def __init__(self, name: str | None = None):
        self.name = name
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        self.training = True

    @property
    def label(self) -> str:
        """``"Conv2d(conv1)"``: how error messages name this layer."""
        kind = type(self).__name__
        return f"{kind}({self.name})" if self.name else kind

    def __repr__(self) -> str:
        return self.label

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Compute the output and keep what `backward` needs; every layer defines it."""
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def backward(self, dout: np.ndarray) -> np.ndarray:
        """Given ∂L/∂output, fill ``self.grads`` and return ∂L/∂input; every layer defines it."""
        raise NotImplementedError(f"{type(self).__name__} must define backward()")

    def output_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        """Shape of the output for an input of ``shape``; raises `ModelError` if it cannot run."""
        return tuple(shape)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.forward(x)

    def train(self, mode: bool = True) -> "Layer":
        """Switch to training mode (Dropout active); ``train(False)`` is `eval`."""
        self.training = mode
        return self

    def eval(self) -> "Layer":
        """Switch to evaluation mode (Dropout passes inputs through)."""
        return self.train(False)

    def _cached(self, value):
        # Calling backward first is a usage slip; say which layer and what to do.
        if value is None:
            raise RuntimeError(f"{self.label}: backward() called before forward()")
        return value

    def _image_shape(self, shape: tuple[int, ...]) -> tuple[int, int, int, int]:
        if len(shape) != 4:
            raise ModelError(f"{self.label}: expected an N×C×H×W input, got shape "
                             f"{tuple(shape)}")
        return tuple(shape)

    def _check_images(self, x: np.ndarray, channels: int | None = None) -> np.ndarray:
        x = np.asarray(x)
        if x.ndim != 4 or (channels is not None and x.shape[1] != channels):
            want = f"N×{channels}×H×W" if channels is not None else "N×C×H×W"
            raise ModelError(f"{self.label}: expected input {want}, got shape {x.shape}")
        return x


def _uniform_init(rng: np.random.Generator, shape: tuple[int, ...], fan_in: int,
                  dtype) -> np.ndarray:
    # torch's default for Conv2d and Linear (kaiming_uniform with a=√5 reduces to this):
    # U(−1/√fan_in, 1/√fan_in) for weights and biases, so both engines start alike.
    bound = 1.0 / math.sqrt(fan_in)
    return rng.uniform(-bound, bound, size=shape).astype(dtype)


class Conv2d(Layer):
    """2-D convolution (cross-correlation, as in all deep learning libraries) via im2col.

    Forward, one matrix multiply::

        X_col = im2col(x)                       (C·F·F) × (N·H_out·W_out)
        out   = W_row @ X_col + b               W_row = weight.reshape(K, C·F·F)

    Backward, two matrix multiplies and a col2im, with ``G = dout`` reshaped to
    K × (N·H_out·W_out)::

        ∂L/∂W_row = G @ X_colᵀ      ∂L/∂b = Σ_columns G      ∂L/∂x = col2im(W_rowᵀ @ G)

    ``H_out = (H − F + 2P)/S + 1`` (F replaced by D·(F−1)+1 with dilation D), floored like torch
    unless ``strict=True``, which raises on a fractional size.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: IntOrPair,
                 stride: IntOrPair = 1, padding: IntOrPair = 0, dilation: IntOrPair = 1,
                 bias: bool = True, *, strict: bool = False, name: str | None = None,
                 dtype=np.float32, rng: np.random.Generator | None = None):
        super().__init__(name)
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size = as_pair(kernel_size, "kernel_size")
        self.stride = as_pair(stride, "stride")
        self.padding = as_pair(padding, "padding")
        self.dilation = as_pair(dilation, "dilation")
        self.strict = strict
        rng = rng if rng is not None else np.random.default_rng()
        fan_in = in_channels * self.kernel_size[0] * self.kernel_size[1]
        self.params["weight"] = _uniform_init(
            rng, (out_channels, in_channels, *self.kernel_size), fan_in, dtype)
        if bias:
            self.params["bias"] = _uniform_init(rng, (out_channels,), fan_in, dtype)
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}
        self._cols: np.ndarray | None = None
        self._x_shape: tuple[int, ...] | None = None

    def __repr__(self) -> str:
        (kh, kw), (sh, _), (ph, _) = self.kernel_size, self.stride, self.padding
        return (f"{self.label}: {self.in_channels}→{self.out_channels}, {kh}×{kw}, "
                f"stride {sh}, pad {ph}")

    def output_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        n, c, h, w = self._image_shape(shape)
        if c != self.in_channels:
            raise ModelError(f"{self.label}: expected {self.in_channels} input channels, got "
                             f"{c} (input shape {tuple(shape)})")
        (kh, kw), (sh, sw), (ph, pw), (dh, dw) = (self.kernel_size, self.stride,
                                                  self.padding, self.dilation)
        oh = conv_output_size(h, kh, sh, ph, dh, strict=self.strict, layer=self.label,
                              dim="height")
        ow = conv_output_size(w, kw, sw, pw, dw, strict=self.strict, layer=self.label,
                              dim="width")
        return n, self.out_channels, oh, ow

    def forward(self, x: np.ndarray) -> np.ndarray:
        weight = self.params["weight"]
        x = self._check_images(x, self.in_channels).astype(weight.dtype, copy=False)
        n, k, oh, ow = self.output_shape(x.shape)
        self._x_shape = x.shape
        self._cols = im2col(x, self.kernel_size, self.stride, self.padding, self.dilation)
        out = weight.reshape(k, -1) @ self._cols            # K × (N·H_out·W_out)
        if "bias" in self.params:
            out += self.params["bias"][:, None]
        # columns are ordered (n, i, j): K×N×H×W, then swap to torch's N×K×H×W (a view)
        return out.reshape(k, n, oh, ow).transpose(1, 0, 2, 3)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        cols = self._cached(self._cols)
        weight = self.params["weight"]
        k = weight.shape[0]
        g = dout.transpose(1, 0, 2, 3).reshape(k, -1)      # K × (N·H_out·W_out)
        self.grads["weight"] = (g @ cols.T).reshape(weight.shape)
        if "bias" in self.params:
            self.grads["bias"] = g.sum(axis=1)
        dcols = weight.reshape(k, -1).T @ g
        return col2im(dcols, self._x_shape, self.kernel_size, self.stride, self.padding,
                      self.dilation)


class _Pool2d(Layer):
    """Shared geometry of the pooling layers: every channel is pooled on its own.

    Pooling reuses im2col with the channels folded into the batch (N·C × 1 × H × W): each column
    is then one F×F window of one channel, and pooling is a reduction over the rows.
    """

    def __init__(self, kernel_size: IntOrPair, stride: IntOrPair | None = None,
                 padding: IntOrPair = 0, *, strict: bool = False, name: str | None = None):
        super().__init__(name)
        self.kernel_size = as_pair(kernel_size, "kernel_size")
        # torch's default: stride = kernel, non-overlapping windows
        self.stride = as_pair(stride if stride is not None else kernel_size, "stride")
        self.padding = as_pair(padding, "padding")
        self.strict = strict
        for f, p in zip(self.kernel_size, self.padding):
            # torch's rule too: more padding than half a window would allow windows that
            # hold only padding (−inf for max pooling).
            if p > f // 2:
                raise ModelError(f"{self.label}: padding {p} is more than half the kernel "
                                 f"size {f}; use padding ≤ {f // 2}")
        self._x_shape: tuple[int, ...] | None = None

    def __repr__(self) -> str:
        return (f"{self.label}: {self.kernel_size[0]}×{self.kernel_size[1]}, "
                f"stride {self.stride[0]}, pad {self.padding[0]}")

    def output_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        n, c, h, w = self._image_shape(shape)
        (kh, kw), (sh, sw), (ph, pw) = self.kernel_size, self.stride, self.padding
        oh = conv_output_size(h, kh, sh, ph, strict=self.strict, layer=self.label, dim="height")
        ow = conv_output_size(w, kw, sw, pw, strict=self.strict, layer=self.label, dim="width")
        return n, c, oh, ow

    def _windows(self, x: np.ndarray, pad_value: float) -> np.ndarray:
        """(F·F) × (N·C·H_out·W_out): one column per window of one channel.

        Callers run `output_shape` first, so a bad shape is reported with this layer's name.
        """
        n, c, h, w = x.shape
        self._x_shape = x.shape
        return im2col(x.reshape(n * c, 1, h, w), self.kernel_size, self.stride, self.padding,
                      pad_value=pad_value)

    def _to_image(self, dcols: np.ndarray) -> np.ndarray:
        n, c, h, w = self._cached(self._x_shape)
        dx = col2im(dcols, (n * c, 1, h, w), self.kernel_size, self.stride, self.padding)
        return dx.reshape(n, c, h, w)


def _as_float(x: np.ndarray) -> np.ndarray:
    return x if x.dtype.kind == "f" else x.astype(np.float64)


class MaxPool2d(_Pool2d):
    """Max pooling: ``out[n, c, i, j] = max over the F×F window at (i·S, j·S)``.

    Backward routes each upstream gradient to the one input that was the maximum (the first
    one on ties, like torch); with overlapping windows (S < F) an input that wins several
    windows collects the sum. Padding is −inf, so it never wins.
    """

    def __init__(self, kernel_size: IntOrPair, stride: IntOrPair | None = None,
                 padding: IntOrPair = 0, *, strict: bool = False, name: str | None = None):
        super().__init__(kernel_size, stride, padding, strict=strict, name=name)
        self._argmax: np.ndarray | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = _as_float(self._check_images(x))
        n, c, oh, ow = self.output_shape(x.shape)
        cols = self._windows(x, pad_value=-np.inf)
        self._argmax = cols.argmax(axis=0)
        out = cols[self._argmax, np.arange(cols.shape[1])]
        return out.reshape(n, c, oh, ow)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        argmax = self._cached(self._argmax)
        dcols = np.zeros((self.kernel_size[0] * self.kernel_size[1], argmax.size),
                         dtype=dout.dtype)
        dcols[argmax, np.arange(argmax.size)] = dout.reshape(-1)
        return self._to_image(dcols)


class AvgPool2d(_Pool2d):
    """Average pooling: ``out[n, c, i, j] = mean of the F×F window at (i·S, j·S)``.

    Backward spreads each upstream gradient evenly, ``dout / F²``, over its window.
    ``count_include_pad=True`` (torch's default) divides by F² even where the window covers
    padding zeros; ``False`` divides by the number of real pixels in the window.
    """

    def __init__(self, kernel_size: IntOrPair, stride: IntOrPair | None = None,
                 padding: IntOrPair = 0, count_include_pad: bool = True, *,
                 strict: bool = False, name: str | None = None):
        super().__init__(kernel_size, stride, padding, strict=strict, name=name)
        self.count_include_pad = count_include_pad
        self._divisor: np.ndarray | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = _as_float(self._check_images(x))
        n, c, oh, ow = self.output_shape(x.shape)
        cols = self._windows(x, pad_value=0.0)
        if self.count_include_pad:
            divisor = np.full(oh * ow, self.kernel_size[0] * self.kernel_size[1], x.dtype)
        else:
            # windows of an all-ones image padded with zeros count the real pixels
            ones = np.ones((1, 1, *x.shape[2:]), dtype=x.dtype)
            divisor = im2col(ones, self.kernel_size, self.stride, self.padding).sum(axis=0)
        self._divisor = divisor
        out = cols.sum(axis=0).reshape(n * c, oh * ow) / divisor
        return out.reshape(n, c, oh, ow)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        divisor = self._cached(self._divisor)
        n, c, oh, ow = dout.shape
        share = (dout.reshape(n * c, oh * ow) / divisor).reshape(1, -1)
        rows = self.kernel_size[0] * self.kernel_size[1]
        return self._to_image(np.broadcast_to(share, (rows, share.shape[1])))


class ReLU(Layer):
    """``max(0, x)``; the gradient passes where ``x > 0`` and is 0 elsewhere (also at 0)."""

    def __init__(self, name: str | None = None):
        super().__init__(name)
        self._mask: np.ndarray | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._mask = x > 0
        return np.where(self._mask, x, 0).astype(x.dtype, copy=False)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return dout * self._cached(self._mask)


class Linear(Layer):
    """Fully connected layer ``y = x Wᵀ + b`` with ``W`` of shape out×in (torch's layout).

    Backward: ``∂L/∂W = doutᵀ x``, ``∂L/∂b = Σ_n dout``, ``∂L/∂x = dout W``.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, *,
                 name: str | None = None, dtype=np.float32,
                 rng: np.random.Generator | None = None):
        super().__init__(name)
        self.in_features, self.out_features = in_features, out_features
        rng = rng if rng is not None else np.random.default_rng()
        self.params["weight"] = _uniform_init(rng, (out_features, in_features), in_features,
                                              dtype)
        if bias:
            self.params["bias"] = _uniform_init(rng, (out_features,), in_features, dtype)
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}
        self._x: np.ndarray | None = None

    def __repr__(self) -> str:
        return f"{self.label}: {self.in_features}→{self.out_features}"

    def output_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        if len(shape) != 2 or shape[1] != self.in_features:
            raise ModelError(f"{self.label}: expected input N×{self.in_features}, got shape "
                             f"{tuple(shape)}; check the Flatten size (C·H·W) before this layer")
        return shape[0], self.out_features

    def forward(self, x: np.ndarray) -> np.ndarray:
        weight = self.params["weight"]
        x = np.asarray(x)
        self.output_shape(x.shape)
        self._x = x = x.astype(weight.dtype, copy=False)
        out = x @ weight.T
        if "bias" in self.params:
            out += self.params["bias"]
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        x = self._cached(self._x)
        self.grads["weight"] = dout.T @ x
        if "bias" in self.params:
            self.grads["bias"] = dout.sum(axis=0)
        return dout @ self.params["weight"]


class Flatten(Layer):
    """N×C×H×W → N×(C·H·W), in C, H, W order like torch; backward reshapes back."""

    def __init__(self, name: str | None = None):
        super().__init__(name)
        self._shape: tuple[int, ...] | None = None

    def output_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        return shape[0], math.prod(shape[1:])

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._shape = x.shape
        return x.reshape(x.shape[0], -1)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return dout.reshape(self._cached(self._shape))


class Dropout(Layer):
    """Inverted dropout: in training, zero each value with probability ``p`` and scale the
    survivors by ``1/(1 − p)`` so the expected output equals the input; in eval, identity.

    Backward multiplies by the same mask. ``rng`` makes the masks reproducible.
    """

    def __init__(self, p: float = 0.5, *, name: str | None = None,
                 rng: np.random.Generator | None = None):
        super().__init__(name)
        if not 0.0 <= p < 1.0:
            raise ModelError(f"{self.label}: drop probability p = {p} must be in [0, 1)")
        self.p = p
        self.rng = rng if rng is not None else np.random.default_rng()
        self._mask: np.ndarray | None = None

    def __repr__(self) -> str:
        return f"{self.label}: p={self.p}"

    def forward(self, x: np.ndarray) -> np.ndarray:
        if not self.training or self.p == 0.0:
            self._mask = np.ones((), dtype=x.dtype)  # broadcasts: gradient passes unchanged
            return x
        keep = self.rng.random(x.shape) >= self.p
        self._mask = (keep / (1.0 - self.p)).astype(x.dtype)
        return x * self._mask

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return dout * self._cached(self._mask)


class Sequential(Layer):
    """Layers run in order; backward runs them in reverse.

    ``params`` and ``grads`` are flat dicts keyed ``"<layer>.<param>"`` where ``<layer>`` is
    the layer's own name or its position (``"0.weight"``, as torch's ``nn.Sequential`` names
    them), holding the layers' own arrays, so an optimizer can update any model through them.
    Unnamed layers are labelled ``"layer <i>"`` in error messages.
    """

    def __init__(self, *layers: Layer, name: str | None = None):
        super().__init__(name)
        self.layers = list(layers)
        self.keys = [layer.name or str(i) for i, layer in enumerate(self.layers)]
        if len(set(self.keys)) != len(self.keys):
            raise ModelError(f"{self.label}: layer names must be unique, got {self.keys}")
        for i, layer in enumerate(self.layers):
            if layer.name is None:
                layer.name = f"layer {i}"

    def __repr__(self) -> str:
        inner = "\n".join(f"  ({key}) {layer!r}" for key, layer in zip(self.keys, self.layers))
        return f"{self.label}(\n{inner}\n)"

    def __len__(self) -> int:
        return len(self.layers)

    def __iter__(self) -> Iterator[Layer]:
        return iter(self.layers)

    def __getitem__(self, index: int) -> Layer:
        return self.layers[index]

    @property
    def params(self) -> dict[str, np.ndarray]:  # type: ignore[override]
        """All layers' parameters under ``"<layer>.<param>"`` keys (the layers' own arrays)."""
        return {f"{key}.{p}": v for key, layer in zip(self.keys, self.layers)
                for p, v in layer.params.items()}

    @params.setter
    def params(self, value: dict) -> None:
        # Layer.__init__ assigns an empty dict; a container's params live in its layers.
        if value:
            raise AttributeError("Sequential.params is read-only; set each layer's params")

    @property
    def grads(self) -> dict[str, np.ndarray]:  # type: ignore[override]
        """All layers' gradients from the last `backward`, keyed like `params`."""
        return {f"{key}.{p}": v for key, layer in zip(self.keys, self.layers)
                for p, v in layer.grads.items()}

    @grads.setter
    def grads(self, value: dict) -> None:
        if value:
            raise AttributeError("Sequential.grads is read-only; set each layer's grads")

    def train(self, mode: bool = True) -> "Sequential":
        self.training = mode
        for layer in self.layers:
            layer.train(mode)
        return self

    def output_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        """Chain every layer's output shape: raises at the first layer that cannot run."""
        for layer in self.layers:
            shape = layer.output_shape(shape)
        return shape

    def forward(self, x: np.ndarray) -> np.ndarray:
        for layer in self.layers:
            x = layer.forward(x)
        return x

    def backward(self, dout: np.ndarray) -> np.ndarray:
        for layer in reversed(self.layers):
            dout = layer.backward(dout)
        return dout

    def num_params(self) -> int:
        """Total number of parameter values."""
        return sum(v.size for v in self.params.values())
