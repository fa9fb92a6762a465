"""Honest numbers for generative models: likelihood bounds, FID/KID, the PCA baseline.

* ``monte_carlo_negative_elbo`` and ``importance_weighted_nll``: a VAE's bound and the
  tighter importance-weighted estimate of -log p(x), in nats per example;
* ``fid`` / ``kid`` on the features of any Keras feature extractor, with
  offline extractors for digits (``digits_feature_extractor``) and for the
  RGB ``shapes`` dataset (``shapes_feature_extractor``, whose classifier
  also labels images: ``predict_attributes``), and the standard
  Inception-v3 features for RGB (``inception_v3_extractor``);
  ``select_extractor`` is the choice ``fid``/``kid`` make; ``fid_from_features``,
  ``kid_from_features`` and ``frechet_distance`` on arrays;
* ``pca_reconstruction_mse``: the source notes' first technique at the same
  bottleneck width, the baseline an auto-encoder must beat; and
  ``reconstruction_mse`` of a model, with the same per-pixel mean.

Reference: ../shared/seed/unsupervised_learning.md.
"""

from keras_gen.metrics.extractors import digits_feature_extractor
from keras_gen.metrics.extractors import extract_features
from keras_gen.metrics.extractors import inception_v3_extractor
from keras_gen.metrics.extractors import InceptionWeightsUnavailableError
from keras_gen.metrics.extractors import predict_attributes
from keras_gen.metrics.extractors import select_extractor
from keras_gen.metrics.extractors import shapes_feature_extractor
from keras_gen.metrics.feature_distance import fid
from keras_gen.metrics.feature_distance import fid_from_features
from keras_gen.metrics.feature_distance import frechet_distance
from keras_gen.metrics.feature_distance import kid
from keras_gen.metrics.feature_distance import kid_from_features
from keras_gen.metrics.likelihood import importance_weighted_nll
from keras_gen.metrics.likelihood import log_importance_weights
from keras_gen.metrics.likelihood import monte_carlo_negative_elbo
from keras_gen.metrics.likelihood import negative_elbo  # deprecated alias
from keras_gen.metrics.pca import pca_reconstruction_mse
from keras_gen.metrics.pca import reconstruction_mse

__all__ = [
    "InceptionWeightsUnavailableError",
    "digits_feature_extractor",
    "extract_features",
    "fid",
    "fid_from_features",
    "frechet_distance",
    "importance_weighted_nll",
    "inception_v3_extractor",
    "kid",
    "kid_from_features",
    "log_importance_weights",
    "monte_carlo_negative_elbo",
    "negative_elbo",
    "pca_reconstruction_mse",
    "predict_attributes",
    "reconstruction_mse",
    "select_extractor",
    "shapes_feature_extractor",
]
