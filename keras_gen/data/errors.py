"""The error raised when a named dataset is neither on disk nor downloadable."""


class DatasetUnavailableError(RuntimeError):
    """A named dataset is not prepared locally and could not be downloaded.

    Raised by `keras_gen.data.load` when TensorFlow Datasets has no prepared
    copy of the dataset in its data directory and either `download=False` or
    the download failed (typically: no network). The message says where the
    data was expected and how to supply it by hand; the original failure, if
    any, is chained as `__cause__`.

    Example:

    >>> from keras_gen.data import DatasetUnavailableError
    >>> issubclass(DatasetUnavailableError, RuntimeError)
    True
    """
