"""Ship models: SavedModel, TFLite (LiteRT) and ONNX artefacts with JSON manifests.

``export(model, path, format="tflite")`` writes one inference part of a
keras-gen model (a GAN's generator, a VAE's or AE's decoder or encoder) as a
TensorFlow SavedModel directory, a ``.tflite`` flatbuffer for the LiteRT
runtime or an ``.onnx`` file for onnxruntime, plus ``<path>.json``, a
manifest that tells an app how to feed it.
``export_for_mobile(model, out_dir, name)`` writes the standard set (SavedModel
and float32 / float16 / dynamic-int8 TFLite) in one go, published all or
none. Load the artefacts with ``keras_gen.runtime`` (NumPy in, NumPy out, no
Keras needed). ``docs/export.md`` describes the formats, the quantization
modes, the manifests and what is guaranteed when an export is interrupted.

SavedModel and TFLite are TensorFlow graphs, so their conversion always runs
on Keras' TensorFlow backend: in this process under
``KERAS_BACKEND=tensorflow``, in a TensorFlow-backend child process under
``jax`` or ``torch`` (the part travels as a ``.keras`` file). ONNX is written
by Keras' own exporter in this process, under the current backend (tf2onnx,
jax2onnx or ``torch.onnx``). The package's files:

* ``_formats.py``: formats, parts and the table of quantization modes;
* ``_planner.py``: argument checks, the parts of a model, the jobs;
* ``_publish.py``: manifests, temporary folders, all-or-none publication;
* ``_child.py``: the child process (dies with its parent);
* ``_worker.py``: the TensorFlow conversion (never imports ``keras_gen``);
* ``_onnx.py``: the ONNX conversion under the current backend.
"""

import os
import sys

from keras_gen.export import _planner
from keras_gen.export._formats import FORMATS
from keras_gen.export._formats import MANIFEST_VERSION
from keras_gen.export._formats import PARTS
from keras_gen.export._formats import QUANTIZATION_MODES
from keras_gen.export._formats import QUANTIZATIONS
from keras_gen.export._formats import SIGNATURE_KEY
from keras_gen.export._formats import TOLERANCES
from keras_gen.export._planner import ExportError
from keras_gen.export._publish import manifest_path

__all__ = [
    "FORMATS",
    "MANIFEST_VERSION",
    "PARTS",
    "QUANTIZATIONS",
    "QUANTIZATION_MODES",
    "SIGNATURE_KEY",
    "TOLERANCES",
    "ExportError",
    "export",
    "export_for_mobile",
    "manifest_path",
]


def export(
    model,
    path,
    format=None,
    quantization=None,
    part=None,
    batch_size=None,
    value_range=None,
    overwrite=True,
    allow_non_finite=False,
):
    """Export one inference part of a model as a SavedModel, a TFLite or an ONNX file.

    What is exported (``part``):

    * ``keras_gen.GAN``: ``"generator"`` (default), z -> image.
    * ``keras_gen.VAE``: ``"decoder"`` (default), z -> image; ``"encoder"``,
      image -> ``z_mean``, ``z_log_sigma`` (the posterior's mean and log
      standard deviation; deterministic, no sampling op).
    * ``keras_gen.AutoEncoder``: ``"decoder"`` (default) or ``"encoder"``
      (image -> ``z``).
    * any other built ``keras.Model``: the model itself (``part`` names its
      role; inferred as ``"generator"`` for a z -> image model).

    The parts are found through the model protocol (``decoding_network``,
    ``encoding_network``, ``latent_dim``, ``output_range``,
    ``condition_spec``), so any
    ``keras_gen.GenerativeModel`` works.

    The artefact has one signature, ``"serving_default"``, with one float32
    input named ``"latent"`` (generator / decoder), ``"image"`` (encoder) or
    ``"input"`` (plain model), and named float32 outputs: ``"image"``,
    ``"z"``, or ``"z_mean"`` and ``"z_log_sigma"`` (``"output"`` /
    ``"output_<i>"`` for a plain model). Next to it, ``<path>.json`` records
    the shapes, dtypes, names, value ranges, ``latent_dim``, the source
    backend, the Keras version and the quantization (see ``docs/export.md``).

    A conditional model (``model.condition_spec`` not None; its networks
    take ``[z, condition]``) is exported with a second float32 input,
    ``"condition"`` (batch, k), after ``"latent"`` (or ``"image"``); the
    manifest (version 2) lists the inputs in that order, adds a
    ``condition`` block (``kind``, ``size`` / ``num_classes``, ``names``,
    ``input``) and, for TFLite, each input's ``index`` among the file's
    input tensors (the converter chooses that order). A plain
    ``keras.Model`` with inputs ``[(batch, n), (batch, k)]`` and an image
    output is exported as a generator whose condition is an attribute
    vector of size k. ``keras_gen.runtime`` feeds it from ``labels=``.

    The TFLite file uses only builtin TFLite ops (no Flex / SELECT_TF_OPS), so
    it runs on the mobile LiteRT runtime; a model that needs other ops fails
    to convert with an ``ExportError`` naming them.

    An ONNX file is written by Keras' exporter (``layer.export(...,
    format="onnx")``) under the current backend: tf2onnx on TensorFlow,
    jax2onnx on JAX, ``torch.onnx`` on PyTorch, with a dynamic batch axis
    named ``"batch"`` on all three unless ``batch_size`` is given. Before it
    is published it is run with onnxruntime (when installed) and compared to
    the Keras part; a file that does not reproduce it raises ``ExportError``.
    Its manifest adds ``opset`` and ``exporter``.

    The artefact and its manifest are written to a temporary folder beside
    ``path`` and moved into place only once both are complete: a failure or
    an interrupt leaves the previous artefact and manifest as they were.

    Args:
        model: a built ``keras_gen.GAN``, ``VAE`` or ``AutoEncoder`` (or a
            conditional one), or a built ``keras.Model``.
        path: str or path-like, the artefact to write: a directory for
            ``"saved_model"``, a file (conventionally ``*.tflite`` /
            ``*.onnx``) for ``"tflite"`` / ``"onnx"``. Missing parent
            directories are created.
        format: ``"tflite"``, ``"onnx"`` or ``"saved_model"``; None (default)
            infers it from the path: ``"onnx"`` for a ``.onnx`` suffix, else
            ``"tflite"``. A format that contradicts the suffix (``"tflite"``
            for ``x.onnx``, ``"onnx"`` for ``x.tflite``) raises ``ValueError``.
        quantization: TFLite only, a key of ``QUANTIZATION_MODES``: None
            (float32, default), ``"float16"`` (float16 weights, float32
            compute; about half the size) or ``"dynamic_int8"`` (int8
            weights, activations quantized on the fly; about a quarter of
            the size). Tolerances: ``keras_gen.export.TOLERANCES``.
        part: None (the model's default, above), ``"generator"``,
            ``"decoder"`` or ``"encoder"``.
        batch_size: None (default) for a dynamic batch dimension, or a
            positive int to fix it (some mobile delegates want static
            shapes). ``keras_gen.runtime`` splits and pads larger batches.
        value_range: None or ``(low, high)``, the value range of the images
            (output of a generator / decoder, input of an encoder) recorded
            in the manifest. None records the model's ``output_range`` (for
            a plain ``keras.Model``: the range its final sigmoid / tanh
            fixes, else null).
        overwrite: bool, whether to replace an existing artefact at ``path``.
            Defaults to True. Never replaced, whatever ``overwrite`` says: a
            folder that is not a SavedModel (or is one that also holds other
            files), or an entry of the other kind (file / folder). A
            symbolic link at ``path`` is written through: its target gets
            the artefact and ``<target>.json`` the manifest.
        allow_non_finite: bool, export weights holding NaN or Inf (with a
            warning) instead of raising ``keras_gen.NonFiniteWeightsError``.
            Defaults to False.

    Returns:
        dict, the manifest that was written to ``<path>.json``; None in a
        process other than the chief (see below).

    Several processes (``keras_gen.distribute.initialize``): only the chief
    (process 0) exports. In the others the arguments are checked as usual,
    then one line on stderr says the export was skipped and the call
    returns None, so the same script runs in every process.

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
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or path-like. Received: path={path!r}")
    format = _planner.infer_format(format, path)
    spec = _planner.check_request(
        format, quantization, batch_size, value_range, overwrite, allow_non_finite
    )
    target = _planner.PartTarget.from_model(model, part, spec["value_range"])
    _planner.check_finite(target, spec["allow_non_finite"])
    if _skipped_here("export", path):
        return None
    job = _planner.Job(target, path, spec["format"], spec["quantization"], spec["batch_size"])
    (manifest,) = _planner.run_jobs([target], [job], overwrite=spec["overwrite"])
    return manifest


def _distinct(name, values):
    """``values`` (a list) if it is non-empty and repeats nothing, else a ValueError naming ``name``."""
    if not values:
        raise ValueError(f"{name} must name at least one. Received: {name}={values!r}")
    repeated = sorted({repr(v) for v in values if values.count(v) > 1})
    if repeated:
        raise ValueError(f"{name} must not repeat an entry ({', '.join(repeated)}). "
                         f"Received: {name}={values!r}")
    return values


def _skipped_here(function, path):
    """True (after one line on stderr) in a process other than the chief of several."""
    from keras_gen import backend

    index = backend.process_index()
    if index == 0:
        return False
    print(
        f"keras_gen.export.{function}: skipped in process {index} of "
        f"{backend.process_count()}; only the chief (process 0) writes {os.fspath(path)}",
        file=sys.stderr, flush=True,
    )
    return True


def export_for_mobile(
    model,
    out_dir="saved_models",
    name=None,
    parts=None,
    formats=("saved_model", "tflite"),
    quantizations=(None, "float16", "dynamic_int8"),
    batch_size=None,
    value_range=None,
    allow_non_finite=False,
):
    """Write the standard artefacts of ``model`` into ``out_dir``, all or none.

    For each part in ``parts`` (default: every part the model has: a GAN's
    generator; a VAE's / AE's decoder and encoder) writes
    ``<name>_<part>/`` (SavedModel) and ``<name>_<part>[_fp16|_int8].tflite``,
    and with ``"onnx"`` in ``formats`` ``<name>_<part>.onnx``, each with its
    ``.json`` manifest. All TensorFlow conversions share one TensorFlow
    process, so this is much faster than calling :func:`export` for each.
    ONNX is not in the default set (LiteRT is the mobile runtime; ONNX
    targets onnxruntime on servers, desktops and browsers): add it with
    ``formats=("saved_model", "tflite", "onnx")``.

    The set is published as a whole: everything is written to a temporary
    folder inside ``out_dir`` first, and only when every artefact and
    manifest is complete are they moved into place (replacing the previous
    set). An error or interrupt before that leaves the previous set as it
    was; see ``docs/export.md`` for the guarantees while the files move.

    Args:
        model: a built keras-gen model, or a built ``keras.Model`` (exported
            whole; its role, e.g. ``"generator"``, is inferred as in :func:`export`).
        out_dir: str, directory (created if missing). Defaults to
            ``"saved_models"``.
        name: str prefix of the file names; defaults to ``model.name``.
        parts: list of part names or None (all).
        formats: formats to write, from ``FORMATS``. Defaults to
            ``("saved_model", "tflite")``.
        quantizations: TFLite variants (keys of ``QUANTIZATION_MODES``).
            Defaults to all three.
        batch_size, value_range, allow_non_finite: as in :func:`export`.

    Returns:
        dict mapping each written artefact's path to its manifest (empty in a
        process other than the chief: under several processes only process
        0 exports, as in :func:`export`).
    """
    spec = _planner.check_request(
        "tflite", None, batch_size, value_range, True, allow_non_finite
    )
    formats = _distinct("formats", [_planner.checks.choice("format", f, FORMATS)
                                    for f in _planner.as_list("formats", formats)])
    quantizations = [
        _planner.checks.choice("quantization", q, QUANTIZATIONS)
        for q in _planner.as_list("quantizations", quantizations)
    ]
    if "tflite" in formats:
        _distinct("quantizations", quantizations)
    if name is None:
        name = getattr(model, "name", None) or "model"
    if not isinstance(name, str) or not name or os.sep in name or (os.altsep or os.sep) in name:
        raise ValueError(f"name must be a non-empty file name. Received: name={name!r}")
    if not isinstance(out_dir, (str, os.PathLike)):
        raise TypeError(f"out_dir must be a str or path-like. Received: out_dir={out_dir!r}")
    if parts is None:
        parts = _planner.default_parts(model)
    targets, jobs = [], []
    for part in _distinct("parts", _planner.as_list("parts", parts)):
        part = None if part == "model" else part  # a plain keras.Model's own name for itself
        target = _planner.PartTarget.from_model(model, part, spec["value_range"])
        _planner.check_finite(target, spec["allow_non_finite"])
        targets.append(target)
        stem = os.path.join(os.fspath(out_dir), f"{name}_{target.part}")
        if "saved_model" in formats:
            jobs.append(_planner.Job(target, stem, "saved_model", None, spec["batch_size"]))
        if "tflite" in formats:
            for q in quantizations:
                path = f"{stem}{QUANTIZATION_MODES[q].suffix}.tflite"
                jobs.append(_planner.Job(target, path, "tflite", q, spec["batch_size"]))
        if "onnx" in formats:
            jobs.append(_planner.Job(target, f"{stem}.onnx", "onnx", None, spec["batch_size"]))
    if _skipped_here("export_for_mobile", out_dir):
        return {}
    manifests = _planner.run_jobs(targets, jobs, overwrite=True)
    return {job.path: m for job, m in zip(jobs, manifests)}
