"""keras-gen models."""

from keras_gen.models.autoencoder import AutoEncoder
from keras_gen.models.base import GenerativeModel
from keras_gen.models.conditional import ConditionalGAN
from keras_gen.models.conditional import ConditionalVAE
from keras_gen.models.base import NonFiniteWeightsError
from keras_gen.models.base import check_finite_weights
from keras_gen.models.gan import GAN
from keras_gen.models.vae import VAE

__all__ = [
    "AutoEncoder",
    "ConditionalGAN",
    "ConditionalVAE",
    "GAN",
    "GenerativeModel",
    "NonFiniteWeightsError",
    "VAE",
    "check_finite_weights",
]
