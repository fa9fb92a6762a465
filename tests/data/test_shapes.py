"""The procedural `shapes` dataset: its arrays, its labels, its tf.data stream."""

import keras
import numpy as np
import pytest

from keras_gen.data import SHAPES_ATTRIBUTES
from keras_gen.data import attribute_names
from keras_gen.data import load
from keras_gen.data import load_shapes
from keras_gen.data.shapes import shape_factors
from keras_gen.data.shapes import render_indices
from keras_gen.data import render_shapes

SHAPE_NAMES = ["Circle", "Square", "Triangle", "Star"]
COLOR_NAMES = ["Red", "Green", "Blue", "Yellow", "Magenta", "Cyan"]


def _column(name):
    return SHAPES_ATTRIBUTES.index(name)


def _batches(ds):
    return [tuple(np.asarray(t) for t in b) if isinstance(b, tuple) else np.asarray(b) for b in ds]


# --- load_shapes: the arrays -----------------------------------------------


def test_names_and_shapes():
    assert SHAPES_ATTRIBUTES == tuple(
        SHAPE_NAMES + COLOR_NAMES + ["Light_Background", "Large", "Left", "Top"]
    )
    assert attribute_names("shapes") == SHAPES_ATTRIBUTES
    x, y = load_shapes("test", image_size=(12, 20), num_examples=5)
    assert x.shape == (5, 12, 20, 3) and x.dtype == np.float32
    assert y.shape == (5, 14) and y.dtype == np.float32
    assert x.min() >= 0.0 and x.max() <= 1.0


def test_split_sizes():
    # 1x1 images make the whole splits cheap.
    assert load_shapes("train", image_size=1, with_labels=False).shape == (40_000, 1, 1, 3)
    assert load_shapes("test", image_size=1, with_labels=False).shape == (5_000, 1, 1, 3)


def test_deterministic_and_seeded():
    a, ya = load_shapes("test", image_size=16, num_examples=8)
    b, yb = load_shapes("test", image_size=16, num_examples=8)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(ya, yb)
    # A prefix of the split is the same images whatever num_examples.
    np.testing.assert_array_equal(load_shapes("test", image_size=16, num_examples=3)[0], a[:3])
    c = load_shapes("test", image_size=16, num_examples=8, seed=1, with_labels=False)
    assert np.abs(a - c).mean() > 0.1


def test_same_scene_at_every_size():
    x64 = load_shapes("test", image_size=64, num_examples=16, with_labels=False)
    x32 = load_shapes("test", image_size=32, num_examples=16, with_labels=False)
    # Box-downsampling 64 -> 32 gives the 32x32 rendering, up to
    # anti-aliasing at the edges.
    pooled = x64.reshape(16, 32, 2, 32, 2, 3).mean(axis=(2, 4))
    error = np.abs(pooled - x32)
    assert error.mean() < 0.003 and np.percentile(error, 99) < 0.05
    other = load_shapes("test", image_size=32, num_examples=32, with_labels=False)[16:]
    assert np.abs(other - x32).mean() > 0.1  # Other scenes are far away.


def test_value_range():
    x = load_shapes("test", image_size=8, num_examples=10, with_labels=False)
    y = load_shapes("test", image_size=8, num_examples=10, value_range=(-1, 1), with_labels=False)
    np.testing.assert_allclose(y, 2.0 * x - 1.0, atol=1e-6)
    assert y.min() >= -1.0 and y.max() <= 1.0


def test_train_and_test_are_disjoint():
    train = shape_factors("train")
    test = shape_factors("test")
    keys = ("center_x", "center_y", "radius", "rotation")
    train_rows = set(zip(*(train[k] for k in keys)))
    assert not any(row in train_rows for row in zip(*(test[k] for k in keys)))
    assert len(train["radius"]) == 40_000 and len(test["radius"]) == 5_000


@pytest.mark.parametrize("split", ["train", "test"])
def test_labels_follow_the_factors(split):
    factors = shape_factors(split)
    _, y = load_shapes(split, image_size=1)
    assert set(np.unique(y)) == {0.0, 1.0}
    shapes = y[:, : len(SHAPE_NAMES)]
    colors = y[:, len(SHAPE_NAMES) : len(SHAPE_NAMES) + len(COLOR_NAMES)]
    np.testing.assert_array_equal(shapes.sum(axis=1), 1.0)
    np.testing.assert_array_equal(colors.sum(axis=1), 1.0)
    np.testing.assert_array_equal(shapes.argmax(axis=1), factors["shape"])
    np.testing.assert_array_equal(colors.argmax(axis=1), factors["color"])
    np.testing.assert_array_equal(y[:, _column("Light_Background")], factors["background"] == 1)
    np.testing.assert_array_equal(y[:, _column("Large")], factors["radius"] > 0.20)
    np.testing.assert_array_equal(y[:, _column("Left")], factors["center_x"] < 0.5)
    np.testing.assert_array_equal(y[:, _column("Top")], factors["center_y"] < 0.5)


def test_factor_ranges_and_proportions():
    factors = shape_factors("train")
    assert factors["radius"].min() >= 0.12 and factors["radius"].max() <= 0.28
    for axis in ("center_x", "center_y"):
        assert factors[axis].min() >= 0.3 and factors[axis].max() <= 0.7
    _, y = load_shapes("train", image_size=1)
    share = y.mean(axis=0)
    np.testing.assert_allclose(share[:4], 1 / 4, atol=0.02)  # Every shape...
    np.testing.assert_allclose(share[4:10], 1 / 6, atol=0.02)  # ...and colour.
    np.testing.assert_allclose(share[10:], 0.5, atol=0.03)  # Binary attributes.


def _coverage(x, factors, i):
    """How far each pixel of image i goes from its background to its colour.

    The background and object colours are derived from the documented
    factors: base colour (dark/light) plus a linear gradient of +/-
    amplitude across the image; object colour plus its jitter. Alpha is the
    projection of the pixel onto the segment background -> colour.
    """
    rgb = np.array(
        [(0.90, 0.15, 0.15), (0.15, 0.75, 0.25), (0.15, 0.35, 0.95),
         (0.95, 0.85, 0.15), (0.85, 0.20, 0.80), (0.10, 0.80, 0.85)]
    )
    bases = np.array([(0.08, 0.08, 0.12), (0.86, 0.86, 0.82)])
    size = x.shape[1]
    c = (np.arange(size) + 0.5) / size
    gy, gx = np.meshgrid(c, c, indexing="ij")
    angle, amplitude = factors["gradient_angle"][i], factors["gradient_amplitude"][i]
    along = np.cos(angle) * (gx - 0.5) + np.sin(angle) * (gy - 0.5)
    background = bases[int(factors["background"][i])] + (2 * amplitude * along)[..., None]
    background = np.clip(background, 0.0, 1.0)  # Images are clipped to [0, 1].
    jitter = [factors[f"jitter_{k}"][i] for k in "rgb"]
    color = rgb[int(factors["color"][i])] + jitter
    delta = color - background
    alpha = ((x[i] - background) * delta).sum(-1) / (delta * delta).sum(-1)
    distance = np.hypot(gx - factors["center_x"][i], gy - factors["center_y"][i])
    return alpha, distance


def test_objects_are_anti_aliased():
    n, size = 24, 32
    x = load_shapes("test", image_size=size, num_examples=n, with_labels=False)
    factors = shape_factors("test", num_examples=n)
    pixel = 1.0 / size
    for i in range(n):
        alpha, distance = _coverage(x, factors, i)
        radius = factors["radius"][i]
        # Fully the object's colour at its centre, fully background away.
        assert alpha[distance < 0.3 * radius].min() > 0.99
        far = distance > radius + 2 * pixel
        np.testing.assert_allclose(alpha[far], 0.0, atol=1e-6)
        # Partly covered pixels exist, and only near the outline.
        partial = (alpha > 0.05) & (alpha < 0.95)
        assert partial.sum() >= 4, i
        assert distance[partial].max() < radius + 2 * pixel
        assert distance[partial].min() > 0.3 * radius


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"split": "validation"}, ValueError, r"split must be one of \['train', 'test'\]. Received: split='validation'"),
        ({"image_size": 0}, ValueError, "Received: image_size=0"),
        ({"image_size": None}, TypeError, "Received: image_size=None"),
        ({"num_examples": 0}, ValueError, "num_examples must be an integer >= 1 and <= 5000. Received: num_examples=0"),
        ({"num_examples": 5001}, ValueError, "Received: num_examples=5001"),
        ({"num_examples": 2.0}, TypeError, "Received: num_examples=2.0"),
        ({"seed": None}, TypeError, "seed must be an int. Received: seed=None"),
        ({"seed": 1.5}, TypeError, "Received: seed=1.5"),
        ({"seed": -1}, ValueError, r"seed must be an int in \[0, 2\*\*31\). Received: seed=-1"),
        ({"seed": 2**31}, ValueError, r"seed must be an int in \[0, 2\*\*31\). Received: seed=2147483648"),
        ({"value_range": (1, 0)}, ValueError, r"Received: value_range=\(1, 0\)"),
        ({"with_labels": "yes"}, TypeError, "with_labels must be a bool. Received: with_labels='yes'"),
        # 5,000 test images of 512x512 would take 15.7 GB (the train split at 256 px raised MemoryError)
        ({"image_size": 512, "num_examples": None}, ValueError, r"5000 images of 512x512 would take 15.7 GB"),
    ],
)
def test_load_shapes_bad_arguments(kwargs, error, match):
    kwargs = {"split": "test", "image_size": 4, **kwargs}
    with pytest.raises(error, match=match):
        load_shapes(**kwargs)


def test_factors_and_render_indices_bad_arguments():
    with pytest.raises(ValueError, match=r"seed must be an int in \[0, 2\*\*31\). Received: seed=-2"):
        shape_factors("test", num_examples=2, seed=-2)
    with pytest.raises(ValueError, match=r"split must be one of \['train', 'test'\]. Received: split='val'"):
        render_indices("val", [0], 4, 4)
    with pytest.raises(ValueError, match=r"seed must be an int in \[0, 2\*\*31\). Received: seed=-1"):
        render_indices("test", [0], 4, 4, seed=-1)


# --- render_shapes: scenes from (edited) factors ----------------------------


def test_render_shapes_of_unchanged_factors_is_the_dataset():
    x, y = load_shapes("test", image_size=24, num_examples=12)
    got_x, got_y = render_shapes(shape_factors("test", num_examples=12), image_size=24)
    np.testing.assert_array_equal(got_x, x)
    np.testing.assert_array_equal(got_y, y)
    scaled, _ = render_shapes(shape_factors("test", num_examples=12), 24, value_range=(-1, 1))
    np.testing.assert_allclose(scaled, x * 2.0 - 1.0, atol=1e-6)


def test_render_shapes_recolours_only_the_object():
    f = shape_factors("test", num_examples=40)
    x, y = render_shapes(f, image_size=32)
    blue = COLOR_NAMES.index("Blue")
    f["color"] = np.full(40, blue)
    x2, y2 = render_shapes(f, image_size=32)
    # Labels: the colour group is Blue, every other column as before.
    colours = [_column(c) for c in COLOR_NAMES]
    others = [j for j in range(len(SHAPES_ATTRIBUTES)) if j not in colours]
    assert np.all(y2[:, _column("Blue")] == 1) and np.all(y2[:, colours].sum(axis=1) == 1)
    np.testing.assert_array_equal(y2[:, others], y[:, others])
    # Pixels: the images that were already blue are unchanged; the others
    # differ only where the object covers them (the background is the same
    # far from the centre, beyond the largest radius plus two pixels).
    was_blue = y[:, _column("Blue")] == 1
    np.testing.assert_array_equal(x2[was_blue], x[was_blue])
    ys, xs = (np.mgrid[0:32, 0:32] + 0.5) / 32
    far = (np.hypot(xs[None] - f["center_x"][:, None, None], ys[None] - f["center_y"][:, None, None])
           > f["radius"][:, None, None] + 2 / 32)
    np.testing.assert_array_equal(x2[far], x[far])
    changed = np.abs(x2 - x).max(axis=(1, 2, 3))
    assert np.all(changed[~was_blue] > 0.1)


def test_render_shapes_moves_and_resizes():
    f = shape_factors("test", num_examples=20)
    f["center_x"] = 1.0 - f["center_x"]
    f["radius"] = np.full(20, 0.27)
    _, y = render_shapes(f, image_size=16)
    _, y0 = load_shapes("test", image_size=16, num_examples=20)
    np.testing.assert_array_equal(y[:, _column("Left")], 1 - y0[:, _column("Left")])
    assert np.all(y[:, _column("Large")] == 1)


@pytest.mark.parametrize("edit, match", [
    (lambda f: f.pop("rotation"), r"missing \['rotation'\]"),
    (lambda f: f.update(hue=f["shape"]), r"unknown \['hue'\]"),
    (lambda f: f.update(color=np.array([0, 6, 1])), r"factors\['color'\] must hold whole numbers in \[0, 5\]. Received: \[6.0\]"),
    (lambda f: f.update(shape=np.array([0.5, 1, 2])), r"factors\['shape'\] .* Received: \[0.5\]"),
    (lambda f: f.update(radius=np.array([0.2, 0.0, 0.1])), r"factors\['radius'\] must be > 0. Received: \[0.0\]"),
    (lambda f: f.update(center_x=np.array([0.5, np.nan, 0.5])), r"factors\['center_x'\] must be finite"),
    (lambda f: f.update(center_y=np.zeros((3, 1))), r"factors\['center_y'\] must be a non-empty 1-D array. Received: shape \(3, 1\)"),
    (lambda f: f.update(jitter_r=np.zeros(2)), r"one length. Received: lengths"),
    (lambda f: f.update(background=["dark", "light", "dark"]), r"factors\['background'\] must be numbers"),
])
def test_render_shapes_bad_factors(edit, match):
    f = shape_factors("test", num_examples=3)
    edit(f)
    with pytest.raises(ValueError, match=match):
        render_shapes(f, image_size=8)


def test_render_shapes_bad_container_and_size():
    with pytest.raises(ValueError, match="factors must be a dict .* Received: list"):
        render_shapes([1, 2], image_size=8)
    with pytest.raises(ValueError, match="image_size"):
        render_shapes(shape_factors("test", num_examples=2), image_size=0)


# --- load("shapes"): the stream ---------------------------------------------


def test_stream_equals_the_arrays():
    ds = load("shapes", split="test", batch_size=40, image_size=16, shuffle=False,
              value_range=(-1, 1), with_labels=True)
    (x0, y0), (x1, y1) = _batches(ds.take(2))
    x, y = load_shapes("test", image_size=16, value_range=(-1, 1), num_examples=80)
    np.testing.assert_allclose(np.concatenate([x0, x1]), x, atol=1e-6)
    np.testing.assert_array_equal(np.concatenate([y0, y1]), y)
    assert x0.dtype == np.float32 and y0.dtype == np.float32


def test_stream_shapes_and_remainder():
    ds = load("shapes", split="test", batch_size=64)
    assert tuple(ds.element_spec.shape) == (None, 64, 64, 3)  # Native size.
    ds = load("shapes", split="test", batch_size=2000, image_size=(2, 3), shuffle=False)
    assert [b.shape for b in _batches(ds)] == [(2000, 2, 3, 3)] * 2 + [(1000, 2, 3, 3)]
    ds = load("shapes", split="test", batch_size=3000, image_size=1, drop_remainder=True,
              with_labels=True)
    images, labels = ds.element_spec
    assert tuple(images.shape) == (3000, 1, 1, 3) and tuple(labels.shape) == (3000, 14)
    assert len(_batches(ds)) == 1


def test_stream_shuffle_is_seeded_and_reshuffled():
    reference = load_shapes("test", image_size=4, with_labels=False)
    index = {np.round(r, 5).tobytes(): i for i, r in enumerate(reference)}
    assert len(index) == 5000

    def rows(ds):
        """Index of each streamed image in the split (each must be one)."""
        return np.array([index[np.round(x, 5).tobytes()] for b in _batches(ds) for x in b])

    ds = load("shapes", split="test", batch_size=50, image_size=4, seed=3)
    first = rows(ds.take(4))
    again = rows(load("shapes", split="test", batch_size=50, image_size=4, seed=3).take(4))
    second_epoch = rows(ds.take(4))
    np.testing.assert_array_equal(first, again)
    assert len(set(first)) == 200 and not np.array_equal(first, np.arange(200))
    assert not np.array_equal(first, second_epoch)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"split": "validation"}, ValueError, r"split must be one of \['train', 'test'\]. Received: split='validation'"),
        ({"split": "train[:10%]"}, ValueError, r"Received: split='train\[:10%\]'"),
        ({"image_size": 0}, ValueError, "Received: image_size=0"),
        ({"value_range": (0, 0)}, ValueError, r"Received: value_range=\(0, 0\)"),
        ({"seed": "1"}, TypeError, "Received: seed='1'"),
        ({"with_labels": 1}, TypeError, "with_labels must be a bool. Received: with_labels=1"),
    ],
)
def test_stream_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        load("shapes", **kwargs)


def test_stream_feeds_keras_fit():
    ds = load("shapes", batch_size=16, image_size=8, with_labels=True, seed=0)
    model = keras.Sequential([
        keras.Input((8, 8, 3)),
        keras.layers.Flatten(),
        keras.layers.Dense(14, activation="sigmoid"),
    ])
    model.compile(optimizer="adam", loss="binary_crossentropy")
    history = model.fit(ds, epochs=2, steps_per_epoch=2, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    assert int(model.optimizer.iterations.numpy()) == 4
    predictions = model.predict(ds.take(1), verbose=0)
    assert predictions.shape == (16, 14)


# --- attribute_names ----------------------------------------------------------


@pytest.mark.parametrize("name", ["digits", "mnist", "fashion_mnist", "cifar10"])
def test_attribute_names_of_class_id_datasets(name):
    with pytest.raises(ValueError, match=rf"labels are int class ids.*Received: name='{name}'"):
        attribute_names(name)


@pytest.mark.parametrize("name", ["imagenet", None, "Shapes"])
def test_attribute_names_of_unknown_names(name):
    with pytest.raises(ValueError, match=rf"one of \['shapes', 'celeb_a'\]. Received: name={name!r}"):
        attribute_names(name)
