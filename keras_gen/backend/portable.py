"""Backend-neutral optimizer configs, so ``.keras`` files train on any backend.

Under ``KERAS_BACKEND=torch`` Keras replaces its optimizers by subclasses
living in ``keras.src.backend.torch.optimizers`` (``torch_adam.Adam``, ...)
that Keras does not export under a public name. Serialising one therefore
records that private module in the model's compile config, and loading the
file under TensorFlow or JAX imports the torch class again, whose update
step then fails on the other backend's variables (``TypeError: expected
Tensor ... got ResourceVariable``). Keras 3 has the same problem for plain
models.

This module rewrites such entries to the public ``keras.optimizers`` class
of the same name, which every backend builds its own way. It only compares
module-name strings with ``keras.src.backend.`` (the private package where
Keras keeps backend-specific classes) and resolves names through the public
``keras.optimizers`` namespace; nothing private is imported.
"""

import keras

_BACKEND_PACKAGE = "keras.src.backend."


def _public_optimizer_class(class_name):
    candidate = getattr(keras.optimizers, class_name, None)
    if isinstance(candidate, type) and issubclass(candidate, keras.optimizers.Optimizer):
        return candidate
    return None


def portable_config(config):
    """A copy of a serialised config with backend-specific optimizers made public.

    Every nested dict ``{"module": "keras.src.backend.<backend>...",
    "class_name": name, ...}`` whose ``name`` is a public optimizer of
    ``keras.optimizers`` gets ``module="keras.optimizers"`` and
    ``registered_name=None``, as Keras writes for the public class. Wrapped
    optimizers (``LossScaleOptimizer``'s inner optimizer) are rewritten too.
    Everything else is returned unchanged.

    Args:
        config: a value from ``keras.saving.serialize_keras_object`` or a
            compile config (dicts, lists and plain values).

    Returns:
        The rewritten copy (the argument is not modified).
    """
    if isinstance(config, dict):
        out = {key: portable_config(value) for key, value in config.items()}
        module = out.get("module")
        if (
            isinstance(module, str)
            and module.startswith(_BACKEND_PACKAGE)
            and _public_optimizer_class(out.get("class_name", "")) is not None
        ):
            out["module"] = "keras.optimizers"
            out["registered_name"] = None
        return out
    if isinstance(config, (list, tuple)):
        return type(config)(portable_config(value) for value in config)
    return config
