"""The NumPy engine: how a CNN computes, in plain NumPy, checked against torch.

    from cnnlab.scratch import im2col, col2im, train_digits

    im2col / col2im          convolution as one matrix multiply, and its adjoint (`im2col`)
    train_digits             all of it training a small CNN on the 8×8 digits (`train`)

The rest is importable from its module:
    shapes                   conv_output_size: (W − F + 2P)/S + 1, floored like torch or strict
    naive                    naive_conv2d: the same convolution as readable nested loops
    layers                   Conv2d, MaxPool2d, AvgPool2d, ReLU, Linear, Flatten, Dropout,
                             Sequential: layers with hand-written backward passes
    loss, optim              SoftmaxCrossEntropy, SGD
    train                    digits_cnn, load_digits_split, DigitsResult, EpochStats

No torch in here: torch appears only in the tests and the benchmark, as the reference.
"""

from cnnlab.scratch.im2col import col2im, im2col
from cnnlab.scratch.train import train_digits

__all__ = ["col2im", "im2col", "train_digits"]
