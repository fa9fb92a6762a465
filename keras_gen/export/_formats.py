"""What export can write: formats, parts, and the one table of quantization modes."""

import collections

from keras_gen import runtime

FORMATS = ("saved_model", "tflite", "onnx")
# The formats written by a TensorFlow process (SavedModel, TFLite); ONNX is
# written by Keras' exporter under the current backend.
TENSORFLOW_FORMATS = ("saved_model", "tflite")
# The file suffix each file format is inferred from when ``format`` is None.
SUFFIXES = {".onnx": "onnx", ".tflite": "tflite"}
PARTS = runtime.PARTS
# Written as keras_gen.runtime reads them: the newest manifest version it
# knows and its signature key.
MANIFEST_VERSION = runtime.MANIFEST_VERSIONS[-1]
# Manifests of unconditional artefacts keep version 1 (readable by runners
# that predate conditional artefacts); version 2 adds the `condition` block
# and a second input.
UNCONDITIONAL_VERSION = 1
SIGNATURE_KEY = runtime.SIGNATURE_KEY

QuantizationMode = collections.namedtuple(
    "QuantizationMode", ["suffix", "tolerance", "converter", "description"]
)

# The quantization modes of TFLite files. `suffix`: what export_for_mobile
# appends to the file name; `tolerance`: the documented largest absolute
# difference to the Keras model's outputs for outputs of order 1 (images in
# [0, 1] or [-1, 1], latent codes), checked by the tests; `converter`: the
# TFLite converter options (tf.lite.Optimize members, tf dtype names), passed
# as data to the TensorFlow worker.
QUANTIZATION_MODES = {
    None: QuantizationMode("", 1e-5, {}, "float32"),
    "float16": QuantizationMode(
        "_fp16",
        1e-2,
        {"optimizations": ["DEFAULT"], "supported_types": ["float16"]},
        "float16 weights, float32 compute on CPU",
    ),
    "dynamic_int8": QuantizationMode(
        "_int8",
        1e-1,
        {"optimizations": ["DEFAULT"]},
        "int8 weights, activations quantized on the fly",
    ),
}
QUANTIZATIONS = tuple(QUANTIZATION_MODES)
TOLERANCES = {name: mode.tolerance for name, mode in QUANTIZATION_MODES.items()}
