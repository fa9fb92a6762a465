"""Layers of keras-gen."""

from keras_gen.layers.minibatch_std import MinibatchStdDev
from keras_gen.layers.sampling import Sampling
from keras_gen.layers.spectral_norm import SpectralNormalization

__all__ = ["MinibatchStdDev", "Sampling", "SpectralNormalization"]
