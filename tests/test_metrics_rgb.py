"""keras_gen.metrics on RGB images: the shapes extractor and attribute prediction,
the Inception-v3 extractor's code path (random weights), the offline error, and
how fid/kid pick an extractor."""

import re
import time

import keras
import numpy as np
import pytest

from keras_gen import metrics
from keras_gen.data import _tfds
from keras_gen.metrics import extractors
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


def test_shapes_extractor_cosine_decay(shapes_extractor, shapes_test):
    decayed = metrics.shapes_feature_extractor(**SMALL, learning_rate_decay="cosine")
    assert decayed is not shapes_extractor  # cached apart from the constant-rate one
    # The rate fell along the cosine to 0 over the 4 epochs of 32 batches; the
    # constant-rate extractor's stayed at 1e-3.
    optimizer = decayed.classifier.optimizer
    assert int(optimizer.iterations) == 4 * 32  # 31 full batches of 32 and 1 partial per epoch
    assert float(optimizer.learning_rate) == pytest.approx(0.0, abs=1e-9)
    assert float(shapes_extractor.classifier.optimizer.learning_rate) == pytest.approx(1e-3)
    x, y = shapes_test
    a = metrics.predict_attributes(x, decayed)
    lo, hi = N_SHAPES, N_SHAPES + N_COLORS
    # It learns (chance: 1/6), though a rate falling from the start learns
    # less in 4 epochs than a constant one.
    assert np.mean(a[:, lo:hi].argmax(1) == y[:, lo:hi].argmax(1)) > 0.5
    with pytest.raises(ValueError, match=r"learning_rate_decay must be one of \[None, 'cosine'\]. "
                                         "Received: learning_rate_decay='linear'"):
        metrics.shapes_feature_extractor(**SMALL, learning_rate_decay="linear")


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


@pytest.mark.parametrize("call", ["predict_attributes", "extract_features"])
def test_the_package_extractors_refuse_images_outside_0_1_nan_or_none(call, shapes_extractor,
                                                                     shapes_test):
    # A tanh generator's samples not yet mapped with (x + 1) / 2, or uint8-range
    # images, would read as other attributes / other features without a word.
    x = shapes_test[0][:4]
    run = {"predict_attributes": lambda images, model: metrics.predict_attributes(images, model),
           "extract_features": lambda images, model: metrics.extract_features(model, images)}[call]
    name = "images" if call == "predict_attributes" else "x"
    for model in (shapes_extractor, shapes_extractor.classifier):
        for bad, seen in ((x * 2 - 1, "min=-1"), (x * 255, f"max={float((x * 255).max()):.4g}")):
            with pytest.raises(ValueError, match=rf"{name} must hold images in \[0, 1\].*{seen}"):
                run(bad, model)
        nan = x.copy()
        nan[1, 2, 3, 0] = np.nan
        with pytest.raises(ValueError, match=rf"{name} holds NaN or infinite values \(1 of"):
            run(nan, model)
        with pytest.raises(ValueError, match=rf"{name} must hold at least one image.*\(0, 16, 16, 3\)"):
            run(x[:0], model)
    # A model of one's own keeps its own range; non-finite images are still refused.
    inputs = keras.Input((SIZE, SIZE, 3))
    own = keras.Model(inputs, keras.layers.Dense(14)(keras.layers.Flatten()(inputs)))
    assert np.asarray(run(x * 2 - 1, own)).shape == (4, 14)
    with pytest.raises(ValueError, match=rf"{name} holds NaN or infinite values"):
        run(nan, own)


# ------------------------------------------------------------ Inception-v3
INCEPTION_SIZE = 75  # the smallest input keras.applications.InceptionV3 takes


@pytest.fixture(scope="module")
def inception():
    return metrics.inception_v3_extractor(weights=None, image_size=INCEPTION_SIZE)


def test_inception_extractor_takes_grey_and_rgb_of_any_size(inception):
    assert metrics.inception_v3_extractor(weights=None, image_size=INCEPTION_SIZE) is inception
    rng = np.random.default_rng(0)
    grey = rng.uniform(size=(2, 21, 23, 1)).astype("float32")
    # Called directly (predict, compiled per input shape, is what fid uses below).
    f_grey = keras.ops.convert_to_numpy(inception(grey))
    assert f_grey.shape == (2, 2048) and np.all(np.isfinite(f_grey))
    # One channel is the same image as three equal ones.
    f_rgb = keras.ops.convert_to_numpy(inception(np.repeat(grey, 3, axis=-1)))
    np.testing.assert_allclose(f_rgb, f_grey, rtol=1e-5, atol=1e-6)
    # At the network's own size nothing is resized: the features are the
    # network's on the images mapped from [0, 1] to [-1, 1].
    x = rng.uniform(size=(2, INCEPTION_SIZE, INCEPTION_SIZE, 3)).astype("float32")
    expected = keras.ops.convert_to_numpy(inception.network(2.0 * x - 1.0))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(inception(x)), expected, rtol=1e-4, atol=1e-6)
    with pytest.raises(ValueError, match=r"1 or 3\).*x.shape=\(2, 21, 23, 2\)"):
        inception.predict(np.zeros((2, 21, 23, 2), "float32"))


def test_inception_weights_from_a_local_file_and_bad_values(inception, tmp_path):
    path = tmp_path / "inception.weights.h5"
    inception.network.save_weights(path)
    loaded = metrics.inception_v3_extractor(weights=str(path), image_size=INCEPTION_SIZE)
    assert loaded is not inception
    for a, b in zip(loaded.network.get_weights(), inception.network.get_weights()):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="weights must be 'imagenet', None or the path of an existing"):
        metrics.inception_v3_extractor(weights=str(tmp_path / "missing.h5"))
    junk = tmp_path / "junk.h5"
    junk.write_text("not weights")
    with pytest.raises(ValueError, match="loading it failed"):
        metrics.inception_v3_extractor(weights=str(junk), image_size=INCEPTION_SIZE)
    with pytest.raises(ValueError, match="image_size must be an integer >= 75"):
        metrics.inception_v3_extractor(weights=None, image_size=32)


def test_keras_weights_url_is_the_one_keras_applications_uses():
    from keras.src.applications import inception_v3

    assert extractors.INCEPTION_V3_WEIGHTS_URL == inception_v3.WEIGHTS_PATH_NO_TOP


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """An empty Keras cache and a download host that refuses connections."""
    for name in ("https_proxy", "http_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.setattr(extractors, "_keras_cache_dir", lambda: str(tmp_path))
    url = "http://127.0.0.1:9/inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5"
    monkeypatch.setattr(extractors, "INCEPTION_V3_WEIGHTS_URL", url)
    return tmp_path, url


def test_offline_without_the_file_is_a_clear_error_in_seconds(offline, monkeypatch):
    cache, url = offline
    start = time.monotonic()
    with pytest.raises(metrics.InceptionWeightsUnavailableError) as info:
        metrics.inception_v3_extractor()
    message = str(info.value)
    assert "cannot be reached" in message and url in message
    assert "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5" in message
    assert str(cache / "models") in message and "weights='/path/to/" in message
    assert isinstance(info.value, RuntimeError) and isinstance(info.value.__cause__, OSError)
    # The host answers the probe but the download fails: the same error.
    monkeypatch.setattr(_tfds, "probe", lambda *args, **kwargs: None)
    with pytest.raises(metrics.InceptionWeightsUnavailableError, match="downloading them failed"):
        metrics.inception_v3_extractor()
    monkeypatch.undo()  # the probe fails again, with the fixture's patches gone
    monkeypatch.setattr(extractors, "_keras_cache_dir", lambda: str(cache))
    monkeypatch.setattr(extractors, "INCEPTION_V3_WEIGHTS_URL", url)
    # fid on RGB images picks Inception-v3 by default and names the offline option.
    x = np.zeros((4, 8, 8, 3), "float32")
    with pytest.raises(metrics.InceptionWeightsUnavailableError, match="extractor='shapes'"):
        metrics.fid(x, x)
    assert time.monotonic() - start < 20


# ------------------------------------------------ fid / kid pick an extractor
@pytest.fixture
def recorded(monkeypatch):
    """The named extractors replaced by recorders (no training, no download)."""
    calls = []

    def recorder(name):
        def build(*args, **kwargs):
            calls.append((name, args, kwargs))
            return name
        return build

    for name in ("digits_feature_extractor", "shapes_feature_extractor", "inception_v3_extractor"):
        monkeypatch.setattr(extractors, name, recorder(name))
    return calls


def test_select_extractor_defaults_and_names(recorded):
    select = metrics.select_extractor
    assert select((12, 10, 1)) == "digits_feature_extractor"
    assert recorded[-1][2] == {"image_size": (12, 10)}
    assert select((12, 10, 3)) == "inception_v3_extractor"
    assert select((12, 10, 1), "digits") == "digits_feature_extractor"
    assert select((12, 10, 3), "shapes") == "shapes_feature_extractor"
    assert recorded[-1][2] == {"image_size": (12, 10)}
    assert select((12, 10, 1), "inception_v3") == "inception_v3_extractor"
    assert select((12, 10, 3), "inception_v3") == "inception_v3_extractor"
    with pytest.raises(ValueError, match=r"image_shape must be a tuple \(height, width, channels\)"):
        select((12, 10))


@pytest.mark.parametrize("shape, extractor, fitting", [
    ((16, 16, 3), "digits", "'shapes', 'inception_v3' or a keras.Model taking (batch, 16, 16, 3)"),
    ((16, 16, 1), "shapes", "'digits', 'inception_v3' or a keras.Model taking (batch, 16, 16, 1)"),
    ((16, 16, 2), None, "a keras.Model taking (batch, 16, 16, 2)"),
    ((16, 16, 2), "inception_v3", "a keras.Model taking (batch, 16, 16, 2)"),
])
def test_extractors_that_do_not_fit_are_named(recorded, shape, extractor, fitting):
    x = np.zeros((3, *shape), "float32")
    with pytest.raises(ValueError, match=re.escape(
        f"does not fit images of shape {shape}. Extractors that fit them: {fitting}"
    )):
        metrics.fid(x, x, extractor=extractor)
    with pytest.raises(ValueError, match=re.escape(f"images of shape {shape}")):
        metrics.kid(x, x, extractor=extractor)
    assert recorded == []  # refused before anything is built


def test_fid_errors_on_models_names_and_shapes(recorded, inception):
    x = np.zeros((3, 16, 16, 3), "float32")
    inputs = keras.Input((8, 8, 1))
    small = keras.Model(inputs, keras.layers.Flatten()(inputs), name="small")
    with pytest.raises(ValueError, match=re.escape(
        "extractor 'small' with input shape (None, 8, 8, 1) does not fit images of shape (16, 16, 3)"
    )):
        metrics.fid(x, x, extractor=small)
    grey2 = np.zeros((3, 16, 16, 2), "float32")
    with pytest.raises(ValueError, match="does not fit images of shape"):
        metrics.fid(grey2, grey2, extractor=inception)
    with pytest.raises(ValueError, match="extractor must be None, one of 'digits', 'shapes', 'inception_v3'"):
        metrics.fid(x, x, extractor="inception")
    with pytest.raises(TypeError, match="extractor must be None, one of"):
        metrics.kid(x, x, extractor=42)
    with pytest.raises(ValueError, match=re.escape(
        "real and fake must hold images of the same shape. Received: real.shape=(3, 16, 16, 3) "
        "and fake.shape=(3, 8, 8, 3)"
    )):
        metrics.fid(x, x[:, :8, :8])
    with pytest.raises(ValueError, match=re.escape("real must be a batch of images (n, height, width, "
                                                   "channels). Received: real.shape=(16, 16, 3)")):
        metrics.fid(x[0], x)
    # Built-in extractors take [0, 1]: raw tanh outputs in [-1, 1] are refused...
    tanh_like = np.full((3, 16, 16, 3), -0.5, "float32")
    with pytest.raises(ValueError, match=re.escape(
        "fake must hold images in [0, 1], the range of the built-in extractors"
    )) as info:
        metrics.fid(x, tanh_like, extractor="shapes")
    assert "min=-0.5, max=-0.5" in str(info.value)
    nan = x.copy()
    nan[0, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="real holds NaN or infinite values"):
        metrics.kid(nan, x, extractor="shapes")
    assert recorded == []


def test_fid_and_kid_on_rgb_extractors(shapes_extractor, shapes_test, inception):
    x, _ = shapes_test
    a, b = x[:200], x[200:400]
    # Another distribution: the same scenes without colour.
    swapped = np.repeat(b.mean(axis=-1, keepdims=True), 3, axis=-1)
    assert metrics.fid(a, a, extractor=shapes_extractor) == pytest.approx(0.0, abs=1e-6)
    floor = metrics.fid(a, b, extractor=shapes_extractor)
    assert metrics.fid(a, swapped, extractor=shapes_extractor) > 10 * floor > 0
    near, _ = metrics.kid(a, b, extractor=shapes_extractor, subsets=5)
    far, _ = metrics.kid(a, swapped, extractor=shapes_extractor, subsets=5)
    assert far > near + 0.5
    # The Inception code path through kid, random weights (FID's 2048x2048
    # matrix square root would cost more than the rest of this file). Batches
    # of 2 images, as above: the network's ops then run at shapes already
    # met, which saves JAX compiling them again.
    grey = x[:4].mean(axis=-1, keepdims=True)
    other = x[4:8].mean(axis=-1, keepdims=True)
    assert metrics.select_extractor(grey.shape[1:], inception) is inception
    mean, std = metrics.kid(grey, other, extractor=inception, batch_size=2, subsets=3)
    assert np.isfinite(mean) and np.isfinite(std)
