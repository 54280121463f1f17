"""Explain: what a trained CNN learned and how it decides.

Feature maps (one layer, or every conv/pool layer as in the Keras book), first-layer filters,
filter patterns by gradient ascent, Grad-CAM and Grad-CAM++, occlusion maps, saliency, a t-SNE
of the penultimate features of a split, and the images that most excite a channel.

    from cnnlab.explain import explain, list_layers
    for layer in list_layers("runs/exp"):
        print(layer.name, layer.kind, layer.output_shape)
    e = explain("runs/exp", "digit.png", method="gradcam", out="gradcam.png")
"""

from cnnlab.explain.api import METHODS, default_out, explain, list_layers
from cnnlab.explain.target_layers import LayerError, LayerInfo, default_layer
from cnnlab.explain.result import Explanation

__all__ = ["METHODS", "Explanation", "LayerError", "LayerInfo", "default_layer", "default_out", "explain",
           "list_layers"]
