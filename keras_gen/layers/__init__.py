"""Layers of keras-gen."""

from keras_gen.layers.minibatch_std import MinibatchStdDev
from keras_gen.layers.sampling import Sampling

__all__ = ["MinibatchStdDev", "Sampling"]
