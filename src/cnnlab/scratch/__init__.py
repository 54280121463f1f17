"""The NumPy engine: how a CNN computes, in plain NumPy, checked against torch.

    im2col / col2im          convolution as one matrix multiply, and its adjoint
    conv_output_size         (W − F + 2P)/S + 1, floored like torch or strict like CS231n
    naive_conv2d             the same convolution as readable nested loops
    Conv2d, MaxPool2d, AvgPool2d, ReLU, Linear, Flatten, Dropout, Sequential
                             layers with hand-written backward passes
    SoftmaxCrossEntropy, SGD the loss and the optimizer
    train_digits             all of it training a small CNN on the 8×8 digits

No torch in here: torch appears only in the tests and the benchmark, as the reference.
"""

from cnnlab.scratch.im2col import col2im, im2col
from cnnlab.scratch.layers import (AvgPool2d, Conv2d, Dropout, Flatten, Layer, Linear,
                                   MaxPool2d, ReLU, Sequential)
from cnnlab.scratch.loss import SoftmaxCrossEntropy
from cnnlab.scratch.naive import naive_conv2d, naive_conv2d_backward
from cnnlab.scratch.optim import SGD
from cnnlab.scratch.shapes import conv_output_size
from cnnlab.scratch.train import (DigitsResult, EpochStats, digits_cnn, load_digits_split,
                                  train_digits)

__all__ = [
    "im2col", "col2im", "conv_output_size", "naive_conv2d", "naive_conv2d_backward",
    "Layer", "Conv2d", "MaxPool2d", "AvgPool2d", "ReLU", "Linear", "Flatten", "Dropout",
    "Sequential", "SoftmaxCrossEntropy", "SGD",
    "train_digits", "digits_cnn", "load_digits_split", "DigitsResult", "EpochStats",
]
