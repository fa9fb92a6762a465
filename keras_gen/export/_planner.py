"""What to export and where: argument checks, the parts of a model, the jobs.

The planner turns a request into jobs (one per artefact), stages them with
``_publish``, has ``_worker`` convert them (in this process on TensorFlow, in
a child process otherwise, see ``_child``), writes the manifests and
publishes the set.
"""

import os
import shutil
import warnings

import keras

from keras_gen import __version__ as keras_gen_version
from keras_gen import _checks as checks
from keras_gen.export import _child
from keras_gen.export import _publish
from keras_gen.export._formats import FORMATS
from keras_gen.export._formats import MANIFEST_VERSION
from keras_gen.export._formats import UNCONDITIONAL_VERSION
from keras_gen.export._formats import PARTS
from keras_gen.export._formats import QUANTIZATION_MODES
from keras_gen.export._formats import QUANTIZATIONS
from keras_gen.export._formats import SIGNATURE_KEY
from keras_gen.export._formats import SUFFIXES
from keras_gen.export._formats import TENSORFLOW_FORMATS
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


_FORMAT_NAMES = {"saved_model": "a SavedModel", "tflite": "a TFLite file", "onnx": "an ONNX file"}


class ExportError(RuntimeError):
    """The conversion itself failed (the converter's message is attached)."""


# --------------------------------------------------------------- requests
def infer_format(format, path):
    """``format``, or (None) the one the path's suffix names: ``.onnx`` -> onnx, else tflite.

    An explicit format that contradicts an ONNX suffix, or ``"onnx"`` with a
    ``.tflite`` path, is refused (SavedModel / TFLite paths are not checked,
    as before ONNX existed).
    """
    suffix = None
    if isinstance(path, (str, os.PathLike)):
        suffix = os.path.splitext(os.fspath(path).rstrip("/\\"))[1].lower()
    implied = SUFFIXES.get(suffix)
    if format is None:
        if implied is None:
            warnings.warn(
                f"The path's suffix {suffix!r} names no export format ('.tflite' or '.onnx'): "
                "writing a TFLite model there. Pass format= ('tflite', 'onnx' or "
                f"'saved_model') to choose. Received: path={os.fspath(path)!r}",
                UserWarning, stacklevel=3)
        return implied or "tflite"
    format = checks.choice("format", format, FORMATS)
    if implied is not None and implied != format and "onnx" in (implied, format):
        raise ValueError(
            f"path ends in {suffix!r}, which names format={implied!r}, but format={format!r} "
            f"was passed. Pass format={implied!r} (or None to infer it), or change the path. "
            f"Received: path={os.fspath(path)!r}, format={format!r}"
        )
    return format


def check_request(format, quantization, batch_size, value_range, overwrite, allow_non_finite):
    """The normalised arguments shared by ``export`` and ``export_for_mobile``."""
    format = checks.choice("format", format, FORMATS)
    quantization = checks.choice("quantization", quantization, QUANTIZATIONS)
    if format != "tflite" and quantization is not None:
        raise ValueError(
            f"quantization applies to format='tflite' only; {_FORMAT_NAMES[format]} is "
            f"float32. Received: format={format!r}, quantization={quantization!r}"
        )
    return {
        "format": format,
        "quantization": quantization,
        # at most int32 (the converters' dimension type; 2**40 failed inside MLIR)
        "batch_size": checks.integer("batch_size", batch_size, minimum=1, maximum=2**31 - 1,
                                     allow_none=True),
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
# The name of a conditional part's second input, after the main input.
CONDITION_INPUT = "condition"
CONDITION_KINDS = ("classes", "attributes")


class PartTarget:
    """One network to export, with its names, shapes and value ranges.

    ``input_names`` and ``input_shapes`` list the inputs in the order the
    network takes them (and the manifest lists them): the main input
    (``latent`` or ``image``), then ``condition`` for a conditional part.
    (A TFLite file's input tensors are in an order the converter picks; the
    manifest records it, see ``Job.manifest``.) ``condition`` is the
    manifest's ``condition`` block (see :func:`condition_block`) or None.
    """

    def __init__(self, model, layer, part, input_name, output_names, latent_dim, image_range,
                 condition=None):
        self.model = model
        self.part = part
        self.latent_dim = latent_dim
        self.condition = condition
        self.image_range = None if image_range is None else [float(v) for v in image_range]
        self.input_names = [input_name] + ([CONDITION_INPUT] if condition is not None else [])
        self.input_shapes, self.output_shapes = _shapes(model, layer, part, condition)
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
            inputs = [
                keras.Input(tuple(shape[1:]), name=name)
                for name, shape in zip(self.input_names, self.input_shapes)
            ]
            layer = keras.Model(inputs, layer(_network_args(inputs)), name=layer.name)
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
            else:
                layer, input_name = model.decoding_network, "latent"
            condition = _model_condition(model, layer, part)
            if part == "encoder":
                names = _ENCODER_OUTPUTS.get(len(_output_specs(layer, model, part, condition)))
            else:
                names = ["image"]
            image_range = model.output_range
        else:
            # A plain keras.Model (e.g. a generator saved on its own) is exported
            # whole; `part` names its role, inferred for z -> image models.
            layer = model
            part, input_name, names, condition = _plain_model_role(model, part)
            latent = None
            if part in ("generator", "decoder"):
                latent = int(base.declared_input_shapes(model)[0][-1])
            image_range = base.activation_range(model)
        if not layer.built:
            raise ValueError(
                f"The {part} of {model.name!r} is not built. Build the model first "
                "(fit it or call it on a batch)."
            )
        return cls(model, layer, part, input_name, names, latent, value_range or image_range, condition)

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

        main_shape = self.input_shapes[0]
        if self.part in ("generator", "decoder"):
            # The latent input is unbounded: z ~ N(0, I) for sampling.
            ins = [entry(self.input_names[0], main_shape, None, "latent z ~ N(0, I)")]
            outs = [entry("image", self.output_shapes[0], self.image_range, "image, NHWC")]
        elif self.part == "encoder":
            ins = [entry(self.input_names[0], main_shape, self.image_range, "image, NHWC")]
            outs = [
                entry(n, s, None, _ROLES.get(n, "output")) for n, s in zip(self.output_names, self.output_shapes)
            ]
        else:
            ins = [entry(self.input_names[0], main_shape, None, "input")]
            outs = [entry(n, s, None, "output") for n, s in zip(self.output_names, self.output_shapes)]
        if self.condition is not None:
            ins.append(
                entry(
                    CONDITION_INPUT,
                    self.input_shapes[1],
                    [0.0, 1.0] if self.condition["kind"] == "classes" else None,
                    _condition_role(self.condition),
                )
            )
        return ins, outs


def _network_args(inputs):
    """What a part's network is called on: the main input, or ``[main, condition]``."""
    return inputs[0] if len(inputs) == 1 else list(inputs)


def _condition_role(condition):
    k = condition["size"]
    if condition["kind"] == "classes":
        return f"one-hot class, {k} classes (class id i -> 1 at index i)"
    return f"attribute vector of {k} values"


def condition_block(spec, where):
    """The manifest's ``condition`` block from a ``condition_spec`` dict.

    ``{"kind": "classes", "num_classes": k, "size": k, "names", "input"}``
    (the input is the one-hot vector of a class id) or ``{"kind":
    "attributes", "size": k, "names", "input"}``; ``names`` is null or a
    list of k strings; ``input`` is the name of the condition input, the
    second of the manifest's ``inputs``.
    """
    if not isinstance(spec, dict) or spec.get("kind") not in CONDITION_KINDS:
        raise ValueError(
            f"{where} must be a dict with 'kind' one of {list(CONDITION_KINDS)}. Received: {spec!r}"
        )
    key = "num_classes" if spec["kind"] == "classes" else "size"
    size = spec.get(key)
    if not isinstance(size, int) or isinstance(size, bool) or size < 1:
        raise ValueError(f"{where}[{key!r}] must be a positive integer. Received: {spec!r}")
    names = spec.get("names")
    if names is not None:
        names = list(names) if isinstance(names, (list, tuple)) else names
        if not isinstance(names, list) or len(names) != size or not all(isinstance(n, str) for n in names):
            raise ValueError(
                f"{where}['names'] must be None or a list of {size} strings. Received: names={names!r}"
            )
    block = {"kind": spec["kind"]}
    if spec["kind"] == "classes":
        block["num_classes"] = size
    block.update(size=size, names=names, input=CONDITION_INPUT)
    return block


def _condition_spec(model):
    try:
        return getattr(model, "condition_spec", None)
    except (AttributeError, NotImplementedError):
        return None


def _model_condition(model, layer, part):
    """The condition block of a keras-gen model's part, or None (unconditional)."""
    spec = _condition_spec(model)
    if spec is None:
        return None
    declared = base.declared_input_shapes(layer)
    if declared is not None and len(declared) == 1 and part == "encoder":
        return None  # an encoder that does not see the condition
    block = condition_block(spec, f"{type(model).__name__}.condition_spec")
    if declared is not None and (len(declared) != 2 or declared[1][-1] not in (None, block["size"])):
        raise ValueError(
            f"The {part} of the conditional model {model.name!r} must take two inputs, "
            f"[{'image' if part == 'encoder' else 'z'}, condition (batch, {block['size']})], "
            f"as its condition_spec {spec!r} says. Received: a network with input shapes {declared}"
        )
    return block


def _plain_model_role(model, part):
    """(part, input name, output names, condition) of a plain keras.Model.

    A model with two inputs ``[(batch, n), (batch, k)]`` and one image output
    is a conditional generator / decoder (and ``[image, (batch, k)]`` with
    ``part="encoder"`` a conditional encoder) whose condition is an attribute
    vector of size k: a plain model does not say that it expects one-hot
    classes (export the keras-gen model to record that).
    """
    checks.choice("part", part, (None,) + PARTS)
    declared = base.declared_input_shapes(model)
    try:
        out_shapes = model.output_shape
    except (AttributeError, ValueError):
        out_shapes = None
    if isinstance(out_shapes, tuple) and all(isinstance(d, (int, type(None))) for d in out_shapes):
        out_shapes = [out_shapes]
    image_out = isinstance(out_shapes, list) and len(out_shapes) == 1 and len(out_shapes[0]) == 4
    condition = None
    if declared is not None and len(declared) == 2:
        main, extra = declared
        conditional_role = (
            (len(main) == 2 and ((part is None and image_out) or part in ("generator", "decoder")))
            or (part == "encoder" and len(main) == 4)
        )
        if conditional_role and len(extra) == 2 and isinstance(extra[-1], int):
            condition = condition_block({"kind": "attributes", "size": extra[-1]}, "condition")
    in_shape = declared[0] if declared is not None and (len(declared) == 1 or condition) else None
    if part is None:
        z_to_image = in_shape is not None and len(in_shape) == 2 and image_out
        return ("generator", "latent", ["image"], condition) if z_to_image else ("model", "input", None, None)
    if part in ("generator", "decoder"):
        if not (in_shape is not None and len(in_shape) == 2):
            raise ValueError(
                f"A {part} maps latent vectors (batch, latent_dim), and for a conditional "
                f"{part} condition vectors (batch, k), to images. Received: a model with "
                f"input shape {_model_input_shape(model)}"
            )
        return part, "latent", ["image"], condition
    if not (in_shape is not None and len(in_shape) == 4):
        raise ValueError(
            f"An encoder maps images (batch, height, width, channels), and for a conditional "
            f"encoder condition vectors (batch, k), to codes. Received: a model with input "
            f"shape {_model_input_shape(model)}"
        )
    n_out = len(out_shapes) if isinstance(out_shapes, list) else 1
    return part, "image", _ENCODER_OUTPUTS.get(n_out, None), condition


def _model_input_shape(model):
    try:
        return model.input_shape
    except (AttributeError, ValueError):
        return None


def _input_shapes(model, layer, part, condition):
    """The part's input shapes (main input, then condition), batch axis as None."""
    n_inputs = 1 if condition is None else 2
    declared = base.declared_input_shapes(layer)
    if declared is not None and len(declared) != n_inputs:
        raise ValueError(
            f"The {part} must take {n_inputs} input(s)"
            + ("" if condition is None else " [main input, condition]")
            + f". Received: a network with input shapes {declared}"
        )
    shape = None if declared is None else declared[0]
    if shape is None and model is not layer:
        if part in ("generator", "decoder"):
            shape = (None, model.latent_dim)
        elif part == "encoder":
            decoder_inputs = [keras.KerasTensor((None, model.latent_dim))]
            spec = _condition_spec(model)
            if spec is not None:
                size = condition_block(spec, "condition_spec")["size"]
                decoder_inputs.append(keras.KerasTensor((None, size)))
            image = model.decoding_network.compute_output_spec(_network_args(decoder_inputs))
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
    shapes = [shape]
    if condition is not None:
        shapes.append((None, condition["size"]))
    return shapes


def _output_specs(layer, model, part, condition=None):
    shapes = _input_shapes(model, layer, part, condition)
    outputs = layer.compute_output_spec(_network_args([keras.KerasTensor(s) for s in shapes]))
    return list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]


def _shapes(model, layer, part, condition):
    """([input_shapes], [output_shapes]) of the part, batch axis included as None."""
    shapes = _input_shapes(model, layer, part, condition)
    outputs = _output_specs(layer, model, part, condition)
    return (
        [[None] + list(s[1:]) for s in shapes],
        [[None] + list(t.shape[1:]) for t in outputs],
    )


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
        if os.path.islink(self.path):  # write through the link, as Keras' own saving does
            self.path = os.path.realpath(self.path)
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
            "input_names": self.target.input_names,
            "input_shapes": self.target.input_shapes,
            "output_names": self.target.output_names,
            "output_shapes": self.target.output_shapes,
            "signature": SIGNATURE_KEY,
            "out": self.staged,
        }

    def manifest(self, size, result=None):
        """The manifest; ``result``: what the converter reported (see ``_convert``)."""
        result = result or {}
        input_order = result.get("input_order")
        target = self.target
        # An ONNX exporter may fix a batch that was asked dynamic: record the file's.
        batch_size = result.get("batch_size", self.batch_size)
        ins, outs = target.io_manifest(batch_size)
        if target.condition is not None and input_order is not None:
            # Where each input is among the TFLite input tensors, for apps that
            # feed by index (the converter picks that order, not the signature).
            if sorted(input_order) != sorted(target.input_names):
                raise ExportError(
                    f"The TFLite file's inputs are {input_order}; expected {target.input_names}."
                )
            for entry in ins:
                entry["index"] = input_order.index(entry["name"])
        manifest = {
            "manifest_version": MANIFEST_VERSION if target.condition else UNCONDITIONAL_VERSION,
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
            "batch_size": batch_size,
            "dynamic_batch": batch_size is None,
            "quantization": self.quantization,
            "tolerance": QUANTIZATION_MODES[self.quantization].tolerance,
            "builtin_ops_only": self.format == "tflite",
            "source_backend": keras.backend.backend(),
            "keras_version": keras.__version__,
            "keras_gen_version": keras_gen_version,
        }
        if self.format == "onnx":
            manifest["opset"] = result.get("opset")
            manifest["exporter"] = result.get("exporter")
        if target.condition is not None:
            manifest["condition"] = dict(target.condition)
        return manifest


def check_destination(job, overwrite):
    """Refuse a target that exists (without ``overwrite``) or has the wrong kind."""
    path, manifest = job.path, _publish.manifest_path(job.path)
    _publish.check_not_working_dir(path)
    if os.path.lexists(path) or os.path.lexists(manifest):
        if not overwrite:
            raise FileExistsError(f"{path!r} already exists. Pass overwrite=True to replace it.")
        directory = job.format == "saved_model"
        _publish.check_replaceable(
            path, directory, "a SavedModel" if directory else _FORMAT_NAMES[job.format])
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
    staging = _publish.open_staging(folder, jobs[0].path)
    try:
        for job in jobs:
            job.staged = staging.path(job.path)
        results = _convert(targets, [job.worker_spec() for job in jobs]) or [{}] * len(jobs)
        manifests, finals = [], []
        for job, result in zip(jobs, results):
            manifest = job.manifest(_publish.artefact_size(job.staged), result)
            _publish.write_json(staging.path(_publish.manifest_path(job.path)), manifest)
            manifests.append(manifest)
            finals += [job.path, _publish.manifest_path(job.path)]
        _publish.publish(staging, finals)
        return manifests
    finally:
        staging.remove()


# ------------------------------------------------------------- conversion
def _convert(targets, specs):
    """Write every spec's artefact: ONNX here, under this backend; the rest with TensorFlow.

    Returns one dict per spec: the TensorFlow worker's result (see
    ``_worker.convert_all``) or the ONNX converter's (see ``_onnx.convert``).
    """
    results = [{} for _ in specs]
    onnx_specs = [i for i, spec in enumerate(specs) if spec["format"] == "onnx"]
    if onnx_specs:
        from keras_gen.export import _onnx

        layers = {t.key: t.layer for t in targets}
        for i in onnx_specs:
            try:
                results[i] = _onnx.convert(layers[specs[i]["part"]], specs[i])
            except _onnx.OnnxConversionError as e:
                raise ExportError(str(e)) from e
    tf_specs = [i for i, spec in enumerate(specs) if spec["format"] in TENSORFLOW_FORMATS]
    if tf_specs:
        keys = {specs[i]["part"] for i in tf_specs}
        tf_results = _convert_tensorflow(
            [t for t in targets if t.key in keys], [specs[i] for i in tf_specs]
        )
        for i, result in zip(tf_specs, tf_results or [{}] * len(tf_specs)):
            results[i] = result
    return results


def _convert_tensorflow(targets, specs):
    """Run the TensorFlow conversions, here (TF backend) or in a child process.

    Returns the worker's result per spec (see ``_worker.convert_all``).
    """
    work = _publish.temp_dir()
    try:
        scratch = os.path.join(work, "scratch")
        os.mkdir(scratch)
        if keras.backend.backend() == "tensorflow" and _IN_PROCESS_ON_TENSORFLOW:
            from keras_gen.export import _worker  # imports TensorFlow

            try:
                return _worker.convert_all({t.key: t.layer for t in targets}, specs, scratch)
            except _worker.ConversionError as e:
                raise ExportError(str(e)) from e
        parts, modules = {}, set()
        for t in targets:
            parts[t.key] = os.path.join(work, f"{t.key}.keras")
            t.layer.save(parts[t.key])
            modules |= _custom_modules(t.layer)
        job = {"parts": parts, "specs": specs, "modules": sorted(modules), "scratch": scratch}
        try:
            return _child.run(job, work)
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
