"""The TensorFlow side of export: Keras parts -> SavedModel / TFLite files.

Runs with Keras' TensorFlow backend only: imported in-process when the caller
is on TensorFlow, otherwise run by file path in a child process (see
``_child.py``) that never imports the ``keras_gen`` package. Everything it
needs arrives as data in the job specs (paths, names, shapes, converter
options), so this file knows nothing about keras-gen models or quantization
mode names.

A spec is a dict with ``part`` (key of the Keras model in ``parts``),
``format`` (``"saved_model"`` or ``"tflite"``), ``converter`` (TFLite
converter options: ``optimizations`` and ``supported_types``, lists of
``tf.lite.Optimize`` / ``tf`` dtype names), ``batch_size`` (None: dynamic),
``input_names`` and ``input_shapes`` (one input, or two for a conditional
part: the main input, then the condition, in the order the network takes
them), ``output_names``, ``signature`` and ``out`` (the path to write).
"""

import contextlib
import importlib
import json
import os
import shutil
import sys
import traceback

import keras
import tensorflow as tf


class ConversionError(RuntimeError):
    """A conversion failed (TFLite: the model needs ops outside the builtin set)."""


def convert_all(parts, specs, scratch):
    """Write every spec's artefact; ``scratch`` is an empty, private directory.

    Returns one dict per spec: for a TFLite file ``{"input_order": [...]}``,
    the signature's input names in the order of the model's input tensors
    (the converter orders them by its own rule, not by the signature's
    argument order); ``{}`` for a SavedModel.
    """
    # Conversions share one SavedModel per (part, batch size, compute dtype):
    # a TFLite file of a mixed-precision part is converted from a float32
    # copy (LiteRT's builtin ops have no float16 / bfloat16 compute).
    saved, results, float32 = {}, [], {}
    for spec in specs:
        layer = parts[spec["part"]]
        if spec["format"] == "tflite" and computes_in_16_bit(layer):
            if spec["part"] not in float32:
                float32[spec["part"]] = float32_copy(layer)
            layer = float32[spec["part"]]
        key = (spec["part"], spec["batch_size"], layer is parts[spec["part"]])
        if key not in saved:
            saved[key] = os.path.join(scratch, f"sm_{len(saved)}")
            write_saved_model(layer, spec, saved[key])
        if spec["format"] == "saved_model":
            shutil.copytree(saved[key], spec["out"])
            results.append({})
        else:
            results.append({"input_order": write_tflite(saved[key], spec)})
    return results


def computes_in_16_bit(layer):
    """Whether any layer of ``layer`` computes in float16 or bfloat16 (mixed precision)."""
    return any(getattr(sub, "compute_dtype", "float32") in ("float16", "bfloat16")
               for sub in layer._flatten_layers(include_self=True))


def float32_copy(layer):
    """``layer`` rebuilt with every layer computing in float32, with its weights.

    Mixed precision keeps the variables in float32, so the copy holds the
    same values; only the computation (and its rounding) changes.
    """
    def rebuild(sub):
        config = sub.get_config()
        config["dtype"] = "float32"
        return sub.__class__.from_config(config)

    try:
        with _float32_policy():
            copy = keras.models.clone_model(layer, clone_function=rebuild)
        copy.set_weights(layer.get_weights())
    except Exception as e:
        raise ConversionError(
            f"The part {layer.name!r} computes in float16 / bfloat16 (mixed precision), which "
            "LiteRT's builtin ops cannot run, and it could not be rebuilt in float32 for the "
            f"TFLite file ({type(e).__name__}: {e}). Rebuild it under "
            "keras.mixed_precision.set_global_policy('float32'), copy the weights "
            "(set_weights) and export that, or export format='saved_model' or 'onnx'."
        ) from e
    return copy


@contextlib.contextmanager
def _float32_policy():
    """The global dtype policy set to float32 for the duration of a ``with`` block."""
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("float32")
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)


def write_saved_model(layer, spec, path):
    """A SavedModel with one signature: float32 input(s) -> dict of float32 outputs.

    The signature's arguments are the spec's inputs in their order, so the
    TFLite file converted from it has its input tensors in that order too.
    A network with two inputs is called on the list ``[main, condition]``.
    """
    names = spec["output_names"]
    input_signature = [
        tf.TensorSpec([spec["batch_size"]] + list(shape[1:]), tf.float32, name=name)
        for name, shape in zip(spec["input_names"], spec["input_shapes"])
    ]

    def outputs_of(inputs):
        outputs = layer(inputs[0] if len(inputs) == 1 else list(inputs), training=False)
        if not isinstance(outputs, (list, tuple)):
            outputs = [outputs]
        return {n: tf.cast(y, tf.float32) for n, y in zip(names, outputs)}

    if len(input_signature) == 1:

        def serve(x):
            return outputs_of([x])

    else:

        def serve(x, condition):
            return outputs_of([x, condition])

    archive = keras.export.ExportArchive()
    archive.track(layer)
    archive.add_endpoint(spec["signature"], serve, input_signature=input_signature)
    archive.write_out(path, verbose=False)


def write_tflite(saved_model_dir, spec):
    """Convert the SavedModel to a ``.tflite`` file with builtin ops only.

    Returns the signature's input names in the order of the file's input tensors.
    """
    converter = tf.lite.TFLiteConverter.from_saved_model(
        saved_model_dir, signature_keys=[spec["signature"]]
    )
    # Builtin ops only: the file must run on the mobile LiteRT runtime, which
    # has no Flex (SELECT_TF_OPS) delegate by default.
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    options = spec["converter"]
    if options.get("optimizations"):
        converter.optimizations = [getattr(tf.lite.Optimize, o) for o in options["optimizations"]]
    if options.get("supported_types"):
        converter.target_spec.supported_types = [
            tf.as_dtype(t) for t in options["supported_types"]
        ]
    try:
        flatbuffer = converter.convert()
    except Exception as e:
        raise ConversionError(
            "TFLite conversion with builtin ops only failed (the model needs an op "
            f"LiteRT does not have built in): {e}"
        ) from e
    with open(spec["out"], "wb") as f:
        f.write(flatbuffer)
    return input_order(flatbuffer, spec["signature"])


def input_order(flatbuffer, signature):
    """The signature's input names, in the order of the model's input tensors."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:  # pragma: no cover - TensorFlow's own (deprecated) copy
        Interpreter = tf.lite.Interpreter
    interpreter = Interpreter(model_content=flatbuffer)
    by_tensor = {
        detail["index"]: name
        for name, detail in interpreter.get_signature_runner(signature).get_input_details().items()
    }
    return [by_tensor[detail["index"]] for detail in interpreter.get_input_details()]


def main(job_file):
    """Child-process entry point: run the job in ``job_file`` (JSON).

    The job holds ``parts`` (key -> ``.keras`` file), ``specs``, ``modules``
    (modules defining custom layers, imported first) and ``scratch``. What
    :func:`convert_all` returns goes to ``result.json`` beside the job file;
    on failure the error and traceback go to ``error.txt`` there.
    """
    try:
        with open(job_file) as f:
            job = json.load(f)
        for module in job["modules"]:
            importlib.import_module(module)
        parts = {
            key: keras.saving.load_model(path, compile=False)
            for key, path in job["parts"].items()
        }
        results = convert_all(parts, job["specs"], job["scratch"])
        with open(os.path.join(os.path.dirname(job_file), "result.json"), "w") as f:
            json.dump(results, f)
    except BaseException as e:
        with open(os.path.join(os.path.dirname(job_file), "error.txt"), "w") as f:
            f.write(f"{type(e).__name__}: {e}\n\n{traceback.format_exc()[-3000:]}")
        raise


if __name__ == "__main__":
    main(sys.argv[1])
