"""Run exported keras-gen artefacts: NumPy in, NumPy out, no Keras needed.

This module imports only the standard library and NumPy at import time; a
``.tflite`` file is run with LiteRT (``ai_edge_litert``, falling back to
``tensorflow.lite`` when it is not installed), an ``.onnx`` file with
onnxruntime and a SavedModel with TensorFlow, each imported on first use. It
never imports Keras or the keras-gen models, so it can be copied on its own
into an inference service (``pip install ai-edge-litert numpy`` is all a
``.tflite`` needs, ``pip install onnxruntime numpy`` all an ``.onnx``).

Example:

    from keras_gen import runtime      # or: copy runtime.py and `import runtime`
    generator = runtime.load("saved_models/dcgan_digits_generator.tflite")
    images = generator.generate(16, seed=0)      # (16, 28, 28, 1) in [-1, 1]
    images = generator(z)                        # z: (n, latent_dim) float32
    codes = runtime.load("saved_models/vae_digits_encoder.tflite")(x)
    # -> {"z_mean": ..., "z_log_sigma": ...}
    cgan = runtime.load("saved_models/cgan_digits_generator.tflite")
    sevens = cgan.generate(16, labels=7, seed=0)    # a conditional artefact needs labels
    onnx_generator = runtime.load("saved_models/dcgan_digits_generator.onnx")  # onnxruntime
"""

import json
import math
import numbers
import os

import numpy as np

SIGNATURE_KEY = "serving_default"
# The manifest versions this runner reads: 1, and 2 (conditional artefacts:
# a second input and a `condition` block).
MANIFEST_VERSIONS = (1, 2)
# The name of a conditional artefact's second input.
CONDITION_INPUT = "condition"
# The parts of a keras-gen model an artefact can hold; a manifest's ``part``
# is one of them, or "model" for a plain keras.Model that is not z -> image.
PARTS = ("generator", "decoder", "encoder")
MANIFEST_PARTS = PARTS + ("model",)


_FORMAT_NAMES = {"saved_model": "SavedModel", "tflite": "TFLite", "onnx": "ONNX"}


class ManifestError(ValueError):
    """A manifest that is not valid JSON, lacks a field, or does not match its artefact."""


def load(path, num_threads=None):
    """Load a ``.tflite`` or ``.onnx`` file or a SavedModel directory written by ``keras_gen.export``.

    The kind is told from the artefact itself: a directory is a SavedModel,
    a file with the TFLite flatbuffer mark (``TFL3``) a TFLite file, any other
    file an ONNX file (see :func:`artefact_format`).

    Args:
        path: str, the artefact (its ``<path>.json`` manifest is read if present).
        num_threads: int or None, CPU threads of LiteRT / onnxruntime (not
            used for a SavedModel).

    Returns:
        A :class:`Runner`: :class:`TFLiteRunner`, :class:`OnnxRunner` or
        :class:`SavedModelRunner`.

    Raises:
        FileNotFoundError: nothing at ``path``.
        ManifestError: the manifest is invalid or does not match the
            artefact (see ``docs/export.md``).
        ImportError: the runtime the artefact needs (LiteRT, onnxruntime,
            TensorFlow) is not installed; the message names the package.
        ValueError: the file is not a model its runtime can load (an empty,
            truncated or foreign file).
    """
    path = os.fspath(path)
    path = path.rstrip("/\\") or path
    if not os.path.exists(path):
        raise FileNotFoundError(f"No exported model at path={path!r}")
    if num_threads is not None and (not _is_int(num_threads, 1)):
        raise ValueError(f"num_threads must be None or a positive integer. Received: num_threads={num_threads!r}")
    kind = artefact_format(path)
    if kind == "saved_model":
        return SavedModelRunner(path)
    if kind == "onnx":
        return OnnxRunner(path, num_threads=num_threads)
    return TFLiteRunner(path, num_threads=num_threads)


def artefact_format(path):
    """``"saved_model"`` (a directory), ``"tflite"`` or ``"onnx"`` (a file), from its content.

    A TFLite flatbuffer carries the identifier ``TFL3`` at bytes 4-8; a file
    without it is taken as ONNX when its name ends in ``.onnx`` or it starts
    like an ONNX protobuf (field 1, ``ir_version``: byte 0x08), else as
    TFLite (whose interpreter then reports what is wrong with it).
    """
    path = os.fspath(path)
    path = path.rstrip("/\\") or path
    if os.path.isdir(path):
        return "saved_model"
    with open(path, "rb") as f:
        head = f.read(8)
    if head[4:8] == b"TFL3":
        return "tflite"
    if path.lower().endswith(".onnx") or head[:1] == b"\x08":
        return "onnx"
    return "tflite"


def read_manifest(path):
    """The JSON manifest next to ``path`` as a dict, or None if there is none.

    Raises:
        ManifestError: the manifest is not valid JSON, a field is missing or
            has a bad value, or it does not describe the artefact at
            ``path`` (format, size). The message names the manifest's path.
    """
    path = os.fspath(path)
    path = path.rstrip("/\\") or path
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
        # keras-gen's exports take and give float32 only (inputs are cast to it)
        if entry.get("dtype", "float32") != "float32":
            _manifest_error(manifest, f"{where}.dtype must be 'float32'. Received: {entry.get('dtype')!r}")
        value_range = entry.get("value_range")
        if value_range is not None and not (
            isinstance(value_range, list)
            and len(value_range) == 2
            and all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in value_range)
            and all(math.isfinite(v) for v in value_range)
            and (value_range[0] < value_range[1] if key == "outputs" or i == 0 else value_range[0] <= value_range[1])
        ):
            _manifest_error(
                manifest,
                f"{where}.value_range must be null or [low, high], finite, low < high. "
                f"Received: {value_range!r}",
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
    expected_format = artefact_format(path)
    if data.get("format") != expected_format:
        _manifest_error(
            manifest,
            f"format must be {expected_format!r} for the {'directory' if os.path.isdir(path) else 'file'} "
            f"{path!r} (a {_FORMAT_NAMES[expected_format]} artefact). "
            f"Received: format={data.get('format')!r}",
        )
    _check_tensors(data, "inputs", manifest)
    _check_condition(data, manifest)
    _check_tensors(data, "outputs", manifest)
    part = data.get("part")
    if part is not None and part not in MANIFEST_PARTS:
        _manifest_error(manifest, f"part must be null or one of {list(MANIFEST_PARTS)}. Received: part={part!r}")
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


def _check_condition(data, manifest):
    """The inputs: one, or (version 2) a main input and the condition block's input."""
    inputs, condition = data["inputs"], data.get("condition")
    if condition is None:
        if len(inputs) != 1:
            _manifest_error(
                manifest,
                f"an artefact without a 'condition' has one input. Received: {len(inputs)} inputs",
            )
        return
    if data["manifest_version"] < 2:
        _manifest_error(manifest, "a 'condition' needs manifest_version 2. Received: manifest_version=1")
    if not isinstance(condition, dict) or condition.get("kind") not in ("classes", "attributes"):
        _manifest_error(
            manifest,
            f"condition must be an object with kind 'classes' or 'attributes'. Received: condition={condition!r}",
        )
    size = condition.get("size")
    if not _is_int(size, 1):
        _manifest_error(manifest, f"condition.size must be a positive integer. Received: size={size!r}")
    if condition["kind"] == "classes" and condition.get("num_classes") != size:
        _manifest_error(
            manifest,
            f"condition.num_classes must equal condition.size ({size}). "
            f"Received: num_classes={condition.get('num_classes')!r}",
        )
    names = condition.get("names")
    if names is not None and not (
        isinstance(names, list) and len(names) == size and all(isinstance(n, str) for n in names)
    ):
        _manifest_error(manifest, f"condition.names must be null or a list of {size} strings. Received: names={names!r}")
    if len(inputs) != 2 or inputs[1]["name"] != condition.get("input") or inputs[1]["shape"][1:] != [size]:
        _manifest_error(
            manifest,
            f"a conditional artefact has two inputs, the second named condition.input="
            f"{condition.get('input')!r} of shape [batch, {size}]. Received: inputs "
            f"{[(e['name'], e['shape']) for e in inputs]}",
        )
    value_range = inputs[1].get("value_range")
    if value_range is not None and not (
        isinstance(value_range, list)
        and len(value_range) == 2
        and all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in value_range)
        and value_range[0] <= value_range[1]
    ):
        _manifest_error(
            manifest,
            f"inputs[1].value_range must be null or [low, high]. Received: value_range={value_range!r}",
        )


def _shapes_agree(declared, actual):
    """Whether two shapes (lists, ``None`` for unknown) have the same rank and known sizes."""
    actual = list(actual)
    return len(declared) == len(actual) and all(
        a is None or d is None or int(a) == int(d) for d, a in zip(declared, actual)
    )


def artefact_size(path):
    """Bytes of a file, or of all files under a directory (a manifest's ``size_bytes``)."""
    if os.path.isdir(path):
        return sum(
            os.path.getsize(os.path.join(root, f)) for root, _, files in os.walk(path) for f in files
        )
    return os.path.getsize(path)


class Runner:
    """Common interface: ``runner(x)``, ``runner(z, labels)`` and ``runner.generate(n)``.

    Attributes:
        path: the artefact.
        manifest: dict or None (see ``docs/export.md``); checked against the
            artefact when loaded (:class:`ManifestError` if they differ).
        input_name: name of the main input (``latent``, ``image`` or ``input``).
        input_names: every input in the artefact's order: ``[input_name]``,
            or ``[input_name, "condition"]`` for a conditional artefact.
        condition: None for an unconditional artefact, else the manifest's
            ``condition`` dict (``kind`` ``"classes"`` with ``num_classes``,
            or ``"attributes"``; ``size``, ``names``). A two-input artefact
            without a manifest gets ``{"kind": "attributes", "size": k}``.
        output_names: names of the outputs, in the exporter's order.
        batch_size: None (any batch) or the fixed batch size; larger or
            smaller batches are split and padded transparently.
    """

    def __init__(self, path):
        self.path = path
        self.manifest = read_manifest(path)
        self.batch_size = None if self.manifest is None else self.manifest.get("batch_size")

    def _use_signature(self, inputs, output_names, ordered):
        """Take the artefact's own signature; check the manifest against it.

        ``inputs``: ``(name, shape)`` pairs, in the order of the artefact's
        input tensors when ``ordered`` (TFLite), else in any order;
        ``output_names``: a dict ``name -> shape`` (``None`` for an unknown
        dimension) or the names alone. The
        runner's input order is the manifest's (main input, then condition),
        whatever the tensor order; it feeds inputs by name.
        """
        shapes = {name: list(shape) for name, shape in inputs}
        names = [name for name, _ in inputs]
        self.output_names = sorted(output_names)
        manifest = self.manifest
        where = self.path + ".json"
        if manifest is not None:
            entries = manifest["inputs"]
            order = [entry["name"] for entry in entries]
            if sorted(order) != sorted(names):
                _manifest_error(where, f"its inputs are {order}, the artefact's are {sorted(names)}")
            for entry in entries:
                shape = shapes[entry["name"]]
                if list(entry["shape"][1:]) != list(shape[1:]):
                    _manifest_error(
                        where,
                        f"its input is {entry['name']!r} of shape {entry['shape']}, the artefact's is "
                        f"{entry['name']!r} of shape {shape}",
                    )
            indices = [entry.get("index") for entry in entries]
            if ordered and indices != [None] * len(entries) and indices != [names.index(n) for n in order]:
                _manifest_error(
                    where,
                    f"its inputs {order} have the tensor indices {indices}, the artefact's input "
                    f"tensors are {names} in this order",
                )
            names = [o["name"] for o in manifest["outputs"]]
            if sorted(names) != sorted(output_names):
                _manifest_error(
                    where,
                    f"its outputs are {names}, the artefact's are {sorted(output_names)}",
                )
            actual = output_names if isinstance(output_names, dict) else {}
            for entry in manifest["outputs"]:
                shape = actual.get(entry["name"])
                if shape is not None and not _shapes_agree(entry["shape"][1:], shape[1:]):
                    _manifest_error(
                        where,
                        f"its output is {entry['name']!r} of shape {entry['shape']}, the artefact's "
                        f"is {entry['name']!r} of shape {list(shape)}",
                    )
            self.output_names = names
            self.condition = manifest.get("condition")
            self._condition_range = entries[1].get("value_range") if len(entries) == 2 else None
        else:
            order = self._order_without_manifest(names, shapes)
            self.condition, self._condition_range = None, None
            if len(order) == 2:
                self.condition = {
                    "kind": "attributes",
                    "size": int(shapes[CONDITION_INPUT][-1]),
                    "names": None,
                    "input": CONDITION_INPUT,
                }
        self.input_names = order
        self.input_name = order[0]
        self.input_shape = shapes[order[0]]
        declared = None if manifest is None else manifest.get("latent_dim")
        if (declared is not None and manifest.get("part") in ("generator", "decoder")
                and len(self.input_shape) == 2 and self.input_shape[-1] != declared):
            _manifest_error(
                where,
                f"latent_dim={declared} but the artefact's {manifest['part']} takes codes of "
                f"shape {self.input_shape}",
            )
        self._input_shapes = shapes
        fixed = {s[0] for s in shapes.values() if s[0] is not None}
        if manifest is not None and fixed and self.batch_size not in (None, *fixed):
            _manifest_error(
                where,
                f"batch_size={self.batch_size} but the artefact's batch size is {min(fixed)}",
            )
        if self.batch_size is None and fixed:
            self.batch_size = min(fixed)

    @staticmethod
    def _order_without_manifest(names, shapes):
        if len(names) == 1:
            return names
        if len(names) == 2 and CONDITION_INPUT in names and len(shapes[CONDITION_INPUT]) == 2:
            return [n for n in names if n != CONDITION_INPUT] + [CONDITION_INPUT]
        raise ValueError(
            "Expected a model with one input, or two of which the second is named "
            f"{CONDITION_INPUT!r} with shape (batch, k). Received: inputs {names}"
        )

    @property
    def latent_dim(self):
        """Size of the latent input (generators / decoders), from the manifest."""
        if self.manifest is not None and self.manifest.get("latent_dim"):
            return int(self.manifest["latent_dim"])
        return int(self.input_shape[-1])

    def __call__(self, x, labels=None):
        """Run the model on ``x`` (NumPy, batch first; cast to float32).

        Args:
            x: the main input (latent vectors, or images for an encoder).
            labels: for a conditional artefact (``self.condition`` not None),
                one label per row of ``x``, see :meth:`condition_vectors`;
                must be None for an unconditional one.

        Returns:
            A NumPy array for a single-output model (generator, decoder, AE
            encoder), else a dict ``name -> array`` (VAE encoder:
            ``z_mean``, ``z_log_sigma``).

        Raises:
            ValueError: ``x`` has the wrong shape; labels are missing for a
                conditional artefact, given to an unconditional one, or out
                of range / of the wrong shape.
        """
        try:
            with np.errstate(over="ignore"):  # beyond float32: inf, refused by name below
                x = np.asarray(x, dtype=np.float32)
        except (TypeError, ValueError) as error:
            raise ValueError(f"Input must be an array of numbers. Received: {_brief(x)} ({error})") from None
        expected = list(self.input_shape[1:])
        if x.ndim != len(expected) + 1 or list(x.shape[1:]) != expected:
            raise ValueError(
                f"Input must have shape (batch, {', '.join(map(str, expected))}). "
                f"Received: shape {x.shape}"
            )
        if len(x) == 0:
            raise ValueError(f"Input must hold at least one row. Received: shape {x.shape}")
        finite = np.isfinite(x).reshape(len(x), -1).all(axis=1)
        if not finite.all():  # float32: values beyond 3.4e38 are inf here too
            raise ValueError(
                f"Input must be finite (within float32); {int((~finite).sum())} of {len(x)} rows hold "
                f"NaN or Inf (the first is row {int(np.argmin(finite))})"
            )
        feeds = {self.input_name: x}
        if self.condition is None:
            if labels is not None:
                raise ValueError(
                    f"labels must be None: the artefact {self.path!r} is unconditional (it has "
                    f"one input, {self.input_name!r}). Received: labels={_brief(labels)}"
                )
        else:
            feeds[CONDITION_INPUT] = self.condition_vectors(labels, len(x))
        if self.batch_size is None:
            outputs = self._run(feeds)
        else:
            outputs = self._run_fixed(feeds, self.batch_size)
        if len(self.output_names) == 1:
            return outputs[self.output_names[0]]
        return outputs

    run = __call__

    def generate(self, n=None, z=None, seed=None, labels=None):
        """Images from latent vectors: ``z`` given, or ``n`` draws of z ~ N(0, I).

        Args:
            n: int, number of images when ``z`` is None. For a conditional
                artefact it defaults to the number of labels. With ``z``,
                None or ``len(z)`` (anything else is a ValueError).
            z: array ``(n, latent_dim)`` or None.
            seed: int or None, seed of NumPy's generator for the draw (only
                without ``z``).
            labels: required for a conditional artefact, None otherwise; see
                :meth:`condition_vectors` (one class id or vector is used
                for all n images).
        """
        if z is None:
            if n is None and labels is not None and self.condition is not None:
                labels = self.condition_vectors(labels)
                n = len(labels)
            if n is None or not _is_int(n, 1):
                raise ValueError(f"Pass z or a positive integer n. Received: n={n!r}")
            if seed is not None and not _is_int(seed, 0):
                raise ValueError(f"seed must be None or an integer >= 0. Received: seed={seed!r}")
            z = np.random.default_rng(seed).standard_normal((int(n), self.latent_dim))
        elif n is not None and (not _is_int(n, 1) or np.ndim(z) < 1 or int(n) != len(z)):
            raise ValueError("n must be None or the number of rows of z when z is given. "
                             f"Received: n={n!r} with z of shape {np.shape(z)}")
        elif seed is not None:
            raise ValueError("seed draws z, so it applies only without z. "
                             f"Received: seed={seed!r} with z of shape {np.shape(z)}")
        with np.errstate(over="ignore"):  # beyond float32: inf, refused by name
            z = np.asarray(z, dtype=np.float32)
        return self(z, labels)

    def condition_vectors(self, labels, n=None):
        """The float32 ``(n, k)`` condition input for ``labels``, checked against the manifest.

        Args:
            labels: for ``condition["kind"] == "classes"``: integer class
                ids, shape ``(n,)`` or a single id, in ``[0, num_classes)``,
                turned into one-hot vectors; or vectors ``(n, k)`` in
                [0, 1] (one-hot or mixtures). For ``"attributes"``: vectors
                ``(n, k)``, or one vector ``(k,)``; finite, and inside the
                manifest's ``value_range`` for the condition if it has one.
            n: int or None, the batch the labels are for; a single id or
                vector is repeated n times.

        Raises:
            ValueError: the artefact is unconditional; labels are None, of
                the wrong shape or count, or out of range.
            TypeError: labels are not numbers, or float class ids.
        """
        cond = self.condition
        if cond is None:
            raise ValueError(
                f"labels must be None: the artefact {self.path!r} is unconditional. "
                f"Received: labels={_brief(labels)}"
            )
        k, kind = int(cond["size"]), cond["kind"]
        if kind == "classes":
            wanted = f"class ids in [0, {k}) of shape (n,), or one-hot vectors of shape (n, {k})"
        else:
            wanted = f"attribute vectors of shape (n, {k}) or ({k},)"
        if labels is None:
            raise ValueError(
                f"labels are required: the artefact {self.path!r} is conditional "
                f"({_describe(cond)}). Pass labels= {wanted}. Received: labels=None"
            )
        arr = np.asarray(labels)
        if arr.dtype.kind not in "biuf":
            raise TypeError(f"labels must be numbers: {wanted}. Received: labels={_brief(labels)}")
        single = False
        if kind == "classes" and arr.ndim <= 1:
            if arr.dtype.kind not in "iu":
                raise TypeError(
                    f"labels must be integer class ids ({wanted}). Received: labels of dtype "
                    f"{arr.dtype} and shape {arr.shape}"
                )
            single = arr.ndim == 0
            ids = arr.reshape(-1)
            bad = np.flatnonzero((ids < 0) | (ids >= k))
            if bad.size:
                raise ValueError(
                    f"labels must be class ids in [0, {k}) for this artefact ({_describe(cond)}). "
                    f"Received: labels with {ids[bad[0]]} at index {int(bad[0])}"
                )
            vectors = np.eye(k, dtype=np.float32)[ids]
        else:
            if kind == "attributes" and arr.ndim == 1 and arr.shape[0] == k:
                arr, single = arr[None], True
            if arr.ndim != 2 or arr.shape[1] != k:
                raise ValueError(f"labels must be {wanted}. Received: labels of shape {arr.shape}")
            vectors = arr.astype(np.float32)
            if not np.isfinite(vectors).all():
                raise ValueError(f"labels must be finite. Received: labels={_brief(labels)}")
            value_range = self._condition_range
            if kind == "classes":
                value_range = [0.0, 1.0]
            if value_range is not None and vectors.size:
                lo, hi = float(vectors.min()), float(vectors.max())
                if lo < value_range[0] or hi > value_range[1]:
                    raise ValueError(
                        f"labels must lie in {value_range} for this artefact ({_describe(cond)}). "
                        f"Received: labels with min={lo:g}, max={hi:g}"
                    )
        if n is not None:
            if single:
                vectors = np.repeat(vectors, n, axis=0)
            elif len(vectors) != n:
                raise ValueError(
                    f"labels must hold one label per example ({n}). Received: {len(vectors)} labels"
                )
        elif single:
            raise ValueError(f"Pass n with a single label. Received: labels={_brief(labels)}, n=None")
        return vectors

    def _run_fixed(self, feeds, batch_size):
        chunks = []
        total = len(feeds[self.input_name])
        for start in range(0, total, batch_size):
            chunk = {name: x[start : start + batch_size] for name, x in feeds.items()}
            n = len(chunk[self.input_name])
            if n < batch_size:
                chunk = {
                    name: np.concatenate([x, np.zeros((batch_size - n,) + x.shape[1:], np.float32)])
                    for name, x in chunk.items()
                }
            out = self._run(chunk)
            chunks.append({k: v[:n] for k, v in out.items()})
        return {k: np.concatenate([c[k] for c in chunks]) for k in self.output_names}


def _describe(condition):
    names = condition.get("names")
    what = (
        f"{condition['size']} classes" if condition["kind"] == "classes" else f"{condition['size']} attributes"
    )
    return what + (f": {', '.join(names)}" if names else "")


def _first_line(error):
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[0][:300] if lines else type(error).__name__


def _brief(value):
    """A short repr for error messages (large arrays are summarised)."""
    if isinstance(value, np.ndarray) and value.size > 8:
        return f"array of shape {value.shape} and dtype {value.dtype}"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


class TFLiteRunner(Runner):
    """A ``.tflite`` model run by the LiteRT interpreter."""

    def __init__(self, path, num_threads=None):
        super().__init__(path)
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError:  # pragma: no cover - fallback when LiteRT is absent
            from tensorflow.lite import Interpreter
        try:
            self.interpreter = Interpreter(model_path=path, num_threads=num_threads)
        except ValueError as error:
            raise ValueError(f"path={path!r} is not a TFLite model LiteRT can load "
                             f"({_first_line(error)})") from None
        signatures = self.interpreter.get_signature_list()
        key = SIGNATURE_KEY if SIGNATURE_KEY in signatures else next(iter(signatures))
        self._runner = self.interpreter.get_signature_runner(key)
        # The signature's inputs in the order of the model's input tensors.
        position = {d["index"]: i for i, d in enumerate(self.interpreter.get_input_details())}
        inputs = sorted(
            self._runner.get_input_details().items(),
            key=lambda item: position.get(item[1]["index"], len(position) + item[1]["index"]),
        )
        self._use_signature(
            [(name, [None if d < 0 else int(d) for d in detail["shape_signature"]]) for name, detail in inputs],
            {name: [None if d < 0 else int(d) for d in detail.get("shape_signature", detail["shape"])]
             for name, detail in self._runner.get_output_details().items()},
            ordered=True,
        )

    def _run(self, feeds):
        return self._runner(**feeds)


class SavedModelRunner(Runner):
    """A SavedModel directory run by TensorFlow (``serving_default`` signature)."""

    def __init__(self, path):
        super().__init__(path)
        import tensorflow as tf

        self._tf = tf
        try:
            self._loaded = tf.saved_model.load(path)
            self._fn = self._loaded.signatures[SIGNATURE_KEY]
        except Exception as error:  # noqa: BLE001  (TensorFlow raises many kinds for a bad folder)
            raise ValueError(
                f"path={path!r} is not a SavedModel TensorFlow can load (missing, truncated or "
                f"foreign files; {type(error).__name__}: {_first_line(error)})"
            ) from None
        _, kwargs = self._fn.structured_input_signature
        self._use_signature(
            [(name, list(spec.shape.as_list())) for name, spec in kwargs.items()],
            {name: spec.shape.as_list() for name, spec in self._fn.structured_outputs.items()},
            ordered=False,
        )

    def _run(self, feeds):
        out = self._fn(**{name: self._tf.constant(x) for name, x in feeds.items()})
        return {k: v.numpy() for k, v in out.items()}


class OnnxRunner(Runner):
    """An ``.onnx`` model run by onnxruntime (CPU), inputs fed by name."""

    def __init__(self, path, num_threads=None):
        super().__init__(path)
        try:
            import onnxruntime
        except ImportError as e:
            raise ImportError(
                f"Running the ONNX file {path!r} needs onnxruntime: pip install onnxruntime "
                f"(or pip install 'keras-gen[onnx]'). ({e})"
            ) from e
        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3
        if num_threads is not None:
            options.intra_op_num_threads = int(num_threads)
        try:
            self.session = onnxruntime.InferenceSession(
                path, sess_options=options, providers=["CPUExecutionProvider"]
            )
        except Exception as e:  # onnxruntime's own classes (InvalidProtobuf, ...), not ValueError
            detail = " ".join(str(e).split())
            raise ValueError(
                f"Expected an ONNX model onnxruntime can load. Received: path={path!r} "
                f"({type(e).__name__}: {detail})"
            ) from e
        for node in self.session.get_inputs() + self.session.get_outputs():
            if node.type != "tensor(float)":
                raise ValueError(
                    f"Expected an ONNX file with float32 inputs and outputs. Received: "
                    f"{node.name!r} of type {node.type} in {path!r}"
                )
        self._use_signature(
            [
                (node.name, [d if isinstance(d, int) and d > 0 else None for d in node.shape])
                for node in self.session.get_inputs()
            ],
            {node.name: [d if isinstance(d, int) and d > 0 else None for d in node.shape]
             for node in self.session.get_outputs()},
            ordered=True,
        )

    def _run(self, feeds):
        try:
            outputs = self.session.run(self.output_names, feeds)
        except Exception as e:  # onnxruntime's own classes (Fail, ...): e.g. a buffer it cannot allocate
            detail = " ".join(str(e).split())
            raise RuntimeError(f"onnxruntime failed to run {self.path!r} ({type(e).__name__}: {detail})") from e
        return dict(zip(self.output_names, outputs))
