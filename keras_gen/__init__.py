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

import os as _os
import sys as _sys


def _started_as_command():
    """Whether ``python -m keras_gen`` or the ``keras-gen`` script is importing the package.

    The command line (``keras_gen.cli``) imports Keras and its backend, which
    take seconds, only when a subcommand runs, so ``--help`` is instant; it
    calls :func:`_load_api` then. Any other ``import keras_gen`` loads the
    whole API at once (registering the serializable classes with Keras).
    """
    argv0 = _sys.argv[0] if _sys.argv else ""
    if argv0 == "-m":  # runpy imports the package before running its __main__
        args = list(getattr(_sys, "orig_argv", ()))
        for i, arg in enumerate(args):
            if arg == "-m":
                return args[i + 1 : i + 2] == ["keras_gen"]
            if arg.startswith("-m") and not arg.startswith("--"):
                return arg[2:] == "keras_gen"
        return False
    name = _os.path.basename(argv0)
    for suffix in ("-script.pyw", "-script.py", ".exe"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    return name == "keras-gen"


def _load_api():
    """Import the public API (Keras, the backend, the models) into this namespace."""
    global augment, backend, callbacks, data, distribute, latent, layers, losses
    global metrics, networks, runtime, saving, export, export_for_mobile, Sampling
    global VAE, GAN, AutoEncoder, ConditionalGAN, ConditionalVAE, GenerativeModel
    global NonFiniteWeightsError
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


_SUBMODULES = (
    "augment", "backend", "callbacks", "data", "distribute", "latent", "layers",
    "losses", "metrics", "networks", "runtime", "saving", "tuning",
)


def __getattr__(name):
    # keras_gen.tuning imports keras_tuner: loaded on first use, not here.
    # Started as a command, the package loads each submodule on first use
    # (`from keras_gen import runtime` imports NumPy only) and the rest of
    # the API when one of its names is first asked for.
    if name in _SUBMODULES:
        import importlib

        return importlib.import_module(f"keras_gen.{name}")
    if name in __all__:
        _load_api()
        return globals()[name]
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

if not _started_as_command():
    _load_api()
