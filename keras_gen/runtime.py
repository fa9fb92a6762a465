"""Run exported keras-gen artefacts: NumPy in, NumPy out, no Keras needed.

This module imports only the standard library and NumPy at import time; a
``.tflite`` file is run with LiteRT (``ai_edge_litert``, falling back to
``tensorflow.lite`` when it is not installed) and a SavedModel with
TensorFlow, each imported on first use. It never imports Keras or the
keras-gen models, so it can be copied on its own into an inference service
(``pip install ai-edge-litert numpy`` is all a ``.tflite`` needs).

Example:

    from keras_gen import runtime      # or: copy runtime.py and `import runtime`
    generator = runtime.load("saved_models/dcgan_digits_generator.tflite")
    images = generator.generate(16, seed=0)      # (16, 28, 28, 1) in [-1, 1]
    images = generator(z)                        # z: (n, latent_dim) float32
    codes = runtime.load("saved_models/vae_digits_encoder.tflite")(x)
    # -> {"z_mean": ..., "z_log_sigma": ...}
"""

import json
import os

import numpy as np

SIGNATURE_KEY = "serving_default"


def load(path, num_threads=None):
    """Load a ``.tflite`` file or a SavedModel directory written by ``keras_gen.export``.

    Args:
        path: str, the artefact (its ``<path>.json`` manifest is read if present).
        num_threads: int or None, LiteRT CPU threads (TFLite only).

    Returns:
        A :class:`Runner`.
    """
    path = os.fspath(path).rstrip("/\\")
    if not os.path.exists(path):
        raise FileNotFoundError(f"No exported model at path={path!r}")
    if os.path.isdir(path):
        return SavedModelRunner(path)
    return TFLiteRunner(path, num_threads=num_threads)


def read_manifest(path):
    """The JSON manifest next to ``path`` as a dict, or None if there is none."""
    manifest = os.fspath(path).rstrip("/\\") + ".json"
    if not os.path.exists(manifest):
        return None
    with open(manifest) as f:
        return json.load(f)


class Runner:
    """Common interface: ``runner(x)`` and ``runner.generate(n)``.

    Attributes:
        path: the artefact.
        manifest: dict or None (see ``docs/export.md``).
        input_name: name of the single input.
        output_names: names of the outputs, in the exporter's order.
        batch_size: None (any batch) or the fixed batch size; larger or
            smaller batches are split and padded transparently.
    """

    def __init__(self, path):
        self.path = path
        self.manifest = read_manifest(path)
        self.batch_size = None if self.manifest is None else self.manifest.get("batch_size")

    @property
    def latent_dim(self):
        """Size of the latent input (generators / decoders), from the manifest."""
        if self.manifest is not None and self.manifest.get("latent_dim"):
            return int(self.manifest["latent_dim"])
        return int(self.input_shape[-1])

    def __call__(self, x):
        """Run the model on ``x`` (NumPy, batch first; cast to float32).

        Returns:
            A NumPy array for a single-output model (generator, decoder, AE
            encoder), else a dict ``name -> array`` (VAE encoder:
            ``z_mean``, ``z_log_sigma``).
        """
        x = np.asarray(x, dtype=np.float32)
        expected = list(self.input_shape[1:])
        if x.ndim != len(expected) + 1 or list(x.shape[1:]) != expected:
            raise ValueError(
                f"Input must have shape (batch, {', '.join(map(str, expected))}). "
                f"Received: shape {x.shape}"
            )
        if self.batch_size is None:
            outputs = self._run(x)
        else:
            outputs = self._run_fixed(x, self.batch_size)
        if len(self.output_names) == 1:
            return outputs[self.output_names[0]]
        return outputs

    run = __call__

    def generate(self, n=None, z=None, seed=None):
        """Images from latent vectors: ``z`` given, or ``n`` draws of z ~ N(0, I).

        Args:
            n: int, number of images when ``z`` is None.
            z: array ``(n, latent_dim)`` or None.
            seed: int or None, seed of NumPy's generator for the draw.
        """
        if z is None:
            if n is None or int(n) <= 0:
                raise ValueError(f"Pass z or a positive n. Received: n={n!r}")
            z = np.random.default_rng(seed).standard_normal((int(n), self.latent_dim))
        return self(np.asarray(z, dtype=np.float32))

    def _run_fixed(self, x, batch_size):
        chunks = []
        for start in range(0, len(x), batch_size):
            chunk = x[start : start + batch_size]
            n = len(chunk)
            if n < batch_size:
                pad = np.zeros((batch_size - n,) + chunk.shape[1:], np.float32)
                chunk = np.concatenate([chunk, pad])
            out = self._run(chunk)
            chunks.append({k: v[:n] for k, v in out.items()})
        return {k: np.concatenate([c[k] for c in chunks]) for k in self.output_names}


class TFLiteRunner(Runner):
    """A ``.tflite`` model run by the LiteRT interpreter."""

    def __init__(self, path, num_threads=None):
        super().__init__(path)
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError:  # pragma: no cover - fallback when LiteRT is absent
            from tensorflow.lite import Interpreter
        self.interpreter = Interpreter(model_path=path, num_threads=num_threads)
        signatures = self.interpreter.get_signature_list()
        key = SIGNATURE_KEY if SIGNATURE_KEY in signatures else next(iter(signatures))
        self._runner = self.interpreter.get_signature_runner(key)
        inputs = self._runner.get_input_details()
        if len(inputs) != 1:
            raise ValueError(f"Expected a model with one input. Received: {list(inputs)}")
        self.input_name, detail = next(iter(inputs.items()))
        self.input_shape = [None if d < 0 else int(d) for d in detail["shape_signature"]]
        if self.manifest is not None:
            self.output_names = [o["name"] for o in self.manifest["outputs"]]
        else:
            self.output_names = sorted(self._runner.get_output_details())
        if self.batch_size is None and self.input_shape[0] is not None:
            self.batch_size = self.input_shape[0]

    def _run(self, x):
        return self._runner(**{self.input_name: x})


class SavedModelRunner(Runner):
    """A SavedModel directory run by TensorFlow (``serving_default`` signature)."""

    def __init__(self, path):
        super().__init__(path)
        import tensorflow as tf

        self._tf = tf
        self._loaded = tf.saved_model.load(path)
        self._fn = self._loaded.signatures[SIGNATURE_KEY]
        _, kwargs = self._fn.structured_input_signature
        if len(kwargs) != 1:
            raise ValueError(f"Expected a model with one input. Received: {list(kwargs)}")
        self.input_name, spec = next(iter(kwargs.items()))
        self.input_shape = list(spec.shape.as_list())
        if self.manifest is not None:
            self.output_names = [o["name"] for o in self.manifest["outputs"]]
        else:
            self.output_names = sorted(self._fn.structured_outputs)
        if self.batch_size is None and self.input_shape[0] is not None:
            self.batch_size = self.input_shape[0]

    def _run(self, x):
        out = self._fn(**{self.input_name: self._tf.constant(x)})
        return {k: v.numpy() for k, v in out.items()}
