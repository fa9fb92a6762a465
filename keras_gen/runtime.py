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
import numbers
import os

import numpy as np

SIGNATURE_KEY = "serving_default"
# The manifest versions this runner reads.
MANIFEST_VERSIONS = (1,)


class ManifestError(ValueError):
    """A manifest that is not valid JSON, lacks a field, or does not match its artefact."""


def load(path, num_threads=None):
    """Load a ``.tflite`` file or a SavedModel directory written by ``keras_gen.export``.

    Args:
        path: str, the artefact (its ``<path>.json`` manifest is read if present).
        num_threads: int or None, LiteRT CPU threads (TFLite only).

    Returns:
        A :class:`Runner`.

    Raises:
        FileNotFoundError: nothing at ``path``.
        ManifestError: the manifest is invalid or does not match the
            artefact (see ``docs/export.md``).
    """
    path = os.fspath(path).rstrip("/\\")
    if not os.path.exists(path):
        raise FileNotFoundError(f"No exported model at path={path!r}")
    if os.path.isdir(path):
        return SavedModelRunner(path)
    return TFLiteRunner(path, num_threads=num_threads)


def read_manifest(path):
    """The JSON manifest next to ``path`` as a dict, or None if there is none.

    Raises:
        ManifestError: the manifest is not valid JSON, a field is missing or
            has a bad value, or it does not describe the artefact at
            ``path`` (format, size). The message names the manifest's path.
    """
    path = os.fspath(path).rstrip("/\\")
    manifest = path + ".json"
    if not os.path.exists(manifest):
        return None
    try:
        with open(manifest, encoding="utf-8") as f:
            data = json.load(f)
    except json.JSONDecodeError as e:
        _manifest_error(manifest, f"it is not valid JSON ({e.msg} at line {e.lineno}, column {e.colno})")
    except (UnicodeDecodeError, IsADirectoryError) as e:
        _manifest_error(manifest, f"it cannot be read as a JSON file ({e})")
    _check_manifest(data, manifest, path)
    return data


def _manifest_error(manifest, problem):
    raise ManifestError(
        f"The manifest {manifest!r} does not describe its artefact: {problem}. "
        "Export the model again, or delete the manifest to run the artefact without one."
    )


def _is_int(value, minimum):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= minimum


def _check_tensors(data, key, manifest):
    entries = data.get(key)
    if not isinstance(entries, list) or not entries:
        _manifest_error(manifest, f"{key!r} must be a non-empty list. Received: {key}={entries!r}")
    for i, entry in enumerate(entries):
        where = f"{key}[{i}]"
        if not isinstance(entry, dict):
            _manifest_error(manifest, f"{where} must be an object. Received: {where}={entry!r}")
        if not isinstance(entry.get("name"), str) or not entry["name"]:
            _manifest_error(manifest, f"{where}.name must be a non-empty string. Received: {entry.get('name')!r}")
        shape = entry.get("shape")
        if not (
            isinstance(shape, list)
            and len(shape) >= 1
            and all(d is None or _is_int(d, 1) for d in shape)
        ):
            _manifest_error(
                manifest,
                f"{where}.shape must be a list of positive integers or null. Received: {shape!r}",
            )
    names = [entry["name"] for entry in entries]
    if len(set(names)) != len(names):
        _manifest_error(manifest, f"the names in {key!r} repeat. Received: {names}")


def _check_manifest(data, manifest, path):
    """ManifestError unless ``data`` is a manifest that fits the artefact at ``path``."""
    if not isinstance(data, dict):
        _manifest_error(manifest, f"it must hold a JSON object. Received: {type(data).__name__}")
    version = data.get("manifest_version")
    if version not in MANIFEST_VERSIONS or isinstance(version, bool):
        _manifest_error(
            manifest,
            f"manifest_version must be one of {list(MANIFEST_VERSIONS)} (a newer keras-gen may "
            f"have written it). Received: manifest_version={version!r}",
        )
    expected_format = "saved_model" if os.path.isdir(path) else "tflite"
    if data.get("format") != expected_format:
        _manifest_error(
            manifest,
            f"format must be {expected_format!r} for the {'directory' if os.path.isdir(path) else 'file'} "
            f"{path!r}. Received: format={data.get('format')!r}",
        )
    _check_tensors(data, "inputs", manifest)
    if len(data["inputs"]) != 1:
        _manifest_error(manifest, f"exported models have one input. Received: {len(data['inputs'])} inputs")
    _check_tensors(data, "outputs", manifest)
    for key in ("batch_size", "latent_dim"):
        value = data.get(key)
        if value is not None and not _is_int(value, 1):
            _manifest_error(manifest, f"{key} must be null or a positive integer. Received: {key}={value!r}")
    size = data.get("size_bytes")
    if size is not None:
        actual = artefact_size(path)
        if not _is_int(size, 0) or size != actual:
            _manifest_error(
                manifest,
                f"size_bytes={size!r} but the artefact has {actual} bytes (the artefact or the "
                "manifest was replaced or edited)",
            )


def artefact_size(path):
    """Bytes of a file, or of all files under a directory (a manifest's ``size_bytes``)."""
    if os.path.isdir(path):
        return sum(
            os.path.getsize(os.path.join(root, f)) for root, _, files in os.walk(path) for f in files
        )
    return os.path.getsize(path)


class Runner:
    """Common interface: ``runner(x)`` and ``runner.generate(n)``.

    Attributes:
        path: the artefact.
        manifest: dict or None (see ``docs/export.md``); checked against the
            artefact when loaded (:class:`ManifestError` if they differ).
        input_name: name of the single input.
        output_names: names of the outputs, in the exporter's order.
        batch_size: None (any batch) or the fixed batch size; larger or
            smaller batches are split and padded transparently.
    """

    def __init__(self, path):
        self.path = path
        self.manifest = read_manifest(path)
        self.batch_size = None if self.manifest is None else self.manifest.get("batch_size")

    def _use_signature(self, input_name, input_shape, output_names):
        """Take the artefact's own signature; check the manifest against it."""
        self.input_name, self.input_shape = input_name, input_shape
        self.output_names = sorted(output_names)
        manifest = self.manifest
        if manifest is not None:
            where = self.path + ".json"
            (entry,) = manifest["inputs"]
            if entry["name"] != input_name or list(entry["shape"][1:]) != list(input_shape[1:]):
                _manifest_error(
                    where,
                    f"its input is {entry['name']!r} of shape {entry['shape']}, the artefact's is "
                    f"{input_name!r} of shape {input_shape}",
                )
            names = [o["name"] for o in manifest["outputs"]]
            if sorted(names) != sorted(output_names):
                _manifest_error(
                    where,
                    f"its outputs are {names}, the artefact's are {sorted(output_names)}",
                )
            if input_shape[0] is not None and self.batch_size not in (None, input_shape[0]):
                _manifest_error(
                    where,
                    f"batch_size={self.batch_size} but the artefact's batch size is {input_shape[0]}",
                )
            self.output_names = names
        if self.batch_size is None and self.input_shape[0] is not None:
            self.batch_size = self.input_shape[0]

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
        input_name, detail = next(iter(inputs.items()))
        self._use_signature(
            input_name,
            [None if d < 0 else int(d) for d in detail["shape_signature"]],
            self._runner.get_output_details(),
        )

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
        input_name, spec = next(iter(kwargs.items()))
        self._use_signature(input_name, list(spec.shape.as_list()), self._fn.structured_outputs)

    def _run(self, x):
        out = self._fn(**{self.input_name: self._tf.constant(x)})
        return {k: v.numpy() for k, v in out.items()}
