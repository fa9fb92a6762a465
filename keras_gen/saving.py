"""Loading ``.keras`` files with errors that say what is wrong with the file.

``keras.saving.load_model`` reports a ``.keras`` file that exists but is not
a zip archive (truncated, overwritten, another format) as ``File not found``,
and a damaged archive with a bare ``zipfile`` or ``zlib`` error. This is a
Keras behaviour that keras-gen cannot change; :func:`load_model` checks the
file first and names it in every error, then calls Keras. The recipes load
models through it.
"""

import os
import zipfile
import zlib

import keras


def load_model(filepath, custom_objects=None, compile=True, safe_mode=True):
    """``keras.saving.load_model`` with clear errors for missing or damaged files.

    Local paths are checked before Keras reads them: a missing path raises
    ``FileNotFoundError``; a ``.keras`` file that is not a zip archive, or
    whose archive is damaged, raises ``ValueError``; both name the path.
    Remote paths (``gs://``, ``hf://``, ...) go to Keras unchanged.

    Args:
        filepath: str or path-like, the ``.keras`` file (or anything
            ``keras.saving.load_model`` accepts).
        custom_objects: as for ``keras.saving.load_model``.
        compile: bool, as for ``keras.saving.load_model``. Defaults to True.
        safe_mode: bool, as for ``keras.saving.load_model``. Defaults to True.

    Returns:
        The loaded model.

    Raises:
        FileNotFoundError: if a local ``filepath`` does not exist.
        ValueError: if a local ``.keras`` file is not a readable zip archive.

    Example:

    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "broken.keras")
    >>> with open(path, "wb") as f:
    ...     _ = f.write(b"not a zip archive")
    >>> try:
    ...     load_model(path)
    ... except ValueError as error:
    ...     print(str(error).split(":")[0])
    The file is not a valid .keras file (a .keras file is a zip archive)
    """
    path = os.fspath(filepath)
    local = "://" not in str(path)
    if local:
        path = os.path.expanduser(path)
        if not os.path.exists(path):
            raise FileNotFoundError(f"No model file at this path. Received: filepath={path!r}")
        if os.path.isfile(path) and str(path).endswith(".keras") and not zipfile.is_zipfile(path):
            raise ValueError(
                "The file is not a valid .keras file (a .keras file is a zip archive): "
                f"it is truncated, damaged or in another format ({os.path.getsize(path)} "
                f"bytes). Received: filepath={path!r}"
            )
    try:
        return keras.saving.load_model(
            path, custom_objects=custom_objects, compile=compile, safe_mode=safe_mode
        )
    except (zipfile.BadZipFile, zlib.error, EOFError) as error:
        raise ValueError(
            f"The .keras file is damaged: {type(error).__name__}: {error}. "
            f"Received: filepath={path!r}"
        ) from error
