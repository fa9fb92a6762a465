"""Make a TensorFlow Datasets builder readable, or fail fast and clearly.

Offline, TFDS's own download retries for minutes (10 retries with
exponential backoff per file, over 3 minutes for MNIST) before failing. So
before downloading we open one TCP connection to the dataset's download host
with a short timeout, and turn any failure into a `DatasetUnavailableError`
that says how to supply the data by hand.
"""

import os
import socket
import urllib.parse

from keras_gen.data.errors import DatasetUnavailableError

PROBE_TIMEOUT = 5.0  # seconds
_PROXY_VARIABLES = ("https_proxy", "http_proxy", "all_proxy")


def _uses_proxy():
    """True when requests would go through a proxy: then probe nothing."""
    return any(
        os.environ.get(name) or os.environ.get(name.upper())
        for name in _PROXY_VARIABLES
    )


def probe(url, timeout=PROBE_TIMEOUT):
    """Return `None` if `url`'s host accepts a connection, else the error."""
    parts = urllib.parse.urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname, port), timeout=timeout):
            return None
    except OSError as error:
        return error


def _is_tfds_own(method):
    """False when `download_and_prepare` was replaced, e.g. by
    `tfds.testing.mock_data`, which serves data without any files."""
    module = getattr(method, "__module__", None) or ""
    return module.startswith("tensorflow_datasets.core")


def default_data_dir():
    """Where TFDS reads and writes datasets when no `data_dir` is given."""
    default = os.path.join(os.path.expanduser("~"), "tensorflow_datasets")
    return os.environ.get("TFDS_DATA_DIR", default)


def unavailable_message(name, builder, data_dir, reason, folder_hint=None):
    """The text of a `DatasetUnavailableError` for dataset `name`."""
    root = os.fspath(data_dir) if data_dir is not None else default_data_dir()
    lines = [
        f"Dataset '{name}' is not available: {reason}.",
        f"TensorFlow Datasets looked for a prepared copy (version "
        f"{builder.version}) in '{builder.data_dir}'.",
        "To supply it by hand:",
        "  1. On a machine with internet access, run",
        f"       python -c \"import tensorflow_datasets as tfds; "
        f"tfds.builder('{name}').download_and_prepare()\"",
        f"     which writes the folder ~/tensorflow_datasets/{name}/ "
        f"(or $TFDS_DATA_DIR/{name}/ if that variable is set).",
        f"  2. Copy that '{name}' folder into a data directory on this "
        f"machine, e.g. '{root}'.",
        f"  3. Call keras_gen.data.load('{name}', data_dir='{root}') (or set "
        "the TFDS_DATA_DIR environment variable to that directory).",
    ]
    if folder_hint:
        lines.append(folder_hint)
    return "\n".join(lines)


def prepare(builder, name, *, download, data_dir, probe_url, folder_hint=None):
    """Ensure `builder.as_dataset` can read data, else raise.

    Args:
        builder: a `tfds.core.DatasetBuilder`.
        name: str, the dataset name used in messages.
        download: bool, whether a missing dataset may be downloaded.
        data_dir: the user's `data_dir` (or `None`), used in messages.
        probe_url: str, a URL on the dataset's download host.
        folder_hint: optional extra line for the error message.

    Raises:
        DatasetUnavailableError: if the dataset is not prepared and cannot be
            downloaded and prepared now.
    """
    own = _is_tfds_own(type(builder).download_and_prepare)
    if own and builder.is_prepared():
        return
    if not own and not download:
        return  # A mocked builder needs no files.

    def fail(reason, cause=None):
        message = unavailable_message(
            name, builder, data_dir, reason, folder_hint
        )
        raise DatasetUnavailableError(message) from cause

    if not download:
        fail("no prepared copy was found and download=False was passed")
    if own and not _uses_proxy():
        error = probe(probe_url)
        if error is not None:
            host = urllib.parse.urlsplit(probe_url).hostname
            fail(
                f"no prepared copy was found and its download host {host} "
                f"cannot be reached ({type(error).__name__}: {error})",
                error,
            )
    try:
        builder.download_and_prepare()
    except ImportError as error:
        fail(
            "TensorFlow Datasets could not import a module it needs to "
            f"download and prepare it ({error}). Install it "
            f"(pip install {error.name or '<module>'}) and retry, or supply "
            "the data by hand as below",
            error,
        )
    except Exception as error:  # Any download/preparation failure.
        fail(
            f"downloading or preparing it failed ({type(error).__name__}: "
            f"{error})",
            error,
        )
