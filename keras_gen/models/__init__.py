"""keras-gen models."""

from keras_gen.models.autoencoder import AutoEncoder
from keras_gen.models.base import GenerativeModel
from keras_gen.models.vae import VAE

__all__ = ["AutoEncoder", "GenerativeModel", "VAE"]
