import collections

import numpy as np
import pytest

from keras_gen.data import load_digits


def test_default_split_shapes_and_range():
    x, y = load_digits()
    assert x.shape == (1437, 28, 28, 1) and x.dtype == np.float32
    assert y.shape == (1437,) and y.dtype == np.int32
    assert x.min() == 0.0 and x.max() == 1.0
    assert set(np.unique(y)) == set(range(10))
    x_test, y_test = load_digits("test")
    assert x_test.shape == (360, 28, 28, 1) and y_test.shape == (360,)
    assert load_digits("all", with_labels=False).shape == (1797, 28, 28, 1)


def test_value_range_and_image_size():
    x = load_digits(image_size=(12, 20), value_range=(-1, 1), with_labels=False)
    assert x.shape == (1437, 12, 20, 1)
    assert x.min() == -1.0 and x.max() == 1.0
    x8 = load_digits("all", image_size=8, with_labels=False)
    from sklearn.datasets import load_digits as sk_digits

    # Same size: the pixels are sklearn's, divided by 16.
    np.testing.assert_allclose(x8[..., 0], sk_digits().images / 16.0, atol=1e-6)


@pytest.mark.parametrize("size", [28, (32, 12), 5])
def test_resizing_matches_tf_bilinear(size):
    import tensorflow as tf

    x8 = load_digits("all", image_size=8, with_labels=False)
    x = load_digits("all", image_size=size, with_labels=False)
    hw = (size, size) if isinstance(size, int) else size
    # Half-pixel bilinear; antialiased (wider kernel) when shrinking.
    expected = tf.image.resize(x8, hw, method="bilinear", antialias=True).numpy()
    np.testing.assert_allclose(x, expected, atol=1e-5)


def test_stratified_split():
    _, y_all = load_digits("all")
    _, y_train = load_digits("train")
    _, y_test = load_digits("test")
    p_all = np.bincount(y_all, minlength=10) / len(y_all)
    p_train = np.bincount(y_train, minlength=10) / len(y_train)
    p_test = np.bincount(y_test, minlength=10) / len(y_test)
    np.testing.assert_allclose(p_train, p_all, atol=0.005)
    np.testing.assert_allclose(p_test, p_all, atol=0.01)


def _counts(x):
    return collections.Counter(row.tobytes() for row in x.reshape(len(x), -1))


def test_train_and_test_partition_the_digits():
    x_train = load_digits("train", image_size=8, with_labels=False)
    x_test = load_digits("test", image_size=8, with_labels=False)
    x_all = load_digits("all", image_size=8, with_labels=False)
    # As multisets (sklearn's digits contain a few exact duplicates): every
    # digit lands in exactly one split, none is used twice.
    assert _counts(x_train) + _counts(x_test) == _counts(x_all)
    train_rows = {r.tobytes() for r in x_train.reshape(len(x_train), -1)}
    unique_to_test = [r for r in x_test.reshape(len(x_test), -1) if _counts(x_all)[r.tobytes()] == 1]
    assert unique_to_test and not any(r.tobytes() in train_rows for r in unique_to_test)


def test_split_is_deterministic_and_seeded():
    a, ya = load_digits("test", seed=3)
    b, yb = load_digits("test", seed=3)
    c, _ = load_digits("test", seed=4)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(ya, yb)
    assert not np.array_equal(a, c)
    assert len(load_digits("test", test_fraction=0.5)[0]) == 899


def test_returned_arrays_are_fresh_copies():
    x, y = load_digits("test")
    x[:] = 5.0
    y[:] = 99
    x2, y2 = load_digits("test")
    assert x2.max() == 1.0 and y2.max() == 9
    assert x.flags.writeable and y.flags.writeable


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"split": "validation"}, ValueError, r"split must be one of \['train', 'test', 'all'\]. Received: split='validation'"),
        ({"image_size": 0}, ValueError, "Received: image_size=0"),
        ({"image_size": None}, TypeError, "Received: image_size=None"),
        ({"value_range": (1, 0)}, ValueError, r"Received: value_range=\(1, 0\)"),
        ({"test_fraction": 1.0}, ValueError, "Received: test_fraction=1.0"),
        ({"test_fraction": 0.001}, ValueError, "at least 10 digits"),
        ({"test_fraction": "0.2"}, TypeError, "Received: test_fraction='0.2'"),
        ({"seed": None}, TypeError, "Received: seed=None"),
        ({"seed": -1}, ValueError, r"seed must be an int in \[0, 2\*\*31\). Received: seed=-1"),
        # 1,797 images of 1000x1000 would need 7.2 GB (the process was killed for memory)
        ({"image_size": 1000}, ValueError, r"image_size must be at most 65536 pixels per image .*"
                                           r"1000x1000 would take 7.2 GB\)\. Received: image_size=1000"),
    ],
)
def test_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        load_digits(**kwargs)
