"""Turn batches of images into PNG grids and strips."""

import os
import uuid

import numpy as np

from keras_gen import _checks as checks


def to_uint8(images, value_range=(0.0, 1.0)):
    """Map float images in ``value_range`` to uint8 [0, 255], clipping."""
    images = np.asarray(images, dtype="float32")
    lo, hi = value_range
    scaled = (images - lo) / (hi - lo)
    return np.round(np.clip(scaled, 0.0, 1.0) * 255.0).astype("uint8")


def image_grid(images, cols=None, value_range=(0.0, 1.0), padding=2):
    """Tile ``(n, H, W, C)`` images into one ``(rows*H, cols*W, C)`` uint8 image.

    Args:
        images: array-like of shape ``(n, H, W, C)`` with C in {1, 3, 4}.
        cols: int, images per row; defaults to ceil(sqrt(n)).
        value_range: pair, the range the images' values live in.
        padding: int >= 0, pixels of white space between images.

    Example:

    >>> import numpy as np
    >>> image_grid(np.zeros((6, 8, 8, 1)), cols=3, padding=0).shape
    (16, 24, 1)
    """
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] not in (1, 3, 4) or len(images) == 0:
        raise ValueError(
            "images must be a non-empty (n, H, W, C) array with C in {1, 3, 4}. "
            f"Received: images.shape={images.shape}"
        )
    cols = checks.positive_int("cols", cols, allow_none=True)
    value_range = checks.value_range("value_range", value_range)
    padding = checks.non_negative_int("padding", padding)
    n, h, w, c = images.shape
    cols = cols or int(np.ceil(np.sqrt(n)))
    rows = int(np.ceil(n / cols))
    grid = np.full(
        (rows * h + (rows - 1) * padding, cols * w + (cols - 1) * padding, c),
        255,
        dtype="uint8",
    )
    pixels = to_uint8(images, value_range)
    for i in range(n):
        r, k = divmod(i, cols)
        top, left = r * (h + padding), k * (w + padding)
        grid[top : top + h, left : left + w] = pixels[i]
    return grid


def save_png(array, path, scale=1):
    """Write a uint8 ``(H, W, C)`` image to ``path`` atomically.

    The PNG is written to a temporary file in the same folder, then moved
    into place, so an interrupted run never leaves a half-written file.
    ``scale`` > 1 enlarges it with nearest-neighbour resampling.
    """
    from PIL import Image

    array = np.asarray(array)
    if array.shape[-1] == 1:
        array = array[..., 0]
    image = Image.fromarray(array)
    if scale != 1:
        image = image.resize(
            (image.width * scale, image.height * scale), Image.Resampling.NEAREST
        )
    return write_atomically(path, lambda f: image.save(f, format="PNG"))


def write_atomically(path, write):
    """Call ``write(f)`` on a new sibling file of ``path``, then move it over ``path``.

    The folder is created if needed. An interrupted or failed write leaves
    any previous file at ``path`` whole and no temporary behind. The sibling
    is opened with ``"xb"`` (not ``tempfile.mkstemp``, whose files are 0600),
    so the result gets the permissions any new file gets under the umask.
    Returns ``path``.
    """
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    tmp = os.path.join(folder, f".{os.path.basename(path)}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    try:
        with open(tmp, "xb") as f:
            write(f)
        os.replace(tmp, path)
    except BaseException:
        if os.path.lexists(tmp):
            os.remove(tmp)
        raise
    return path


def save_image_grid(images, path, cols=None, value_range=(0.0, 1.0), scale=2):
    """Tile ``images`` (see :func:`image_grid`) and save them as a PNG."""
    return save_png(image_grid(images, cols=cols, value_range=value_range), path, scale=scale)
