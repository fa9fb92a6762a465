"""Layers of keras-gen."""

from keras_gen.layers.sampling import Sampling

__all__ = ["Sampling"]
