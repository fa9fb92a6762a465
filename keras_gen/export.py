"""Ship models: SavedModel and TFLite (LiteRT) artefacts with JSON manifests.

``export(model, path, format="tflite")`` writes one inference part of a
keras-gen model (a GAN's generator, a VAE's or AE's decoder or encoder) as a
TensorFlow SavedModel directory or a ``.tflite`` flatbuffer for the LiteRT
runtime, plus ``<path>.json``, a manifest that tells an app how to feed it.
``export_for_mobile(model, out_dir, name)`` writes the standard set (SavedModel
and float32 / float16 / dynamic-int8 TFLite) in one go. Load the artefacts with
``keras_gen.runtime`` (NumPy in, NumPy out, no Keras needed).

Both formats are TensorFlow graphs, so the conversion always runs on Keras'
TensorFlow backend. Under ``KERAS_BACKEND=tensorflow`` it runs in this
process; under ``jax`` or ``torch`` the part is saved to a temporary ``.keras``
file (backend-agnostic weights) and converted in a child Python process with
``KERAS_BACKEND=tensorflow``. Keras 3.15's own ``model.export(format="litert")``
refuses the JAX backend; this route works from any backend and the caller
never sees it. Everything backend-specific about export lives in this module.

This file is also run as a script in that child process (through
``runpy.run_path``, see ``_run_worker``), so it must not import
``keras_gen`` at module level: the worker then only imports Keras and
TensorFlow (and the modules that define custom layers of the part).
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np

FORMATS = ("saved_model", "tflite")
QUANTIZATIONS = (None, "float16", "dynamic_int8")
PARTS = ("generator", "decoder", "encoder")
MANIFEST_VERSION = 1
SIGNATURE_KEY = "serving_default"

# Documented tolerances (max absolute difference to the Keras model's outputs,
# for outputs of order 1: images in [0, 1] or [-1, 1], latent codes) that the
# tests check. float32 TFLite and SavedModel run the same float32 graph.
TOLERANCES = {None: 1e-5, "float16": 1e-2, "dynamic_int8": 1e-1}

# Layers that only move values around: skipped when looking for the output
# activation (a Dense(sigmoid) followed by a Reshape still outputs [0, 1]).
_SHAPE_ONLY_LAYERS = (
    "Reshape",
    "Flatten",
    "Cropping2D",
    "Permute",
    "Identity",
    "Dropout",
    "InputLayer",
)
_ACTIVATION_RANGES = {"sigmoid": [0.0, 1.0], "tanh": [-1.0, 1.0], "hard_sigmoid": [0.0, 1.0]}

# Child-process conversions (JAX / PyTorch callers): wall-clock limit.
_WORKER_TIMEOUT_S = 900


class ExportError(RuntimeError):
    """The conversion itself failed (the converter's message is attached)."""


# --------------------------------------------------------------- public API
def export(
    model,
    path,
    format="tflite",
    quantization=None,
    part=None,
    batch_size=None,
    value_range=None,
    overwrite=True,
):
    """Export one inference part of a model as a SavedModel or a TFLite file.

    What is exported (``part``):

    * ``keras_gen.GAN``: ``"generator"`` (default), z -> image.
    * ``keras_gen.VAE``: ``"decoder"`` (default), z -> image; ``"encoder"``,
      image -> ``z_mean``, ``z_log_sigma`` (the posterior's mean and log
      standard deviation; deterministic, no sampling op).
    * ``keras_gen.AutoEncoder``: ``"decoder"`` (default) or ``"encoder"``
      (image -> ``z``).
    * any other built ``keras.Model``: the model itself (``part`` must be
      None).

    The artefact has one signature, ``"serving_default"``, with one float32
    input named ``"latent"`` (generator / decoder), ``"image"`` (encoder) or
    ``"input"`` (plain model), and named float32 outputs: ``"image"``,
    ``"z"``, or ``"z_mean"`` and ``"z_log_sigma"`` (``"output"`` /
    ``"output_<i>"`` for a plain model). Next to it, ``<path>.json`` records
    the shapes, dtypes, names, value ranges, ``latent_dim``, the source
    backend, the Keras version and the quantization (see ``docs/export.md``).

    The TFLite file uses only builtin TFLite ops (no Flex / SELECT_TF_OPS), so
    it runs on the mobile LiteRT runtime; a model that needs other ops fails
    to convert with an ``ExportError`` naming them.

    Both files are written to a temporary path next to ``path`` and moved
    into place only once complete: a failure leaves nothing behind.

    Works under every Keras backend: on JAX and PyTorch the conversion runs in
    a TensorFlow-backend child process (a few seconds of start-up).

    Args:
        model: a built ``keras_gen.GAN``, ``VAE`` or ``AutoEncoder``, or a
            built ``keras.Model``.
        path: str or path-like, the artefact to write: a directory for
            ``"saved_model"``, a file (conventionally ``*.tflite``) for
            ``"tflite"``. Missing parent directories are created.
        format: ``"tflite"`` (default) or ``"saved_model"``.
        quantization: TFLite only. None (float32, default), ``"float16"``
            (float16 weights, float32 compute; about half the size) or
            ``"dynamic_int8"`` (int8 weights, activations quantized on the
            fly; about a quarter of the size). Tolerances:
            ``keras_gen.export.TOLERANCES``.
        part: None (the model's default, above), ``"generator"``,
            ``"decoder"`` or ``"encoder"``.
        batch_size: None (default) for a dynamic batch dimension, or a
            positive int to fix it (some mobile delegates want static
            shapes). ``keras_gen.runtime`` splits and pads larger batches.
        value_range: None or ``(low, high)``, the value range of the images
            (output of a generator / decoder, input of an encoder) recorded
            in the manifest. None infers it from the output activation of the
            decoder / generator (sigmoid: [0, 1], tanh: [-1, 1]), else records
            null.
        overwrite: bool, whether to replace an existing artefact at ``path``.
            Defaults to True.

    Returns:
        dict, the manifest that was written to ``<path>.json``.

    Example:

    >>> import keras, keras_gen, numpy as np, os, tempfile
    >>> from keras_gen import runtime
    >>> from keras_gen.export import export
    >>> g = keras.Sequential([keras.Input((4,)), keras.layers.Dense(64, activation="tanh"),
    ...                       keras.layers.Reshape((8, 8, 1))])
    >>> d = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(), keras.layers.Dense(1)])
    >>> gan = keras_gen.GAN(g, d, latent_dim=4)
    >>> path = os.path.join(tempfile.mkdtemp(), "generator.tflite")
    >>> manifest = export(gan, path, format="tflite")
    >>> manifest["inputs"][0]["shape"], manifest["outputs"][0]["value_range"]
    ([None, 4], [-1.0, 1.0])
    >>> sorted(os.listdir(os.path.dirname(path)))
    ['generator.tflite', 'generator.tflite.json']
    >>> runtime.load(path).generate(3, seed=0).shape
    (3, 8, 8, 1)
    """
    spec = _check_request(format, quantization, batch_size, value_range, overwrite)
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or path-like. Received: path={path!r}")
    target = _PartTarget.from_model(model, part, value_range)
    job = _Job(target, os.fspath(path), spec["format"], spec["quantization"], spec["batch_size"])
    (manifest,) = _run_jobs([target], [job], overwrite=spec["overwrite"])
    return manifest


def export_for_mobile(
    model,
    out_dir="saved_models",
    name=None,
    parts=None,
    formats=("saved_model", "tflite"),
    quantizations=(None, "float16", "dynamic_int8"),
    batch_size=None,
    value_range=None,
):
    """Write the standard artefacts of ``model`` into ``out_dir`` (one conversion run).

    For each part in ``parts`` (default: every part the model has: a GAN's
    generator; a VAE's / AE's decoder and encoder) writes
    ``<name>_<part>/`` (SavedModel) and ``<name>_<part>[_fp16|_int8].tflite``,
    each with its ``.json`` manifest. All conversions share one TensorFlow
    process, so this is much faster than calling :func:`export` for each.

    Args:
        model: a built keras-gen model, or a built ``keras.Model`` (exported
            whole; its role, e.g. ``"generator"``, is inferred as in :func:`export`).
        out_dir: str, directory (created if missing). Defaults to
            ``"saved_models"``.
        name: str prefix of the file names; defaults to ``model.name``.
        parts: list of part names or None (all).
        formats: formats to write. Defaults to both.
        quantizations: TFLite variants. Defaults to all three.
        batch_size, value_range: as in :func:`export`.

    Returns:
        dict mapping each written artefact's path to its manifest.
    """
    spec = _check_request("tflite", None, batch_size, value_range, True)
    formats = [_check_choice(f, FORMATS, "format") for f in _as_list(formats, "formats")]
    quantizations = [
        _check_choice(q, QUANTIZATIONS, "quantization")
        for q in _as_list(quantizations, "quantizations")
    ]
    if name is None:
        name = getattr(model, "name", None) or "model"
    if not isinstance(name, str) or not name or os.sep in name:
        raise ValueError(f"name must be a non-empty file name. Received: name={name!r}")
    if parts is None:
        parts = _default_parts(model)
    targets, jobs = [], []
    for part_name in _as_list(parts, "parts"):
        target = _PartTarget.from_model(
            model, None if part_name == "model" else part_name, value_range
        )
        targets.append(target)
        stem = os.path.join(os.fspath(out_dir), f"{name}_{target.part}")
        if "saved_model" in formats:
            jobs.append(_Job(target, stem, "saved_model", None, spec["batch_size"]))
        if "tflite" in formats:
            for q in quantizations:
                suffix = {None: "", "float16": "_fp16", "dynamic_int8": "_int8"}[q]
                jobs.append(_Job(target, f"{stem}{suffix}.tflite", "tflite", q, spec["batch_size"]))
    manifests = _run_jobs(targets, jobs, overwrite=True)
    return {job.path: m for job, m in zip(jobs, manifests)}


def manifest_path(path):
    """The manifest written next to an artefact: ``<path>.json``."""
    return os.fspath(path).rstrip("/\\") + ".json"


# ----------------------------------------------------------- validation
def _check_choice(value, choices, name):
    if value not in choices or isinstance(value, bool):
        raise ValueError(
            f"{name} must be one of {list(choices)}. Received: {name}={value!r}"
        )
    return value


def _as_list(value, name):
    if isinstance(value, (str, type(None))):
        value = [value]
    try:
        return list(value)
    except TypeError:
        raise TypeError(f"{name} must be a list. Received: {name}={value!r}") from None


def _check_request(format, quantization, batch_size, value_range, overwrite):
    format = _check_choice(format, FORMATS, "format")
    quantization = _check_choice(quantization, QUANTIZATIONS, "quantization")
    if format == "saved_model" and quantization is not None:
        raise ValueError(
            "quantization applies to format='tflite' only; a SavedModel is "
            f"float32. Received: format={format!r}, quantization={quantization!r}"
        )
    if batch_size is not None and (
        isinstance(batch_size, bool)
        or not isinstance(batch_size, (int, np.integer))
        or batch_size <= 0
    ):
        raise ValueError(
            "batch_size must be None (dynamic) or a positive integer. "
            f"Received: batch_size={batch_size!r}"
        )
    if value_range is not None:
        try:
            low, high = (float(v) for v in value_range)
        except (TypeError, ValueError):
            low, high = 0.0, -1.0
        if not low < high:
            raise ValueError(
                "value_range must be None or (low, high) with low < high. "
                f"Received: value_range={value_range!r}"
            )
    if not isinstance(overwrite, bool):
        raise TypeError(f"overwrite must be a bool. Received: overwrite={overwrite!r}")
    return {
        "format": format,
        "quantization": quantization,
        "batch_size": None if batch_size is None else int(batch_size),
        "overwrite": overwrite,
    }


def _default_parts(model):
    from keras_gen.models import GAN

    if isinstance(model, GAN):
        return ["generator"]
    if hasattr(model, "encoder") and hasattr(model, "decoder"):
        return ["decoder", "encoder"]
    return ["model"]


class _PartTarget:
    """One sub-model to export, with its names, shapes and value ranges."""

    def __init__(self, model, layer, part, input_name, output_names, latent_dim, image_range):
        import keras

        self.model = model
        self.layer = layer
        self.part = part
        self.input_name = input_name
        self.output_names = output_names
        self.latent_dim = latent_dim
        self.image_range = image_range
        self.input_shape, self.output_shapes = _shapes(model, layer, part)
        if not isinstance(layer, keras.Model):
            # A bare layer (sub-models may be layers): give it a functional
            # wrapper, which both export routes know how to save and trace.
            inputs = keras.Input(tuple(self.input_shape[1:]), name=input_name)
            layer = keras.Model(inputs, layer(inputs), name=layer.name)
        self.layer = layer
        self.key = f"part_{id(self)}"

    @classmethod
    def from_model(cls, model, part, value_range):
        import keras

        from keras_gen.models import GAN
        from keras_gen.models import VAE
        from keras_gen.models import AutoEncoder

        if not isinstance(model, keras.Model):
            raise TypeError(
                "model must be a keras_gen.GAN, VAE or AutoEncoder, or a keras.Model. "
                f"Received: model={model!r} of type {type(model).__name__}"
            )
        if not model.built:
            raise ValueError(
                f"The model {model.name!r} is not built, so it has no weights to "
                "export. Build it first: fit it, call it on a batch, or call "
                "model.build(input_shape)."
            )
        if isinstance(model, GAN):
            part = "generator" if part is None else part
            _check_choice(part, ("generator",), "part")
            layer, names, latent = model.generator, ["image"], model.latent_dim
            input_name, ranged = "latent", model.generator
        elif isinstance(model, (VAE, AutoEncoder)):
            part = "decoder" if part is None else part
            _check_choice(part, ("decoder", "encoder"), "part")
            latent = model.code_dim
            if part == "decoder":
                layer, names, input_name = model.decoder, ["image"], "latent"
            else:
                layer, input_name = model.encoder, "image"
                names = ["z_mean", "z_log_sigma"] if isinstance(model, VAE) else ["z"]
            ranged = model.decoder
        else:
            # A plain keras.Model (e.g. a generator saved on its own) is exported
            # whole; `part` names its role, inferred for z -> image models.
            layer, ranged = model, model
            part, input_name, names = _plain_model_role(model, part)
            latent = None
            if part in ("generator", "decoder"):
                latent = int(model.input_shape[-1])
        if not layer.built:
            raise ValueError(
                f"The {part} of {model.name!r} is not built. Build the model first "
                "(fit it or call it on a batch)."
            )
        image_range = list(map(float, value_range)) if value_range else _infer_range(ranged)
        target = cls(model, layer, part, input_name, names, latent, image_range)
        if target.output_names is None:
            n = len(target.output_shapes)
            target.output_names = ["output"] if n == 1 else [f"output_{i}" for i in range(n)]
        if len(target.output_names) != len(target.output_shapes):
            raise ValueError(
                f"The {part} returns {len(target.output_shapes)} tensors; expected "
                f"{len(target.output_names)} ({target.output_names})."
            )
        return target

    def io_manifest(self, batch_size):
        def entry(name, shape, value_range, role):
            return {
                "name": name,
                "shape": [batch_size] + list(shape[1:]),
                "dtype": "float32",
                "value_range": value_range,
                "role": role,
            }

        latent_range = None  # unbounded; drawn from N(0, I) for sampling
        if self.part in ("generator", "decoder"):
            ins = [entry(self.input_name, self.input_shape, latent_range, "latent z ~ N(0, I)")]
            outs = [entry("image", self.output_shapes[0], self.image_range, "image, NHWC")]
        elif self.part == "encoder":
            ins = [entry(self.input_name, self.input_shape, self.image_range, "image, NHWC")]
            roles = {
                "z": "latent code",
                "z_mean": "posterior mean",
                "z_log_sigma": "log of the posterior standard deviation (sigma = exp)",
            }
            outs = [
                entry(n, s, None, roles[n]) for n, s in zip(self.output_names, self.output_shapes)
            ]
        else:
            ins = [entry(self.input_name, self.input_shape, None, "input")]
            outs = [entry(n, s, None, "output") for n, s in zip(self.output_names, self.output_shapes)]
        return ins, outs


def _plain_model_role(model, part):
    """(part, input name, output names) of a plain keras.Model."""
    _check_choice(part, (None,) + PARTS, "part")
    try:
        in_shape = model.input_shape
        out_shapes = model.output_shape
    except (AttributeError, ValueError):
        in_shape = out_shapes = None
    single_in = isinstance(in_shape, tuple) and all(
        isinstance(d, (int, type(None))) for d in in_shape
    )
    if isinstance(out_shapes, tuple) and all(isinstance(d, (int, type(None))) for d in out_shapes):
        out_shapes = [out_shapes]
    if part is None:
        z_to_image = (
            single_in
            and len(in_shape) == 2
            and isinstance(out_shapes, list)
            and len(out_shapes) == 1
            and len(out_shapes[0]) == 4
        )
        return ("generator", "latent", ["image"]) if z_to_image else ("model", "input", None)
    if part in ("generator", "decoder"):
        if not (single_in and len(in_shape) == 2):
            raise ValueError(
                f"A {part} maps latent vectors (batch, latent_dim) to images. "
                f"Received: a model with input shape {in_shape}"
            )
        return part, "latent", ["image"]
    n_out = len(out_shapes) if isinstance(out_shapes, list) else 1
    return part, "image", (["z"] if n_out == 1 else ["z_mean", "z_log_sigma"])


def _shapes(model, layer, part):
    """(input_shape, [output_shapes]) of the part, batch axis included as None."""
    import keras

    shape = None
    try:
        shape = layer.input_shape
    except (AttributeError, ValueError):
        pass
    if isinstance(shape, list) or shape is None:
        if model is layer:
            raise ValueError(
                f"Cannot tell the input shape of {layer.name!r}: export a functional "
                "or sequential model, or a keras-gen model."
            )
        if part == "generator":
            shape = (None, model.latent_dim)
        elif part == "decoder":
            shape = (None, model.code_dim)
        elif part == "encoder":
            image = model.decoder.compute_output_spec(keras.KerasTensor((None, model.code_dim)))
            shape = tuple(image.shape)
        else:
            raise ValueError(
                f"Cannot tell the input shape of {layer.name!r}: export a functional "
                "or sequential model, or a keras-gen model."
            )
    shape = (None,) + tuple(shape[1:])
    if any(d is None for d in shape[1:]):
        raise ValueError(
            f"The {part}'s input shape must be fully known apart from the batch axis. "
            f"Received: input shape {shape}"
        )
    outputs = layer.compute_output_spec(keras.KerasTensor(shape))
    if not isinstance(outputs, (list, tuple)):
        outputs = [outputs]
    return [None] + list(shape[1:]), [[None] + list(t.shape[1:]) for t in outputs]


def _infer_range(model):
    """Value range implied by the last non-shape layer's activation, or None."""
    layers = getattr(model, "layers", None)
    if not layers:
        return None
    for layer in reversed(layers):
        if type(layer).__name__ in _SHAPE_ONLY_LAYERS:
            continue
        activation = getattr(layer, "activation", None)
        name = getattr(activation, "__name__", None)
        return _ACTIVATION_RANGES.get(name)
    return None


# ---------------------------------------------------------------- writing
class _Job:
    def __init__(self, target, path, format, quantization, batch_size):
        self.target = target
        self.path = path.rstrip("/\\") if path else path
        self.format = format
        self.quantization = quantization
        self.batch_size = batch_size
        self.tmp_dir = None
        if not self.path:
            raise ValueError(f"path must be a non-empty path. Received: path={path!r}")

    @property
    def tmp_artefact(self):
        return os.path.join(self.tmp_dir, "artefact")

    def worker_spec(self):
        return {
            "part": self.target.key,
            "format": self.format,
            "quantization": self.quantization,
            "batch_size": self.batch_size,
            "input_name": self.target.input_name,
            "input_shape": self.target.input_shape,
            "output_names": self.target.output_names,
            "out": self.tmp_artefact,
        }


def _prepare_destination(job, overwrite):
    """Check ``job.path`` can be written and make its temporary directory beside it."""
    path = job.path
    parent = os.path.dirname(os.path.abspath(path))
    if os.path.exists(path) or os.path.exists(manifest_path(path)):
        if not overwrite:
            raise FileExistsError(
                f"{path!r} already exists. Pass overwrite=True to replace it."
            )
        if job.format == "tflite" and os.path.isdir(path):
            raise IsADirectoryError(
                f"path is a directory; a TFLite artefact is a file. Received: path={path!r}"
            )
    try:
        os.makedirs(parent, exist_ok=True)
        job.tmp_dir = tempfile.mkdtemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=parent)
    except OSError as e:
        raise PermissionError(
            f"Cannot write the export to path={path!r}: its folder {parent!r} cannot be "
            f"created or written ({e.strerror or e}). Choose a writable location."
        ) from e


def _run_jobs(targets, jobs, overwrite):
    import keras

    created = []
    try:
        for job in jobs:
            _prepare_destination(job, overwrite)
            created.append(job)
        _convert(targets, [job.worker_spec() for job in jobs])
        manifests = []
        for job in jobs:
            manifest = _manifest(job, keras)
            with open(os.path.join(job.tmp_dir, "manifest.json"), "w") as f:
                json.dump(manifest, f, indent=2)
                f.write("\n")
            manifests.append(manifest)
        for job in jobs:
            _move_into_place(job)
        return manifests
    finally:
        for job in created:
            shutil.rmtree(job.tmp_dir, ignore_errors=True)


def _move_into_place(job):
    """Atomically replace ``job.path`` and its manifest with the finished files."""
    final_manifest = manifest_path(job.path)
    src = job.tmp_artefact
    if os.path.isdir(src):
        old = None
        if os.path.lexists(job.path):
            old = os.path.join(job.tmp_dir, "previous")
            os.rename(job.path, old)
        os.rename(src, job.path)
    else:
        os.replace(src, job.path)
    os.replace(os.path.join(job.tmp_dir, "manifest.json"), final_manifest)


def _manifest(job, keras):
    target = job.target
    ins, outs = target.io_manifest(job.batch_size)
    artefact = job.tmp_artefact
    if os.path.isdir(artefact):
        size = sum(
            os.path.getsize(os.path.join(root, f))
            for root, _, files in os.walk(artefact)
            for f in files
        )
    else:
        size = os.path.getsize(artefact)
    try:
        from keras_gen import __version__ as keras_gen_version
    except ImportError:  # pragma: no cover
        keras_gen_version = None
    return {
        "manifest_version": MANIFEST_VERSION,
        "format": job.format,
        "file": os.path.basename(job.path),
        "size_bytes": size,
        "part": target.part,
        "model_class": type(target.model).__name__,
        "model_name": target.model.name,
        "signature": SIGNATURE_KEY,
        "inputs": ins,
        "outputs": outs,
        "latent_dim": target.latent_dim,
        "batch_size": job.batch_size,
        "dynamic_batch": job.batch_size is None,
        "quantization": job.quantization,
        "tolerance": TOLERANCES[job.quantization],
        "builtin_ops_only": job.format == "tflite",
        "source_backend": keras.backend.backend(),
        "keras_version": keras.__version__,
        "keras_gen_version": keras_gen_version,
    }


# -------------------------------------------------------------- conversion
def _convert(targets, specs):
    """Run the TensorFlow conversions, here (TF backend) or in a child process."""
    import keras

    if keras.backend.backend() == "tensorflow":
        _convert_all({t.key: t.layer for t in targets}, specs)
        return
    with tempfile.TemporaryDirectory(prefix="keras_gen_export_") as work:
        parts = {}
        modules = set()
        for t in targets:
            keras_path = os.path.join(work, f"{t.key}.keras")
            t.layer.save(keras_path)
            parts[t.key] = keras_path
            modules |= _custom_modules(t.layer)
        job_file = os.path.join(work, "job.json")
        with open(job_file, "w") as f:
            json.dump({"parts": parts, "specs": specs, "modules": sorted(modules)}, f)
        _run_worker(job_file, work)


def _custom_modules(layer):
    """Modules defining non-Keras classes used by ``layer`` (imported by the worker)."""
    modules = set()
    stack = [layer]
    while stack:
        obj = stack.pop()
        module = type(obj).__module__
        if not module.startswith("keras.") and module != "keras":
            if module == "__main__":
                raise ValueError(
                    f"{type(obj).__name__} is defined in __main__, so a TensorFlow-backend "
                    "process cannot import it to convert the model. Move it to an "
                    "importable module (and register it with "
                    "@keras.saving.register_keras_serializable), or export under "
                    "KERAS_BACKEND=tensorflow."
                )
            modules.add(module)
        stack.extend(getattr(obj, "_layers", []) or [])
    return modules


def _run_worker(job_file, work):
    env = dict(os.environ, KERAS_BACKEND="tensorflow")
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    # The child must import what this process can (keras_gen, and the modules
    # of custom layers, e.g. next to the user's script): pass on sys.path,
    # minus the interpreter's own directories, which the child has anyway.
    package_root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    prefixes = tuple({os.path.abspath(sys.prefix), os.path.abspath(sys.base_prefix)})
    user_paths = [
        os.path.abspath(p)
        for p in sys.path
        if p and os.path.isdir(p) and not os.path.abspath(p).startswith(prefixes)
    ]
    env["PYTHONPATH"] = os.pathsep.join(
        dict.fromkeys(p for p in [package_root, *user_paths, env.get("PYTHONPATH", "")] if p)
    )
    code = (
        "import runpy, sys; "
        f"ns = runpy.run_path({os.path.abspath(__file__)!r}, run_name='keras_gen_export_worker'); "
        "ns['_worker_main'](sys.argv[1])"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, job_file],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=_WORKER_TIMEOUT_S,
    )
    if proc.returncode != 0:
        error_file = os.path.join(work, "error.txt")
        if os.path.exists(error_file):
            with open(error_file) as f:
                message = f.read()
        else:
            message = proc.stderr[-3000:]
        raise ExportError(f"The TensorFlow conversion failed:\n{message}")


def _worker_main(job_file):
    """Child-process entry point (``KERAS_BACKEND=tensorflow``)."""
    import importlib
    import traceback

    try:
        import keras

        with open(job_file) as f:
            job = json.load(f)
        for module in job["modules"]:
            importlib.import_module(module)
        parts = {
            key: keras.saving.load_model(path, compile=False)
            for key, path in job["parts"].items()
        }
        _convert_all(parts, job["specs"])
    except BaseException as e:
        with open(os.path.join(os.path.dirname(job_file), "error.txt"), "w") as f:
            f.write(f"{type(e).__name__}: {e}\n\n{traceback.format_exc()[-3000:]}")
        raise


def _convert_all(parts, specs):
    """Write every requested artefact (TensorFlow backend only)."""
    # Conversions share one SavedModel per (part, batch size).
    with tempfile.TemporaryDirectory(prefix="keras_gen_sm_") as scratch:
        saved = {}
        for spec in specs:
            key = (spec["part"], spec["batch_size"])
            if key not in saved:
                saved[key] = os.path.join(scratch, f"sm_{len(saved)}")
                _write_saved_model(parts[spec["part"]], spec, saved[key])
            if spec["format"] == "saved_model":
                shutil.copytree(saved[key], spec["out"])
            else:
                _write_tflite(saved[key], spec)


def _write_saved_model(layer, spec, path):
    import keras
    import tensorflow as tf

    shape = [spec["batch_size"]] + list(spec["input_shape"][1:])
    names = spec["output_names"]

    def serve(x):
        outputs = layer(x, training=False)
        if not isinstance(outputs, (list, tuple)):
            outputs = [outputs]
        return {n: tf.cast(y, tf.float32) for n, y in zip(names, outputs)}

    archive = keras.export.ExportArchive()
    archive.track(layer)
    archive.add_endpoint(
        SIGNATURE_KEY,
        serve,
        input_signature=[tf.TensorSpec(shape, tf.float32, name=spec["input_name"])],
    )
    archive.write_out(path, verbose=False)


def _write_tflite(saved_model_dir, spec):
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_saved_model(
        saved_model_dir, signature_keys=[SIGNATURE_KEY]
    )
    # Builtin ops only: the file must run on the mobile LiteRT runtime, which
    # has no Flex (SELECT_TF_OPS) delegate by default.
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if spec["quantization"] == "float16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif spec["quantization"] == "dynamic_int8":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    try:
        flatbuffer = converter.convert()
    except Exception as e:
        raise ExportError(
            "TFLite conversion with builtin ops only failed (the model needs an op "
            f"LiteRT does not have built in): {e}"
        ) from e
    with open(spec["out"], "wb") as f:
        f.write(flatbuffer)
