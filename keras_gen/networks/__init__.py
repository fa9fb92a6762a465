"""Default networks for images (NHWC, float32): encoders, decoders, DCGAN G and D.

Each builder returns a functional `keras.Model` made only of standard Keras
layers, so it trains and saves under TensorFlow, JAX and PyTorch.
"""

from keras_gen.networks.conditional import conditional_dcgan_discriminator
from keras_gen.networks.conditional import conditional_dcgan_generator
from keras_gen.networks.conditional import conditional_decoder
from keras_gen.networks.conditional import conditional_encoder
from keras_gen.networks.conv import conv_decoder
from keras_gen.networks.conv import conv_encoder
from keras_gen.networks.dcgan import dcgan_discriminator
from keras_gen.networks.dcgan import dcgan_generator
from keras_gen.networks.dense import dense_decoder
from keras_gen.networks.dense import dense_encoder
from keras_gen.networks.factory import decoder
from keras_gen.networks.factory import encoder

__all__ = [
    "conditional_dcgan_discriminator",
    "conditional_dcgan_generator",
    "conditional_decoder",
    "conditional_encoder",
    "conv_decoder",
    "conv_encoder",
    "dcgan_discriminator",
    "dcgan_generator",
    "decoder",
    "dense_decoder",
    "dense_encoder",
    "encoder",
]
