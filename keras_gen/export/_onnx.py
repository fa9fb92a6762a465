"""The ONNX side of export: a Keras part -> one ``.onnx`` file, under the current backend.

Unlike SavedModel and TFLite (TensorFlow graphs, converted in a TensorFlow
process), ONNX is written by Keras' own exporter, ``layer.export(path,
format="onnx", input_signature=...)``, in this process and on whatever backend
Keras runs: tf2onnx on TensorFlow, jax2onnx on JAX, ``torch.onnx`` on PyTorch
(the TorchScript exporter when the batch is dynamic, which is what Keras
picks for shapes with None). The file Keras writes is then normalised with
the ``onnx`` package:

* the inputs get the spec's names (``latent`` / ``image``, then
  ``condition``) and the outputs the part's names (``image``, ``z``,
  ``z_mean``, ``z_log_sigma``) through Identity nodes (a Cast to float32
  for an output of another float dtype);
* a dynamic batch axis is named ``batch`` on every input and output;
* initializers stored as external data are folded back into the one file.

Each file is then run with onnxruntime (when installed) on a batch of three
(or the fixed batch size) and compared to the Keras part: a file
that does not reproduce the part (e.g. a batch size baked in by tracing)
raises :class:`OnnxConversionError` instead of being published.
"""

import os
import shutil
import warnings

import keras
import numpy as np

from keras_gen.export import _publish

BATCH_AXIS = "batch"
# How close onnxruntime must come to the Keras part in the export-time check,
# relative to the largest output magnitude (at least 1). The documented
# float32 tolerance (1e-5 for outputs of order 1) is checked by the tests;
# this only catches a wrong graph.
CHECK_TOLERANCE = 1e-4
# The same for a part that computes in float16 / bfloat16 (mixed precision):
# ONNX runtimes round differently from Keras there.
CHECK_TOLERANCE_16_BIT = 1e-2
# The batch of the check for a dynamic-batch file.
CHECK_BATCH = 3

_EXPORTERS = {
    "tensorflow": "tf2onnx",
    "jax": "jax2onnx",
    "torch": "torch.onnx",
}


class OnnxConversionError(RuntimeError):
    """Keras' ONNX exporter failed, or its file does not reproduce the part."""


def _import_onnx():
    try:
        import onnx
    except ImportError as e:
        raise ImportError(
            "format='onnx' needs the `onnx` package, and on this backend "
            f"{_EXPORTERS.get(keras.backend.backend(), 'an ONNX exporter')}: "
            "pip install 'keras-gen[onnx]' (onnx, onnxruntime, onnxscript, tf2onnx, "
            f"jax2onnx). ({e})"
        ) from e
    return onnx


def exporter_name():
    """The converter Keras' exporter uses on this backend (recorded in manifests)."""
    return _EXPORTERS.get(keras.backend.backend(), keras.backend.backend())


def convert(layer, spec):
    """Write ``spec["out"]`` (an ONNX file) from ``layer``; returns facts for the manifest.

    ``spec`` is the planner's job spec (``input_names``, ``input_shapes``,
    ``output_names``, ``output_shapes``, ``batch_size``, ``out``). Returns
    ``{"batch_size": int or None, "opset": int, "exporter": str}``: the
    batch size of the written file (None: dynamic), its ONNX opset and the
    converter.

    A fixed ``batch_size`` on PyTorch: Keras hands shapes without None to
    torch's TorchDynamo exporter, which takes seconds even for a tiny
    network, and shapes with a None batch to the TorchScript exporter; the
    file is therefore exported with a dynamic batch and its inputs and
    outputs are then fixed to ``batch_size`` (the graph is the same for every
    batch). If that export fails, the fixed shapes go to Keras as they are.
    """
    onnx = _import_onnx()
    pin = spec["batch_size"] is not None and keras.backend.backend() == "torch"
    try:
        model = _export(onnx, layer, spec, None if pin else spec["batch_size"])
    except OnnxConversionError:
        if not pin:
            raise
        model = _export(onnx, layer, spec, spec["batch_size"])
    opset = max(
        (o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=None
    )
    return {"batch_size": spec["batch_size"], "opset": opset, "exporter": exporter_name()}


def _export(onnx, layer, spec, batch):
    """Export with the batch axis ``batch`` (None: dynamic), normalise, save, check."""
    specs = [
        keras.InputSpec(shape=(batch,) + tuple(shape[1:]), dtype="float32", name=name)
        for name, shape in zip(spec["input_names"], spec["input_shapes"])
    ]
    # One input: [spec]; two (conditional): [[latent, condition]], the list
    # the network is called on.
    signature = specs if len(specs) == 1 else [specs]
    scratch = _publish.temp_dir()
    try:
        raw = os.path.join(scratch, "keras.onnx")
        _run_exporter(layer, raw, signature)
        model = onnx.load(raw)  # pulls in external data, if any
        _normalise(onnx, model, spec)
        onnx.checker.check_model(model)
        onnx.save(model, spec["out"])
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    _check_against_keras(layer, spec, spec["batch_size"])
    return model


class _WithoutGradients:
    """PyTorch: the weights of ``layer`` marked as needing no gradient while it is
    exported (as they were). torch.onnx's tracer refuses to capture a tensor that
    requires grad as a constant, which is how the weights of subclassed networks
    nested in a trained keras-gen model reach it. A no-op on other backends."""

    def __init__(self, layer):
        self.values = []
        if keras.backend.backend() == "torch":
            self.values = [v.value for v in layer.weights
                           if getattr(v.value, "requires_grad", False)]

    def __enter__(self):
        for value in self.values:
            value.requires_grad_(False)

    def __exit__(self, *exc):
        for value in self.values:
            value.requires_grad_(True)
        return False


def _run_exporter(layer, path, signature):
    def run(fast):
        with _quiet(), _fast_jax2onnx_plugins(fast), _WithoutGradients(layer):
            layer.export(path, format="onnx", input_signature=signature, verbose=False)

    try:
        try:
            run(fast=True)
        except Exception:
            if keras.backend.backend() != "jax":
                raise
            run(fast=False)  # with every jax2onnx plugin
    except Exception as e:
        raise OnnxConversionError(
            f"Keras' ONNX exporter ({exporter_name()} on the {keras.backend.backend()} "
            f"backend) failed: {type(e).__name__}: {e}"
        ) from e


# --------------------------------------------------------------- the graph
def _graph_inputs(model):
    initializers = {t.name for t in model.graph.initializer}
    return [i for i in model.graph.input if i.name not in initializers]


def _rename(graph, old, new):
    """Rename the value ``old`` to ``new`` everywhere in ``graph`` and its subgraphs."""
    for node in graph.node:
        node.input[:] = [new if n == old else n for n in node.input]
        node.output[:] = [new if n == old else n for n in node.output]
        for attribute in node.attribute:
            for sub in list(attribute.graphs) + ([attribute.g] if attribute.HasField("g") else []):
                _rename(sub, old, new)
    for collection in (graph.input, graph.output, graph.value_info, graph.initializer):
        for value in collection:
            if value.name == old:
                value.name = new


def _used_names(graph):
    names = {v.name for v in list(graph.input) + list(graph.output) + list(graph.value_info)}
    names |= {t.name for t in graph.initializer}
    for node in graph.node:
        names |= set(node.input) | set(node.output)
    return names


def _unused(graph, name):
    """``name__<i>``, a value name ``graph`` does not use."""
    used = _used_names(graph)
    i = 0
    while f"{name}__{i}" in used:
        i += 1
    return f"{name}__{i}"


def _free(graph, name):
    """Move an internal value called ``name`` out of the way."""
    if name in _used_names(graph):
        _rename(graph, name, _unused(graph, name))


def _normalise(onnx, model, spec):
    """Name the inputs and outputs as the spec does and give every axis Keras' size (in place)."""
    graph = model.graph
    inputs = _graph_inputs(model)
    names = spec["input_names"]
    if len(inputs) != len(names):
        raise OnnxConversionError(
            f"The exported graph has {len(inputs)} inputs ({[i.name for i in inputs]}); "
            f"expected {len(names)} ({names})."
        )
    for value, name in zip(inputs, names):
        if value.name != name:
            _free(graph, name)
            _rename(graph, value.name, name)
    wanted = spec["output_names"]
    if len(graph.output) != len(wanted):
        raise OnnxConversionError(
            f"The exported graph has {len(graph.output)} outputs; expected "
            f"{len(wanted)} ({wanted})."
        )
    # An output whose value carries another output's wanted name moves aside
    # first, so that freeing a wanted name below never touches an output.
    for i, value in enumerate(graph.output):
        if value.name in wanted and value.name != wanted[i]:
            _rename(graph, value.name, _unused(graph, value.name))
    outputs = []
    for value in graph.output:
        copy = onnx.ValueInfoProto()
        copy.CopyFrom(value)
        outputs.append(copy)
    del graph.output[:]
    for value, name in zip(outputs, wanted):
        old = value.name
        is_float = value.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
        if old != name or not is_float:
            if old == name:  # a non-float32 output already named: cast it under its name
                source = _unused(graph, old)
                _rename(graph, old, source)
            else:
                _free(graph, name)
                source = old
            if is_float:
                node = onnx.helper.make_node("Identity", [source], [name])
            else:
                node = onnx.helper.make_node("Cast", [source], [name], to=onnx.TensorProto.FLOAT)
            graph.node.append(node)
        out = graph.output.add()
        out.CopyFrom(value)
        out.name = name
        out.type.tensor_type.elem_type = onnx.TensorProto.FLOAT
    # The shapes Keras computed: batch axis named "batch" (dynamic) or fixed,
    # the other axes as declared (some exporters leave them symbolic).
    batch = spec["batch_size"]
    shapes = list(spec["input_shapes"]) + list(spec["output_shapes"])
    for value, shape in zip(list(_graph_inputs(model)) + list(graph.output), shapes):
        dims = value.type.tensor_type.shape.dim
        if len(dims) != len(shape):
            raise OnnxConversionError(
                f"The exported graph's {value.name!r} has {len(dims)} axes; expected "
                f"the shape {shape}."
            )
        for i, (dim, size) in enumerate(zip(dims, [batch] + list(shape[1:]))):
            if size is None:
                if dim.HasField("dim_value") and dim.dim_value > 0:
                    raise OnnxConversionError(
                        f"{exporter_name()} fixed the batch axis of {value.name!r} to "
                        f"{dim.dim_value} although a dynamic batch was asked for. Pass "
                        "batch_size=N to export a fixed batch."
                    )
                dim.Clear()
                dim.dim_param = BATCH_AXIS
            else:
                if dim.HasField("dim_value") and dim.dim_value > 0 and dim.dim_value != size:
                    raise OnnxConversionError(
                        f"The exported graph's {value.name!r} has the size {dim.dim_value} "
                        f"on axis {i}; the Keras part has {size}."
                    )
                dim.Clear()
                dim.dim_value = int(size)


# ----------------------------------------------------------- the check
def _sample_inputs(spec, n):
    rng = np.random.default_rng(0)
    out = []
    for name, shape in zip(spec["input_names"], spec["input_shapes"]):
        full = (n,) + tuple(shape[1:])
        if name == "latent" or name == "input":
            out.append(rng.standard_normal(full).astype("float32"))
        else:  # images, conditions: [0, 1]
            out.append(rng.uniform(0, 1, full).astype("float32"))
    return out


def _check_against_keras(layer, spec, batch_size):
    """Run the file with onnxruntime and compare it to ``layer`` (skipped without onnxruntime)."""
    try:
        import onnxruntime
    except ImportError:
        return
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    session = onnxruntime.InferenceSession(
        spec["out"], sess_options=options, providers=["CPUExecutionProvider"]
    )
    # A batch other than 1 (the batch PyTorch traces with): a batch size
    # baked into the graph shows.
    n = batch_size or CHECK_BATCH
    xs = _sample_inputs(spec, n)
    # predict_on_batch: one compiled call (JAX compiles eager ops one by one).
    expected = layer.predict_on_batch(xs[0] if len(xs) == 1 else xs)
    expected = expected if isinstance(expected, (list, tuple)) else [expected]
    expected = [np.asarray(keras.ops.convert_to_numpy(y), dtype="float32") for y in expected]
    try:
        got = session.run(spec["output_names"], dict(zip(spec["input_names"], xs)))
    except Exception as e:
        raise OnnxConversionError(
            f"onnxruntime cannot run the exported file on a batch of {n} "
            f"({type(e).__name__}: {e}). "
            + (
                "The exporter may have fixed the batch size while tracing; pass "
                "batch_size=N to export a fixed batch."
                if batch_size is None
                else ""
            )
        ) from e
    tolerance = CHECK_TOLERANCE
    if {getattr(sub, "compute_dtype", "float32") for sub in layer._flatten_layers()} & {
        "float16",
        "bfloat16",
    }:
        tolerance = CHECK_TOLERANCE_16_BIT
    for name, y, g in zip(spec["output_names"], expected, got):
        if g.shape != y.shape:
            raise OnnxConversionError(
                f"The exported file gives {name!r} of shape {g.shape} for a batch of {n}; "
                f"the Keras part gives {y.shape}."
            )
        finite = np.isfinite(y)
        if not np.array_equal(finite, np.isfinite(g)):
            raise OnnxConversionError(
                f"The exported file's {name!r} is non-finite where the Keras part's is "
                "not (or the other way round)."
            )
        if finite.any():
            scale = max(1.0, float(np.max(np.abs(y[finite]))))
            error = float(np.max(np.abs(g[finite] - y[finite])))
            if error > tolerance * scale:
                raise OnnxConversionError(
                    f"The exported file does not reproduce the Keras part: {name!r} differs "
                    f"by up to {error:.3g} on a batch of {n} (largest value {scale:.3g})."
                )


# ------------------------------------------------------- quiet, and fast
class _quiet:
    """Silence the exporters' tracing warnings and progress prints."""

    def __enter__(self):
        self._warnings = warnings.catch_warnings()
        self._warnings.__enter__()
        warnings.simplefilter("ignore")
        return self

    def __exit__(self, *exc):
        self._warnings.__exit__(*exc)
        return False


_jax_plugins_loaded = False  # jax2onnx's plugins for JAX primitives, imported once


class _fast_jax2onnx_plugins:
    """On JAX: load only jax2onnx's plugins for JAX primitives for this export.

    jax2onnx's first conversion in a process imports every plugin it ships,
    including its Flax / Equinox plugins and examples, which run jitted code
    at import (about 20 s on a loaded 2-core machine); a Keras network only
    needs the plugins of JAX's own primitives (``plugins/jax``, about 2 s).
    Those are imported, and jax2onnx is told that its plugins are loaded for
    the duration of the export only; afterwards a direct jax2onnx call still
    loads the rest. If this jax2onnx version is organised differently, or a
    conversion fails with the subset, the caller's export runs as jax2onnx
    would run it on its own (see :func:`convert`).
    """

    def __init__(self, enabled=True):
        self.enabled = enabled

    def __enter__(self):
        self._state = None
        if not self.enabled or keras.backend.backend() != "jax":
            return self
        try:
            from jax2onnx.plugins import plugin_system
        except ImportError:
            return self
        if getattr(plugin_system, "_already_imported_plugins", True) or not hasattr(
            plugin_system, "_import_tree"
        ):
            return self
        global _jax_plugins_loaded
        if not _jax_plugins_loaded:
            from pathlib import Path

            subtree = Path(os.path.dirname(plugin_system.__file__)) / "jax"
            if not subtree.is_dir():
                return self
            plugin_system._import_tree(subtree, "jax2onnx.plugins.jax")
            _jax_plugins_loaded = True
        plugin_system._already_imported_plugins = True
        self._state = plugin_system
        return self

    def __exit__(self, *exc):
        if self._state is not None:
            self._state._already_imported_plugins = False
        return False
