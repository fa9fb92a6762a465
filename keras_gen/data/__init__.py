"""Datasets for keras-gen: named (TFDS, offline digits and shapes), folders, arrays.

Every loader returns float32 NHWC images whose values lie in a chosen
`value_range` ((0, 1) for AE/VAE sigmoid decoders, (-1, 1) for tanh GAN
generators), as a batched `tf.data.Dataset` or NumPy arrays; both feed Keras
`fit` on the TensorFlow, JAX and PyTorch backends. TensorFlow is imported
only when a pipeline is built.

With `with_labels=True` loaders yield `(images, labels)`: labels are int32
class ids `(batch,)` (digits, MNIST, Fashion-MNIST, CIFAR-10, folders of
class subfolders) or float32 0/1 attribute vectors `(batch, k)` (CelebA,
shapes, folders with an attribute file) named by `attribute_names`.

Every dataset built here carries `pipeline_options()` (the pipeline's own
threads limited to one core); `for_busy_machine(ds)` applies the same
options to a `tf.data` pipeline of your own.
"""

from keras_gen.data._pipeline import for_busy_machine
from keras_gen.data._pipeline import pipeline_options
from keras_gen.data.arrays import from_numpy
from keras_gen.data.attributes import CELEB_A_ATTRIBUTES
from keras_gen.data.attributes import attribute_names
from keras_gen.data.datasets import SUPPORTED_DATASETS
from keras_gen.data.datasets import load
from keras_gen.data.digits import load_digits
from keras_gen.data.errors import DatasetUnavailableError
from keras_gen.data.folder import IMAGE_EXTENSIONS
from keras_gen.data.folder import from_folder
from keras_gen.data.folder import read_attributes_file
from keras_gen.data.ranges import check_value_range
from keras_gen.data.ranges import rescale
from keras_gen.data.shapes import SHAPES_ATTRIBUTES
from keras_gen.data.shapes import load_shapes
from keras_gen.data.shapes import render_shapes
from keras_gen.data.shapes import shape_factors

__all__ = [
    "CELEB_A_ATTRIBUTES",
    "DatasetUnavailableError",
    "IMAGE_EXTENSIONS",
    "SHAPES_ATTRIBUTES",
    "SUPPORTED_DATASETS",
    "attribute_names",
    "for_busy_machine",
    "check_value_range",
    "from_folder",
    "from_numpy",
    "load",
    "load_digits",
    "load_shapes",
    "pipeline_options",
    "read_attributes_file",
    "render_shapes",
    "rescale",
    "shape_factors",
]
