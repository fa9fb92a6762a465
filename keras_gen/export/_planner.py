"""What to export and where: argument checks, the parts of a model, the jobs.

The planner turns a request into jobs (one per artefact), stages them with
``_publish``, has ``_worker`` convert them (in this process on TensorFlow, in
a child process otherwise, see ``_child``), writes the manifests and
publishes the set.
"""

import os
import shutil

import keras

from keras_gen import __version__ as keras_gen_version
from keras_gen import _checks as checks
from keras_gen.export import _child
from keras_gen.export import _publish
from keras_gen.export._formats import FORMATS
from keras_gen.export._formats import MANIFEST_VERSION
from keras_gen.export._formats import PARTS
from keras_gen.export._formats import QUANTIZATION_MODES
from keras_gen.export._formats import QUANTIZATIONS
from keras_gen.export._formats import SIGNATURE_KEY
from keras_gen.models import base

# Convert in this process when the backend is TensorFlow (tests switch it off
# to exercise the child process on that backend too).
_IN_PROCESS_ON_TENSORFLOW = True

_ENCODER_OUTPUTS = {1: ["z"], 2: ["z_mean", "z_log_sigma"]}
_ROLES = {
    "z": "latent code",
    "z_mean": "posterior mean",
    "z_log_sigma": "log of the posterior standard deviation (sigma = exp)",
}


class ExportError(RuntimeError):
    """The conversion itself failed (the converter's message is attached)."""


# --------------------------------------------------------------- requests
def check_request(format, quantization, batch_size, value_range, overwrite, allow_non_finite):
    """The normalised arguments shared by ``export`` and ``export_for_mobile``."""
    format = checks.choice("format", format, FORMATS)
    quantization = checks.choice("quantization", quantization, QUANTIZATIONS)
    if format == "saved_model" and quantization is not None:
        raise ValueError(
            "quantization applies to format='tflite' only; a SavedModel is "
            f"float32. Received: format={format!r}, quantization={quantization!r}"
        )
    return {
        "format": format,
        "quantization": quantization,
        "batch_size": checks.positive_int("batch_size", batch_size, allow_none=True),
        "value_range": None if value_range is None else checks.value_range("value_range", value_range),
        "overwrite": checks.boolean("overwrite", overwrite),
        "allow_non_finite": checks.boolean("allow_non_finite", allow_non_finite),
    }


def as_list(name, value):
    if isinstance(value, (str, type(None))):
        value = [value]
    try:
        return list(value)
    except TypeError:
        raise checks.ArgumentTypeError(
            f"{name} must be a list. Received: {name}={value!r}"
        ) from None


def default_parts(model):
    """Every part a model has: decoding network (and encoding network)."""
    if not _speaks_protocol(model):
        return [None]
    if model.encoding_network is None:
        return ["generator"]
    return ["decoder", "encoder"]


def _speaks_protocol(model):
    return hasattr(type(model), "decoding_network")


# ------------------------------------------------------------------ parts
class PartTarget:
    """One network to export, with its names, shapes and value ranges."""

    def __init__(self, model, layer, part, input_name, output_names, latent_dim, image_range):
        self.model = model
        self.part = part
        self.input_name = input_name
        self.latent_dim = latent_dim
        self.image_range = None if image_range is None else [float(v) for v in image_range]
        self.input_shape, self.output_shapes = _shapes(model, layer, part)
        if output_names is None:
            n = len(self.output_shapes)
            output_names = ["output"] if n == 1 else [f"output_{i}" for i in range(n)]
        if len(output_names) != len(self.output_shapes):
            raise ValueError(
                f"The {part} returns {len(self.output_shapes)} tensors; expected "
                f"{len(output_names)} ({output_names})."
            )
        self.output_names = output_names
        if not isinstance(layer, keras.Model):
            # A bare layer (sub-models may be layers): give it a functional
            # wrapper, which both export routes know how to save and trace.
            inputs = keras.Input(tuple(self.input_shape[1:]), name=input_name)
            layer = keras.Model(inputs, layer(inputs), name=layer.name)
        self.layer = layer
        self.key = f"part_{id(self)}"

    @classmethod
    def from_model(cls, model, part, value_range):
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
        if _speaks_protocol(model):
            parts = default_parts(model)
            part = checks.choice("part", parts[0] if part is None else part, parts)
            latent = model.latent_dim
            if part == "encoder":
                layer, input_name = model.encoding_network, "image"
                names = _ENCODER_OUTPUTS.get(len(_output_specs(layer, model, part)))
            else:
                layer, input_name, names = model.decoding_network, "latent", ["image"]
            image_range = model.output_range
        else:
            # A plain keras.Model (e.g. a generator saved on its own) is exported
            # whole; `part` names its role, inferred for z -> image models.
            layer = model
            part, input_name, names = _plain_model_role(model, part)
            latent = int(model.input_shape[-1]) if part in ("generator", "decoder") else None
            image_range = base.activation_range(model)
        if not layer.built:
            raise ValueError(
                f"The {part} of {model.name!r} is not built. Build the model first "
                "(fit it or call it on a batch)."
            )
        return cls(model, layer, part, input_name, names, latent, value_range or image_range)

    def io_manifest(self, batch_size):
        """The manifest's ``inputs`` and ``outputs`` lists."""

        def entry(name, shape, value_range, role):
            return {
                "name": name,
                "shape": [batch_size] + list(shape[1:]),
                "dtype": "float32",
                "value_range": value_range,
                "role": role,
            }

        if self.part in ("generator", "decoder"):
            # The latent input is unbounded: z ~ N(0, I) for sampling.
            ins = [entry(self.input_name, self.input_shape, None, "latent z ~ N(0, I)")]
            outs = [entry("image", self.output_shapes[0], self.image_range, "image, NHWC")]
        elif self.part == "encoder":
            ins = [entry(self.input_name, self.input_shape, self.image_range, "image, NHWC")]
            outs = [
                entry(n, s, None, _ROLES.get(n, "output")) for n, s in zip(self.output_names, self.output_shapes)
            ]
        else:
            ins = [entry(self.input_name, self.input_shape, None, "input")]
            outs = [entry(n, s, None, "output") for n, s in zip(self.output_names, self.output_shapes)]
        return ins, outs


def _plain_model_role(model, part):
    """(part, input name, output names) of a plain keras.Model."""
    checks.choice("part", part, (None,) + PARTS)
    in_shape = base.known_input_shape(model)
    try:
        out_shapes = model.output_shape
    except (AttributeError, ValueError):
        out_shapes = None
    if isinstance(out_shapes, tuple) and all(isinstance(d, (int, type(None))) for d in out_shapes):
        out_shapes = [out_shapes]
    single_in = in_shape is not None and all(isinstance(d, (int, type(None))) for d in in_shape)
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
    return part, "image", _ENCODER_OUTPUTS.get(n_out, None)


def _input_shape(model, layer, part):
    """The part's input shape, batch axis included as None."""
    shape = base.known_input_shape(layer)
    if shape is None and model is not layer:
        if part in ("generator", "decoder"):
            shape = (None, model.latent_dim)
        elif part == "encoder":
            image = model.decoding_network.compute_output_spec(
                keras.KerasTensor((None, model.latent_dim))
            )
            shape = tuple(image.shape)
    if shape is None:
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
    return shape


def _output_specs(layer, model, part):
    outputs = layer.compute_output_spec(keras.KerasTensor(_input_shape(model, layer, part)))
    return list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]


def _shapes(model, layer, part):
    """(input_shape, [output_shapes]) of the part, batch axis included as None."""
    shape = _input_shape(model, layer, part)
    outputs = _output_specs(layer, model, part)
    return [None] + list(shape[1:]), [[None] + list(t.shape[1:]) for t in outputs]


def check_finite(target, allow_non_finite):
    """``NonFiniteWeightsError`` naming the part's NaN / Inf weights, unless allowed."""
    base.check_finite_weights(target.layer, "export", allow_non_finite=allow_non_finite)


# ------------------------------------------------------------------- jobs
class Job:
    """One artefact to write: a part, a format, a quantization and a path."""

    def __init__(self, target, path, format, quantization, batch_size):
        self.target = target
        self.path = os.fspath(path).rstrip("/\\") if path else path
        if not self.path:
            raise ValueError(f"path must be a non-empty path. Received: path={path!r}")
        self.format = format
        self.quantization = quantization
        self.batch_size = batch_size
        self.staged = None  # where the worker writes, in the staging folder

    def worker_spec(self):
        return {
            "part": self.target.key,
            "format": self.format,
            "converter": QUANTIZATION_MODES[self.quantization].converter,
            "batch_size": self.batch_size,
            "input_name": self.target.input_name,
            "input_shape": self.target.input_shape,
            "output_names": self.target.output_names,
            "signature": SIGNATURE_KEY,
            "out": self.staged,
        }

    def manifest(self, size):
        target = self.target
        ins, outs = target.io_manifest(self.batch_size)
        return {
            "manifest_version": MANIFEST_VERSION,
            "format": self.format,
            "file": os.path.basename(self.path),
            "size_bytes": size,
            "part": target.part,
            "model_class": type(target.model).__name__,
            "model_name": target.model.name,
            "signature": SIGNATURE_KEY,
            "inputs": ins,
            "outputs": outs,
            "latent_dim": target.latent_dim,
            "batch_size": self.batch_size,
            "dynamic_batch": self.batch_size is None,
            "quantization": self.quantization,
            "tolerance": QUANTIZATION_MODES[self.quantization].tolerance,
            "builtin_ops_only": self.format == "tflite",
            "source_backend": keras.backend.backend(),
            "keras_version": keras.__version__,
            "keras_gen_version": keras_gen_version,
        }


def check_destination(job, overwrite):
    """Refuse a target that exists (without ``overwrite``) or has the wrong kind."""
    path, manifest = job.path, _publish.manifest_path(job.path)
    if os.path.lexists(path) or os.path.lexists(manifest):
        if not overwrite:
            raise FileExistsError(f"{path!r} already exists. Pass overwrite=True to replace it.")
        if job.format == "tflite" and os.path.isdir(path):
            raise IsADirectoryError(
                f"path is a directory; a TFLite artefact is a file. Received: path={path!r}"
            )
        if os.path.isdir(manifest):
            raise IsADirectoryError(
                f"The manifest path {manifest!r} is a directory. Remove it or choose another path."
            )


def run_jobs(targets, jobs, overwrite):
    """Stage, convert, write the manifests and publish all of ``jobs`` or none."""
    with _publish.sigterm_raises():
        return _run_jobs(targets, jobs, overwrite)


def _run_jobs(targets, jobs, overwrite):
    folders = {os.path.dirname(os.path.abspath(job.path)) for job in jobs}
    assert len(folders) == 1, folders
    (folder,) = folders
    for job in jobs:
        check_destination(job, overwrite)
    try:
        os.makedirs(folder, exist_ok=True)
        _publish.clean_stale(folder)
        _publish.clean_stale()
        staging = _publish.Staging(folder)
    except OSError as e:
        raise PermissionError(
            f"Cannot write the export to path={jobs[0].path!r}: its folder {folder!r} cannot "
            f"be created or written ({e.strerror or e}). Choose a writable location."
        ) from e
    try:
        for job in jobs:
            job.staged = staging.path(job.path)
        _convert(targets, [job.worker_spec() for job in jobs])
        manifests, finals = [], []
        for job in jobs:
            manifest = job.manifest(_publish.artefact_size(job.staged))
            _publish.write_json(staging.path(_publish.manifest_path(job.path)), manifest)
            manifests.append(manifest)
            finals += [job.path, _publish.manifest_path(job.path)]
        _publish.publish(staging, finals)
        return manifests
    finally:
        staging.remove()


# ------------------------------------------------------------- conversion
def _convert(targets, specs):
    """Run the TensorFlow conversions, here (TF backend) or in a child process."""
    work = _publish.temp_dir()
    try:
        scratch = os.path.join(work, "scratch")
        os.mkdir(scratch)
        if keras.backend.backend() == "tensorflow" and _IN_PROCESS_ON_TENSORFLOW:
            from keras_gen.export import _worker  # imports TensorFlow

            try:
                _worker.convert_all({t.key: t.layer for t in targets}, specs, scratch)
            except _worker.ConversionError as e:
                raise ExportError(str(e)) from e
            return
        parts, modules = {}, set()
        for t in targets:
            parts[t.key] = os.path.join(work, f"{t.key}.keras")
            t.layer.save(parts[t.key])
            modules |= _custom_modules(t.layer)
        job = {"parts": parts, "specs": specs, "modules": sorted(modules), "scratch": scratch}
        try:
            _child.run(job, work)
        except RuntimeError as e:
            raise ExportError(f"The TensorFlow conversion failed: {e}") from None
    finally:
        shutil.rmtree(work, ignore_errors=True)


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
