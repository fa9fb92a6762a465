"""Shapes: a procedural RGB image dataset with named attributes, offline.

Each image is one anti-aliased object (circle, square, triangle or
five-pointed star) in one of six colours on a dark or light background with
a soft colour gradient, at a random size, position and rotation. Every image
is rendered from its own row of factors, drawn once from a fixed seed, so the
dataset is the same on every machine and backend, has fixed train and test
splits, and renders at any `image_size` (the same scene at every size).

Its labels have the form of CelebA's: a float32 vector of 0/1 attributes,
named by `SHAPES_ATTRIBUTES`. The attributes come in groups:

- shape (exactly one is 1): `Circle`, `Square`, `Triangle`, `Star`;
- object colour (exactly one is 1): `Red`, `Green`, `Blue`, `Yellow`,
  `Magenta`, `Cyan`;
- `Light_Background`: the background is light (else dark);
- `Large`: the object's circumradius is over 0.20 of the image side
  (radii are uniform in [0.12, 0.28]);
- `Left`, `Top`: the object's centre lies in the left / top half (centres
  are uniform in [0.3, 0.7] of the side on each axis);

and the continuous factors behind them (`shape_factors`): centre, radius,
rotation, colour jitter and background gradient.
"""

import functools
import types

import numpy as np

from keras_gen import _checks
from keras_gen.data.ranges import rescale

SHAPES = ("Circle", "Square", "Triangle", "Star")
COLORS = ("Red", "Green", "Blue", "Yellow", "Magenta", "Cyan")
SHAPES_ATTRIBUTES = SHAPES + COLORS + ("Light_Background", "Large", "Left", "Top")
# Attributes of which exactly one is 1 in every image: changing one of them
# necessarily changes another of its group.
SHAPES_ATTRIBUTE_GROUPS = (SHAPES, COLORS, ("Light_Background",), ("Large",),
                           ("Left",), ("Top",))
SHAPES_SPLITS = ("train", "test")
SHAPES_SPLIT_SIZES = {"train": 40_000, "test": 5_000}

_RGB = np.array([
    (0.90, 0.15, 0.15),  # Red
    (0.15, 0.75, 0.25),  # Green
    (0.15, 0.35, 0.95),  # Blue
    (0.95, 0.85, 0.15),  # Yellow
    (0.85, 0.20, 0.80),  # Magenta
    (0.10, 0.80, 0.85),  # Cyan
])
_BACKGROUNDS = np.array([(0.08, 0.08, 0.12), (0.86, 0.86, 0.82)])  # dark, light
_RADIUS_RANGE = (0.12, 0.28)
_LARGE_RADIUS = 0.20
_CENTER_RANGE = (0.3, 0.7)
_COLOR_JITTER = 0.05
_GRADIENT_AMPLITUDE = 0.08
_STAR_INNER_RATIO = 0.45
_SPLIT_STREAMS = {"train": 0, "test": 1}
_CHUNK = 256  # images rendered at once (bounds the float64 work arrays)
# Beyond its circumradius plus this many pixels no shape covers a pixel
# (the star's tips reach furthest: 1 / (2 sin 22.6 deg) = 1.3 pixels).
_MARGIN = 2.0

# Columns of the factor table (see shape_factors).
FACTOR_NAMES = (
    "shape", "color", "background", "center_x", "center_y", "radius",
    "rotation", "jitter_r", "jitter_g", "jitter_b", "gradient_angle",
    "gradient_amplitude",
)


@functools.lru_cache(maxsize=8)
def _factors(split, seed):
    """The factor table of a split: float64 `(n, len(FACTOR_NAMES))`."""
    n = SHAPES_SPLIT_SIZES[split]
    rng = np.random.default_rng([int(seed), _SPLIT_STREAMS[split], 20261129])
    table = np.stack([
        rng.integers(0, len(SHAPES), n),
        rng.integers(0, len(COLORS), n),
        rng.integers(0, len(_BACKGROUNDS), n),
        rng.uniform(*_CENTER_RANGE, n),
        rng.uniform(*_CENTER_RANGE, n),
        rng.uniform(*_RADIUS_RANGE, n),
        rng.uniform(0.0, 2.0 * np.pi, n),
        rng.uniform(-_COLOR_JITTER, _COLOR_JITTER, n),
        rng.uniform(-_COLOR_JITTER, _COLOR_JITTER, n),
        rng.uniform(-_COLOR_JITTER, _COLOR_JITTER, n),
        rng.uniform(0.0, 2.0 * np.pi, n),
        rng.uniform(0.0, _GRADIENT_AMPLITUDE, n),
    ], axis=1)
    table.setflags(write=False)
    return table


def _labels(factors):
    """0/1 float32 attribute vectors `(n, len(SHAPES_ATTRIBUTES))`."""
    shape = np.eye(len(SHAPES))[factors[:, 0].astype(int)]
    color = np.eye(len(COLORS))[factors[:, 1].astype(int)]
    rest = np.stack([
        factors[:, 2] == 1,
        factors[:, 5] > _LARGE_RADIUS,
        factors[:, 3] < 0.5,
        factors[:, 4] < 0.5,
    ], axis=1)
    return np.concatenate([shape, color, rest], axis=1).astype("float32")


def _star_normal():
    """The outward unit normal of the star's edge from the tip at (1, 0)."""
    sector = 2.0 * np.pi / 5.0
    tip = np.array([1.0, 0.0])
    inner = _STAR_INNER_RATIO * np.array([np.cos(sector / 2.0), np.sin(sector / 2.0)])
    edge = inner - tip
    normal = np.array([edge[1], -edge[0]]) / np.hypot(*edge)
    return tuple(float(c) for c in (normal if normal @ tip >= 0 else -normal))


_STAR_NORMAL = _star_normal()


def _signed_distance(kind, u, v, radius, xp=np):
    """Signed distance (negative inside) from points `(u, v)` to a shape.

    `u, v` are coordinates relative to the centre in the object's rotated
    frame, in units of the image side; the shape's circumradius is
    `radius`. Regular polygons and the star use the distance to the edge
    line of the angular sector the point falls in, which is exact near the
    edges (all that anti-aliasing needs). `xp` provides `hypot`, `arctan2`,
    `mod`, `cos`, `sin`, `abs` and `maximum` (NumPy, or `_tf_ops()`).
    """
    if kind in (1, 2):  # square, triangle: regular n-gon, vertex at angle 0
        # The largest distance to the edge lines (normals between vertices).
        n = 4 if kind == 1 else 3
        normals = [(2 * k + 1) * np.pi / n for k in range(n)]
        along = [u * np.cos(a) + v * np.sin(a) for a in normals]
        return functools.reduce(xp.maximum, along) - radius * np.cos(np.pi / n)
    rho = xp.hypot(u, v)
    if kind == 0:  # circle
        return rho - radius
    theta = xp.arctan2(v, u)
    # Star: five tips at radius R, inner vertices at R * _STAR_INNER_RATIO.
    sector = 2.0 * np.pi / 5.0
    phi = xp.abs(xp.mod(theta + sector / 2.0, sector) - sector / 2.0)  # 0 at a tip
    px, py = rho * xp.cos(phi), rho * xp.sin(phi)
    return (px - radius) * _STAR_NORMAL[0] + py * _STAR_NORMAL[1]


def _gradient(f, ys, xs, xp=np):
    """The background's linear gradient `(n, height, width)`: random
    direction, +/- amplitude across the image. `ys`, `xs`: pixel centres
    shaped `(1, height, 1)` and `(1, 1, width)`."""
    amplitude = 2.0 * f[:, 11]
    return ((amplitude * xp.sin(f[:, 10]))[:, None, None] * (ys - 0.5)
            + (amplitude * xp.cos(f[:, 10]))[:, None, None] * (xs - 0.5))


def _window_size(extent, height, width):
    """`(rows, cols)` of a window that holds every pixel within `extent` (a
    fraction of the side) of an object's centre."""
    return (min(height, int(np.ceil(2.0 * extent * height)) + 2),
            min(width, int(np.ceil(2.0 * extent * width)) + 2))


def _render(factors, height, width):
    """Float32 images `(n, height, width, 3)` in [0, 1] for factor rows.

    Computed in float64. The object's coverage is computed only in a window
    around it (the pixels within its circumradius plus `_MARGIN` pixels,
    beyond which every shape's coverage is 0), which keeps rendering fast
    enough to stream batches while a model trains.
    """
    n = len(factors)
    ys = (np.arange(height) + 0.5) / height
    xs = (np.arange(width) + 0.5) / width
    pixel = 1.0 / min(height, width)  # one pixel, in units of the side
    out = np.empty((n, height, width, 3), dtype="float32")
    for start in range(0, n, _CHUNK):
        f = factors[start:start + _CHUNK]
        m = len(f)
        # Background: its base colour plus a gradient.
        along = _gradient(f, ys[None, :, None], xs[None, None, :])
        image = _BACKGROUNDS[f[:, 2].astype(int)][:, None, None, :] + along[..., None]
        # The object, in one window of the same size for the whole chunk.
        extent = f[:, 5].max() + _MARGIN * pixel
        win_h, win_w = _window_size(extent, height, width)
        top = np.clip(np.floor((f[:, 4] - extent) * height).astype(int), 0, height - win_h)
        left = np.clip(np.floor((f[:, 3] - extent) * width).astype(int), 0, width - win_w)
        dy = ys[top[:, None] + np.arange(win_h)][:, :, None] - f[:, 4][:, None, None]
        dx = xs[left[:, None] + np.arange(win_w)][:, None, :] - f[:, 3][:, None, None]
        cos, sin = np.cos(f[:, 6])[:, None, None], np.sin(f[:, 6])[:, None, None]
        u, v = cos * dx + sin * dy, -sin * dx + cos * dy
        radius = f[:, 5][:, None, None]
        distance = np.empty((m, win_h, win_w))
        for kind in range(len(SHAPES)):
            rows = f[:, 0] == kind
            if rows.any():
                distance[rows] = _signed_distance(kind, u[rows], v[rows], radius[rows])
        coverage = np.clip(0.5 - distance / pixel, 0.0, 1.0)[..., None]
        color = _RGB[f[:, 1].astype(int)] + f[:, 7:10]
        for i in range(m):
            window = image[i, top[i]:top[i] + win_h, left[i]:left[i] + win_w]
            window += coverage[i] * (color[i] - window)
        out[start:start + m] = np.clip(image, 0.0, 1.0)
    return out


def _to_value_range(x, value_range):
    """Float32 images in [0, 1] mapped linearly onto `value_range`."""
    if tuple(value_range) == (0.0, 1.0):
        return x
    return np.clip(rescale(x, (0.0, 1.0), value_range), *value_range).astype("float32")


def _tf_ops():
    """TensorFlow versions of the NumPy functions `_signed_distance` and
    `_gradient` use."""
    import tensorflow as tf

    return types.SimpleNamespace(
        hypot=lambda u, v: tf.sqrt(u * u + v * v), arctan2=tf.atan2,
        mod=tf.math.floormod, cos=tf.cos, sin=tf.sin, abs=tf.abs,
        maximum=tf.maximum,
    )


def _render_tf(factors, height, width):
    """`_render` in TensorFlow ops, for tf.data pipelines.

    `factors` is a float64 tensor of factor rows; returns float32 images
    `(n, height, width, 3)` in [0, 1] equal to `_render`'s up to float
    round-off (the same float64 formulas, with a window of one size for
    every object). Runs in graph mode inside `tf.data` without
    calling back into Python, so iterators never wait on the GIL.
    """
    import tensorflow as tf

    ops = _tf_ops()
    ys = tf.constant((np.arange(height) + 0.5) / height)[None, :, None]
    xs = tf.constant((np.arange(width) + 0.5) / width)[None, None, :]
    pixel = 1.0 / min(height, width)
    col = lambda j: factors[:, j][:, None, None]  # noqa: E731
    along = _gradient(factors, ys, xs, xp=ops)
    base = tf.gather(tf.constant(_BACKGROUNDS), tf.cast(factors[:, 2], "int32"))
    image = base[:, None, None, :] + along[..., None]
    # The object's coverage, computed in a window of a fixed size (any
    # object with its margin fits) and scattered into the frame.
    extent = _RADIUS_RANGE[1] + _MARGIN * pixel
    win_h, win_w = _window_size(extent, height, width)
    top = tf.clip_by_value(tf.cast(tf.floor((factors[:, 4] - extent) * height), "int32"),
                           0, height - win_h)
    left = tf.clip_by_value(tf.cast(tf.floor((factors[:, 3] - extent) * width), "int32"),
                            0, width - win_w)
    rows_y = top[:, None] + tf.range(win_h)[None]  # (n, win_h)
    cols_x = left[:, None] + tf.range(win_w)[None]  # (n, win_w)
    dy = tf.gather(ys[0, :, 0], rows_y)[:, :, None] - col(4)
    dx = tf.gather(xs[0, 0], cols_x)[:, None, :] - col(3)
    cos, sin = tf.cos(col(6)), tf.sin(col(6))
    u, v = cos * dx + sin * dy, -sin * dx + cos * dy
    kinds = tf.cast(factors[:, 0], "int32")
    rows, parts = [], []
    for kind in range(len(SHAPES)):
        index = tf.where(tf.equal(kinds, kind))[:, 0]
        rows.append(tf.cast(index, "int32"))
        parts.append(_signed_distance(
            kind, tf.gather(u, index), tf.gather(v, index),
            tf.gather(col(5), index), xp=ops,
        ))
    distance = tf.dynamic_stitch(rows, parts)
    window = tf.clip_by_value(0.5 - distance / pixel, 0.0, 1.0)  # (n, win_h, win_w)
    n = tf.shape(factors)[0]
    where = tf.stack([
        tf.broadcast_to(tf.range(n)[:, None, None], [n, win_h, win_w]),
        tf.broadcast_to(rows_y[:, :, None], [n, win_h, win_w]),
        tf.broadcast_to(cols_x[:, None, :], [n, win_h, win_w]),
    ], axis=-1)
    coverage = tf.scatter_nd(where, window, [n, height, width])[..., None]
    color = tf.gather(tf.constant(_RGB), tf.cast(factors[:, 1], "int32")) + factors[:, 7:10]
    image = image + coverage * (color[:, None, None, :] - image)
    return tf.cast(tf.clip_by_value(image, 0.0, 1.0), "float32")


def _check_count(name, value, split):
    total = SHAPES_SPLIT_SIZES[split]
    if value is None:
        return total
    return _checks.integer(name, value, minimum=1, maximum=total)


def shape_factors(split="train", num_examples=None, seed=0):
    """The continuous factors behind each `shapes` image, as a dict of arrays.

    Keys are `FACTOR_NAMES`: `shape`, `color`, `background` (integer
    indices into `SHAPES`, `COLORS` and (dark, light)), `center_x`,
    `center_y`, `radius` (fractions of the image side), `rotation`
    (radians), `jitter_r/g/b` (added to the object's colour),
    `gradient_angle` and `gradient_amplitude` (of the background).
    Each call returns fresh copies: edit them and `render_shapes` draws the
    edited scenes.

    Example:

    >>> f = shape_factors("test", num_examples=3)
    >>> sorted(f) == sorted(FACTOR_NAMES), f["radius"].shape
    (True, (3,))
    >>> bool(np.all((f["radius"] >= 0.12) & (f["radius"] <= 0.28)))
    True
    """
    _checks.choice("split", split, SHAPES_SPLITS)
    n = _check_count("num_examples", num_examples, split)
    seed = _checks.seed("seed", seed, allow_none=False)
    table = _factors(split, int(seed))[:n]
    return {name: table[:, i].copy() for i, name in enumerate(FACTOR_NAMES)}


# The most float32 image data load_shapes builds in memory (a 40,000-image
# split at 64x64 is 2 GB; at 256x256 it asked for 29 GiB).
MAX_IN_MEMORY_GB = 4


def load_shapes(
    split="train",
    image_size=64,
    value_range=(0.0, 1.0),
    num_examples=None,
    seed=0,
    with_labels=True,
):
    """Load the procedural `shapes` images as NumPy arrays, offline.

    40,000 training and 5,000 test images of one anti-aliased object each
    (see the module docstring for the factors), rendered at `image_size`
    and mapped linearly from [0, 1] to `value_range`. Image `i` of a split
    is the same scene at every size and on every machine; `seed` draws a
    different dataset of the same distribution (0 is the standard one).
    For training at 64x64, prefer `keras_gen.data.load("shapes")`, which
    renders batches as it streams instead of holding 2 GB of float32.

    Args:
        split: str, `"train"` or `"test"`. Defaults to `"train"`.
        image_size: int or pair `(height, width)`. Defaults to `64`.
        value_range: pair `(low, high)`. Defaults to `(0.0, 1.0)`.
        num_examples: `None` or int, the first `num_examples` images of the
            split. Defaults to `None` (all).
        seed: int in [0, 2**31), the seed of the factor draws. Defaults to `0`.
        with_labels: bool, whether to also return the attribute vectors.
            Defaults to `True`.

    Returns:
        `(x, y)` when `with_labels`, else `x`: `x` is float32
        `(n, height, width, 3)`; `y` is float32 `(n, 14)` of 0/1 values,
        one column per name in `SHAPES_ATTRIBUTES`.

    Example:

    >>> x, y = load_shapes("test", image_size=32, num_examples=8)
    >>> x.shape, y.shape, SHAPES_ATTRIBUTES[int(y[0].argmax())] in SHAPES
    ((8, 32, 32, 3), (8, 14), True)
    """
    _checks.choice("split", split, SHAPES_SPLITS)
    height, width = _checks.image_size("image_size", image_size, allow_none=False)
    value_range = _checks.value_range("value_range", value_range)
    n = _check_count("num_examples", num_examples, split)
    seed = _checks.seed("seed", seed, allow_none=False)
    _checks.boolean("with_labels", with_labels)
    gigabytes = n * height * width * 3 * 4 / 1e9
    if gigabytes > MAX_IN_MEMORY_GB:
        raise ValueError(
            f"load_shapes holds every image in memory: {n} images of {height}x{width} would take "
            f"{gigabytes:.1f} GB (at most {MAX_IN_MEMORY_GB} GB). Pass fewer num_examples or a "
            "smaller image_size, or stream them with keras_gen.data.load('shapes', ...). "
            f"Received: image_size={image_size!r}, num_examples={num_examples!r}"
        )
    factors = _factors(split, int(seed))[:n]
    x = _to_value_range(_render(factors, height, width), value_range)
    return (x, _labels(factors)) if with_labels else x


def render_shapes(factors, image_size=64, value_range=(0.0, 1.0)):
    """Render scenes from their factors: the images and labels of edited scenes.

    `factors` has the form `shape_factors` returns, so a scene of the
    dataset can be rendered again with some of its factors changed (another
    colour, shape or background, a moved or resized object) and everything
    else exactly as it was: what a perfect attribute edit of that image
    would produce. The unchanged factors of `shape_factors(split, n)` render
    exactly the images of `load_shapes(split, image_size, num_examples=n)`.

    Args:
        factors: dict with every key of `FACTOR_NAMES`, each a 1-D array of
            one common length n >= 1: `shape`, `color`, `background` integer
            indices into `SHAPES`, `COLORS` and (dark, light); `center_x`,
            `center_y`, `radius` fractions of the image side, `radius` > 0;
            `rotation`, `jitter_r/g/b`, `gradient_angle`,
            `gradient_amplitude` as `shape_factors` describes them.
        image_size: int or pair `(height, width)`. Defaults to `64`.
        value_range: pair `(low, high)`. Defaults to `(0.0, 1.0)`.

    Returns:
        `(x, y)` as `load_shapes` returns them: float32 images
        `(n, height, width, 3)` in `value_range` and their float32 `(n, 14)`
        attribute vectors (`Large`, `Left`, `Top` follow the radius and
        centre given).

    Raises:
        ValueError: a missing or unknown key, arrays that are not 1-D of
            one length, non-finite values, an index out of range or not a
            whole number, or a radius <= 0; the message names the key and
            the values received.

    Example:

    >>> f = shape_factors("test", num_examples=2)
    >>> f["color"] = np.full(2, COLORS.index("Blue"))
    >>> x, y = render_shapes(f, image_size=32)
    >>> x.shape, [SHAPES_ATTRIBUTES[j] for j in np.flatnonzero(y[0][4:10]) + 4]
    ((2, 32, 32, 3), ['Blue'])
    """
    if not isinstance(factors, dict):
        raise ValueError("factors must be a dict of arrays keyed by FACTOR_NAMES "
                         f"(what shape_factors returns). Received: {type(factors).__name__}")
    missing = [k for k in FACTOR_NAMES if k not in factors]
    unknown = [k for k in factors if k not in FACTOR_NAMES]
    if missing or unknown:
        raise ValueError(f"factors must have exactly the keys {FACTOR_NAMES}. Received: "
                         f"missing {missing}, unknown {unknown}")
    columns = []
    for key in FACTOR_NAMES:
        try:
            column = np.asarray(factors[key], dtype="float64")
        except (TypeError, ValueError):
            raise ValueError(f"factors[{key!r}] must be numbers. Received: "
                             f"{factors[key]!r}") from None
        if column.ndim != 1 or len(column) == 0:
            raise ValueError(f"factors[{key!r}] must be a non-empty 1-D array. Received: "
                             f"shape {column.shape}")
        if not np.all(np.isfinite(column)):
            raise ValueError(f"factors[{key!r}] must be finite. Received: "
                             f"{column[~np.isfinite(column)][:5].tolist()}")
        columns.append(column)
    lengths = {k: len(c) for k, c in zip(FACTOR_NAMES, columns)}
    if len(set(lengths.values())) != 1:
        raise ValueError(f"factors' arrays must have one length. Received: lengths {lengths}")
    for key, count in (("shape", len(SHAPES)), ("color", len(COLORS)),
                       ("background", len(_BACKGROUNDS))):
        column = columns[FACTOR_NAMES.index(key)]
        bad = (column != np.round(column)) | (column < 0) | (column >= count)
        if bad.any():
            raise ValueError(f"factors[{key!r}] must hold whole numbers in [0, {count - 1}]. "
                             f"Received: {column[bad][:5].tolist()}")
    radius = columns[FACTOR_NAMES.index("radius")]
    if np.any(radius <= 0):
        raise ValueError(f"factors['radius'] must be > 0. Received: "
                         f"{radius[radius <= 0][:5].tolist()}")
    height, width = _checks.image_size("image_size", image_size, allow_none=False)
    value_range = _checks.value_range("value_range", value_range)
    table = np.stack(columns, axis=1)
    return _to_value_range(_render(table, height, width), value_range), _labels(table)


def render_indices(split, indices, height, width, seed=0):
    """Images and labels of the given rows of a split, in NumPy.

    Args:
        split: `"train"` or `"test"`.
        indices: int array-like of row indices into the split (NumPy
            indexing: negative indices count from the end).
        height, width: ints, the image size.
        seed: int in [0, 2**31), the seed of the factor draws. Defaults to `0`.

    Returns:
        `(x, y)` as `load_shapes` returns them (values in [0, 1]).
        `keras_gen.data.load("shapes")` renders the same images with
        TensorFlow ops instead (`_render_tf`).
    """
    _checks.choice("split", split, SHAPES_SPLITS)
    seed = _checks.seed("seed", seed, allow_none=False)
    factors = _factors(split, seed)[np.asarray(indices)]
    return _render(factors, height, width), _labels(factors)
