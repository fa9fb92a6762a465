"""Datasets for keras-gen: named (TFDS and offline digits), folders, arrays.

Every loader returns float32 NHWC images whose values lie in a chosen
`value_range` ((0, 1) for AE/VAE sigmoid decoders, (-1, 1) for tanh GAN
generators), as a batched `tf.data.Dataset` or NumPy arrays; both feed Keras
`fit` on the TensorFlow, JAX and PyTorch backends. TensorFlow is imported
only when a pipeline is built.
"""

from keras_gen.data.arrays import from_numpy
from keras_gen.data.datasets import SUPPORTED_DATASETS
from keras_gen.data.datasets import load
from keras_gen.data.digits import load_digits
from keras_gen.data.errors import DatasetUnavailableError
from keras_gen.data.folder import IMAGE_EXTENSIONS
from keras_gen.data.folder import from_folder
from keras_gen.data.ranges import check_value_range
from keras_gen.data.ranges import rescale

__all__ = [
    "DatasetUnavailableError",
    "IMAGE_EXTENSIONS",
    "SUPPORTED_DATASETS",
    "check_value_range",
    "from_folder",
    "from_numpy",
    "load",
    "load_digits",
    "rescale",
]
