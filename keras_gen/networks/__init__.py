"""Default encoder and decoder networks for images (NHWC, float32).

Each builder returns a functional `keras.Model` made only of standard Keras
layers, so it trains and saves under TensorFlow, JAX and PyTorch.
"""

from keras_gen.networks.conv import conv_decoder
from keras_gen.networks.conv import conv_encoder
from keras_gen.networks.dense import dense_decoder
from keras_gen.networks.dense import dense_encoder
from keras_gen.networks.factory import decoder
from keras_gen.networks.factory import encoder

__all__ = [
    "conv_decoder",
    "conv_encoder",
    "decoder",
    "dense_decoder",
    "dense_encoder",
    "encoder",
]
