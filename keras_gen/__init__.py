"""keras-gen: auto-encoders, VAEs and GANs for Keras 3 on any backend.

Public API:

* models: :class:`AutoEncoder`, :class:`VAE`, :class:`GAN`,
  :class:`ConditionalGAN`, :class:`ConditionalVAE`
* layers: :class:`Sampling`
* modules: ``keras_gen.networks`` (default encoders/decoders),
  ``keras_gen.data`` (datasets), ``keras_gen.losses`` (the source notes' formulas),
  ``keras_gen.backend`` (the backend-specific core), ``keras_gen.tuning``
  (keras-tuner search; imported, with keras_tuner, on first use),
  ``keras_gen.runtime`` (LiteRT / SavedModel runner),
  ``keras_gen.saving`` (``load_model`` naming a missing or damaged file),
  ``keras_gen.distribute`` (data-parallel training),
  ``keras_gen.latent`` (interpolation, attribute vectors, clustering, probe,
  compression), ``keras_gen.metrics`` (-ELBO, IW-NLL, FID/KID, PCA baseline);
* shipping: :func:`export`, :func:`export_for_mobile`.
"""

__version__ = "0.1.0"

from keras_gen import augment
from keras_gen import backend
from keras_gen import callbacks
from keras_gen import data
from keras_gen import distribute
from keras_gen import latent
from keras_gen import layers
from keras_gen import losses
from keras_gen import metrics
from keras_gen import networks
from keras_gen import runtime
from keras_gen import saving
from keras_gen.export import export
from keras_gen.export import export_for_mobile
from keras_gen.layers import Sampling
from keras_gen.models import VAE
from keras_gen.models import GAN
from keras_gen.models import AutoEncoder
from keras_gen.models import ConditionalGAN
from keras_gen.models import ConditionalVAE
from keras_gen.models import GenerativeModel
from keras_gen.models import NonFiniteWeightsError


def __getattr__(name):
    # keras_gen.tuning imports keras_tuner: loaded on first use, not here.
    if name == "tuning":
        import importlib

        return importlib.import_module("keras_gen.tuning")
    raise AttributeError(f"module 'keras_gen' has no attribute {name!r}")


__all__ = [
    "AutoEncoder",
    "ConditionalGAN",
    "ConditionalVAE",
    "GAN",
    "GenerativeModel",
    "NonFiniteWeightsError",
    "Sampling",
    "VAE",
    "augment",
    "backend",
    "callbacks",
    "data",
    "distribute",
    "export",
    "export_for_mobile",
    "latent",
    "layers",
    "losses",
    "metrics",
    "networks",
    "runtime",
    "saving",
    "tuning",
]
