"""keras_gen.metrics on RGB images: the shapes extractor and attribute prediction,
the Inception-v3 extractor's code path (random weights), the offline error, and
how fid/kid pick an extractor."""

import keras
import numpy as np
import pytest

from keras_gen import metrics
from keras_gen.data.shapes import COLORS
from keras_gen.data.shapes import SHAPES
from keras_gen.data.shapes import load_shapes

SIZE = 16  # small images keep the shapes extractor's training to seconds
SMALL = dict(image_size=SIZE, epochs=4, num_examples=1000)
N_SHAPES, N_COLORS = len(SHAPES), len(COLORS)


@pytest.fixture(scope="module")
def shapes_extractor():
    return metrics.shapes_feature_extractor(**SMALL)


@pytest.fixture(scope="module")
def shapes_test():
    return load_shapes("test", image_size=SIZE, num_examples=600)


# ------------------------------------------------- the shapes extractor
def test_shapes_extractor_is_cached_scaled_and_learns(shapes_extractor, shapes_test):
    assert metrics.shapes_feature_extractor(**{**SMALL, "image_size": (SIZE, SIZE)}) is shapes_extractor
    x_train, _ = load_shapes("train", image_size=SIZE, num_examples=1000)
    f = metrics.extract_features(shapes_extractor, x_train)
    assert f.shape == (1000, 128)
    assert np.mean(f**2) == pytest.approx(1.0, rel=1e-3)
    # Accuracy from the labels, by hand: arg-max within the colour group, sign
    # of the logit for the single attributes.
    x, y = shapes_test
    logits = np.asarray(shapes_extractor.classifier.predict(x, verbose=0))
    assert logits.shape == (len(x), 14)
    lo, hi = N_SHAPES, N_SHAPES + N_COLORS
    color = np.mean(logits[:, lo:hi].argmax(1) == y[:, lo:hi].argmax(1))
    singles = np.mean((logits[:, hi:] > 0) == (y[:, hi:] == 1), axis=0)
    assert color > 0.8  # chance: 1/6
    assert singles[0] > 0.9  # light background; chance: about 1/2
    assert singles[2] > 0.8 and singles[3] > 0.8  # left, top
    acc = shapes_extractor.test_accuracy
    assert set(acc) == {"shape", "color", "background", "size", "left", "top"}
    assert acc["color"] == pytest.approx(color, abs=0.05)  # 600 of the 5,000 test images
    assert acc["left"] == pytest.approx(singles[2], abs=0.05)


def test_predict_attributes_one_hot_groups_and_labels(shapes_extractor, shapes_test):
    x, y = shapes_test
    a = metrics.predict_attributes(x, shapes_extractor)
    assert a.dtype == np.float32 and a.shape == y.shape
    assert set(np.unique(a)) <= {0.0, 1.0}
    np.testing.assert_array_equal(a[:, :N_SHAPES].sum(1), 1)
    np.testing.assert_array_equal(a[:, N_SHAPES:N_SHAPES + N_COLORS].sum(1), 1)
    # What the small extractor learns at 16x16 (colour, background, position;
    # shape and size need larger images) matches the rendered labels on most images.
    learnt = list(range(N_SHAPES, N_SHAPES + N_COLORS + 1)) + [12, 13]
    assert np.mean(np.all(a[:, learnt] == y[:, learnt], axis=1)) > 0.85
    # The same as thresholding the classifier's logits by hand.
    logits = np.asarray(shapes_extractor.classifier.predict(x, verbose=0))
    np.testing.assert_array_equal(a[:, N_SHAPES + N_COLORS:], logits[:, N_SHAPES + N_COLORS:] > 0)
    np.testing.assert_array_equal(a[:, :N_SHAPES].argmax(1), logits[:, :N_SHAPES].argmax(1))
    # A bare classifier works too; None trains the default at the images' size
    # (not exercised here: that is the 64x64 default).
    np.testing.assert_array_equal(metrics.predict_attributes(x, shapes_extractor.classifier), a)


def test_predict_attributes_errors(shapes_extractor):
    grey = np.zeros((2, SIZE, SIZE, 1), "float32")
    with pytest.raises(ValueError, match=r"images must have 3 channel.*images.shape=\(2, 16, 16, 1\)"):
        metrics.predict_attributes(grey, shapes_extractor)
    with pytest.raises(ValueError, match=r"images must be a batch of images.*images.shape=\(16, 16, 3\)"):
        metrics.predict_attributes(np.zeros((SIZE, SIZE, 3)), shapes_extractor)
    with pytest.raises(TypeError, match="extractor must be None, a shapes_feature_extractor"):
        metrics.predict_attributes(np.zeros((2, SIZE, SIZE, 3)), extractor="shapes")
    inputs = keras.Input((SIZE, SIZE, 3))
    ten = keras.Model(inputs, keras.layers.Dense(10)(keras.layers.Flatten()(inputs)))
    with pytest.raises(ValueError, match="must output 14 attribute logits"):
        metrics.predict_attributes(np.zeros((2, SIZE, SIZE, 3)), ten)
    with pytest.raises(ValueError, match="num_examples"):
        metrics.shapes_feature_extractor(image_size=SIZE, num_examples=0)
