"""The first batch of a training input, read without consuming the input.

keras-gen models check their data before any layer runs (see
``GenerativeModel.fit``). For an in-memory array that is the whole array; for
a stream it is its first batch: ``take(1)`` of a ``tf.data.Dataset`` (a fresh
iterator, so the dataset itself is untouched) and item 0 of a
``keras.utils.PyDataset``, the first batch of a fresh pass over a
``torch.utils.data.DataLoader``. Python generators and other iterators cannot
be peeked at without losing the batch: the models check their first batch as
training takes it (``GenerativeModel._checked_stream``).
"""

import sys

import numpy as np

# What first_batch() found.
ARRAY = "array"
UNKNOWN = None


def _is_tf_dataset(data):
    tf = sys.modules.get("tensorflow")
    if tf is None:  # TensorFlow not imported: data cannot be a tf.data.Dataset.
        return False
    return isinstance(data, tf.data.Dataset)


def _is_py_dataset(data):
    import keras

    return isinstance(data, keras.utils.PyDataset)


def _is_torch_data_loader(data):
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(data, torch.utils.data.DataLoader)


def _first_of_data_loader(loader):
    """The first batch of a ``torch.utils.data.DataLoader`` as NumPy, or None.

    A DataLoader can be iterated again, so reading one batch loses nothing;
    a shuffling one draws its order from torch's random state (or its own
    ``generator``), which is put back so that training sees the order it
    would have seen."""
    import torch

    state = torch.random.get_rng_state()
    own = loader.generator.get_state() if getattr(loader, "generator", None) is not None else None
    try:
        for batch in loader:
            return _as_numpy(batch)
        return None
    finally:
        torch.random.set_rng_state(state)
        if own is not None:
            loader.generator.set_state(own)


def _as_numpy(batch):
    import keras

    return keras.tree.map_structure(np.asarray, batch)


def first_batch(data):
    """Return ``(kind, batch)`` for a training input ``data``.

    * NumPy arrays and tensors (anything NumPy can read that has ``shape``
      and ``dtype``): ``("array", the whole array as NumPy)``;
    * ``tf.data.Dataset``: ``("tf.data.Dataset", first element as NumPy)``;
    * ``keras.utils.PyDataset``: ``("PyDataset", item 0 as NumPy)``;
    * ``torch.utils.data.DataLoader`` of a map-style dataset without
      persistent workers: ``("DataLoader", its first batch as NumPy)``, read
      with torch's random state put back (an ``IterableDataset`` may be
      consumed by a pass, persistent workers keep their iterator: not
      inspected);
    * a stream that yields nothing: ``(kind, None)``;
    * anything else (``None``, generators, dicts of inputs, ...):
      ``(None, None)``.

    The batch of a stream is what the stream yields: an image batch or a
    tuple ``(x, y[, sample_weight])``.

    Example:

    >>> import keras, numpy as np
    >>> class Batches(keras.utils.PyDataset):
    ...     def __len__(self):
    ...         return 2
    ...     def __getitem__(self, index):
    ...         return np.full((3, 1), index)
    >>> kind, batch = first_batch(Batches())
    >>> kind, batch.ravel().tolist()
    ('PyDataset', [0, 0, 0])
    >>> first_batch(np.zeros((0, 4)))[0]
    'array'
    """
    if data is None:
        return UNKNOWN, None
    if isinstance(data, np.ndarray):
        return ARRAY, data
    if _is_tf_dataset(data):
        for element in data.take(1):
            return "tf.data.Dataset", _as_numpy(element)
        return "tf.data.Dataset", None
    if _is_py_dataset(data):
        try:
            count = data.num_batches
        except NotImplementedError:  # A PyDataset without __len__.
            count = None
        if count == 0:
            return "PyDataset", None
        return "PyDataset", _as_numpy(data[0])
    if _is_torch_data_loader(data):
        import torch

        if isinstance(data.dataset, torch.utils.data.IterableDataset) or data.persistent_workers:
            # a pass over a stream consumes it; persistent workers keep their iterator
            return UNKNOWN, None
        try:
            return "DataLoader", _first_of_data_loader(data)
        except (TypeError, RuntimeError):  # e.g. tensors on an accelerator: not inspected here
            return UNKNOWN, None
    if hasattr(data, "shape") and hasattr(data, "dtype") and hasattr(data, "__array__"):
        try:
            return ARRAY, np.asarray(data)
        except Exception:  # e.g. a tensor on an accelerator: not inspected here.
            return UNKNOWN, None
    return UNKNOWN, None
