"""Layers of keras-gen."""

from keras_gen.layers.fused import BatchNormalization
from keras_gen.layers.fused import Conv2D
from keras_gen.layers.fused import Conv2DTranspose
from keras_gen.layers.fused import with_fused_layers
from keras_gen.layers.fused import with_keras_layers
from keras_gen.layers.minibatch_std import MinibatchStdDev
from keras_gen.layers.sampling import Sampling
from keras_gen.layers.spectral_norm import SpectralNormalization

__all__ = [
    "BatchNormalization",
    "Conv2D",
    "Conv2DTranspose",
    "MinibatchStdDev",
    "Sampling",
    "SpectralNormalization",
    "with_fused_layers",
    "with_keras_layers",
]
