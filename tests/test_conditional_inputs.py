"""ConditionalVAE / ConditionalGAN: predict checks [inputs, condition], fit refuses nested labels.

Every backend: predict ran the networks on NaN images and conditions (NaN
out on JAX and PyTorch, the NaN gone from TensorFlow's output) and on uint8
images, and class ids failed inside the networks with each backend's own
shape error; ``fit(x, {"attributes": y})`` failed inside the train step with
``'dict' object has no attribute 'shape'``.
"""

import re

import keras
import numpy as np
import pytest

import keras_gen
from keras_gen import _checks as checks
from keras_gen import networks

K = 3
IMAGE = (8, 8, 3)


def tiny_cvae(**condition):
    enc = networks.conditional_encoder(IMAGE, 2, K, kind="dense", variational=True,
                                       hidden_units=(16,), features=8, condition_units=8)
    dec = networks.conditional_decoder(2, IMAGE, K, kind="dense", hidden_units=(16,))
    model = keras_gen.ConditionalVAE(enc, dec, seed=0, **(condition or {"condition_size": K}))
    model.compile(optimizer="adam")
    return model


def tiny_cgan(**condition):
    g = networks.conditional_dcgan_generator(4, IMAGE, K, filters=(8,))
    d = networks.conditional_dcgan_discriminator(IMAGE, K, filters=(8,))
    model = keras_gen.ConditionalGAN(g, d, latent_dim=4, seed=0,
                                     **(condition or {"num_classes": K}))
    model.compile(d_optimizer=keras.optimizers.Adam(2e-4), g_optimizer=keras.optimizers.Adam(2e-4))
    return model


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    x = rng.random((8,) + IMAGE).astype("float32")
    attributes = (rng.random((8, K)) > 0.5).astype("float32")
    ids = (np.arange(8) % K).astype("int32")
    return x, attributes, ids


def test_predict_refuses_nan_images_nan_conditions_and_integer_images(data):
    x, attributes, _ = data
    cvae = tiny_cvae()
    nan_images = x[:4].copy()
    nan_images[:, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match=re.escape(
            "x[0] must not contain NaN or infinite values. Received: x[0] with 4 NaN")):
        cvae.predict([nan_images, attributes[:4]], verbose=0)
    with pytest.raises(ValueError, match=re.escape(
            "x[1] must hold finite numbers. Received: x[1] with 12 NaN or infinite values")):
        cvae.predict([x[:4], np.full((4, K), np.nan, "float32")], verbose=0)
    # the unconditional predict's ArgumentTypeError (a TypeError and a ValueError)
    with pytest.raises(checks.ArgumentTypeError, match=re.escape(
                           "x[0] must hold floating-point images in the model's range (0.0, 1.0); "
                           "keras-gen does not rescale integer pixels silently. Received: x[0] "
                           "with dtype=uint8")):
        cvae.predict([(x[:4] * 255).astype("uint8"), attributes[:4]], verbose=0)
    with pytest.raises(ValueError, match=re.escape(
            f"x[1] must be one attribute vector ({K},) or one per item, shape (4, {K})")):
        cvae.predict([x[:4], attributes[:4, :2]], verbose=0)
    with pytest.raises(ValueError, match=re.escape("x[1] must be one attribute vector")):
        cvae.predict([x[:4], attributes[:3]], verbose=0)
    with pytest.raises(ValueError, match=re.escape("x must be [images, condition], two arrays")):
        cvae.predict(x[:4], verbose=0)
    gan = tiny_cgan()
    z = np.random.default_rng(1).normal(size=(4, 4)).astype("float32")
    z[2, 1] = np.nan
    with pytest.raises(ValueError, match=re.escape("x[0] must be finite; 1 of its 4 rows hold NaN")):
        gan.predict([z, np.arange(4) % K], verbose=0)
    with pytest.raises(ValueError, match=re.escape("x must be [z, condition], two arrays")):
        gan.predict([z, np.arange(4) % K, np.arange(4) % K], verbose=0)


def test_predict_one_hots_class_ids_as_fit_sample_and_reconstruct_take_them(data):
    x, _, ids = data
    onehot = np.eye(K, dtype="float32")[ids[:4]]
    cvae = tiny_cvae(num_classes=K)
    by_ids = cvae.predict([x[:4], ids[:4]], verbose=0)
    np.testing.assert_allclose(by_ids, cvae.predict([x[:4], onehot], verbose=0), atol=1e-6)
    np.testing.assert_allclose(by_ids, cvae.reconstruct(x[:4], ids[:4]), atol=1e-5)
    # a dict in its order (JAX's tree sorted its keys: "condition" went first)
    by_dict = cvae.predict({"images": x[:4], "condition": ids[:4, None]}, verbose=0)
    np.testing.assert_allclose(by_dict, by_ids, atol=1e-6)
    gan = tiny_cgan()
    z = np.random.default_rng(1).normal(size=(4, 4)).astype("float32")
    by_ids = gan.predict([z, ids[:4]], verbose=0)
    np.testing.assert_allclose(by_ids, gan.predict([z, onehot], verbose=0), atol=1e-6)
    np.testing.assert_allclose(by_ids, gan.decode(z, ids[:4]), atol=1e-5)
    np.testing.assert_allclose(gan.predict([z, 2], verbose=0), gan.decode(z, 2), atol=1e-5)
    with pytest.raises(ValueError, match=re.escape(
            f"x[1] must hold class ids in [0, {K}) (num_classes={K}). Received: x[1] with values "
            "out of range, e.g. 3")):
        gan.predict([z, ids[:4] + 1], verbose=0)
    with pytest.raises(ValueError, match=re.escape(
            f"x[1] must be 4 class ids in [0, {K}) of shape (4,), or their condition vectors of "
            f"shape (4, {K}), e.g. one-hot (num_classes={K}). Received: x[1] of dtype float32 "
            "and shape (4,)")):
        gan.predict([z, ids[:4].astype("float32")], verbose=0)
    with pytest.raises(ValueError, match=re.escape("x[1] must hold finite numbers")):
        gan.predict([z, np.where(onehot > 0, np.nan, 0.0)], verbose=0)


@pytest.mark.parametrize("model", ["ConditionalVAE", "ConditionalGAN"])
def test_labels_in_a_dict_or_tuple_are_named_before_training(data, model):
    x, attributes, ids = data
    if model == "ConditionalVAE":
        m, labels, what = tiny_cvae(), attributes, "attribute vectors of size 3"
    else:
        m, labels, what = tiny_cgan(), ids, r"integer class ids in \[0, 3\)"
        x = x * 2 - 1
    weights = [w.copy() for w in m.get_weights()]
    with pytest.raises(ValueError, match=rf"y must be one tensor of {what} .*Received: y of type "
                       r"dict of 1 entry \['attributes'\], with shapes \[\(8,"):
        m.fit(x, {"attributes": labels}, batch_size=4, epochs=1, verbose=0)
    with pytest.raises(ValueError, match=r"y must be one tensor of .*Received: y of type tuple of 1 item"):
        m.fit(x, (labels,), batch_size=4, epochs=1, verbose=0)
    with pytest.raises(ValueError, match=r"validation_data\[1\] must be one tensor of .*type dict"):
        m.fit(x, labels, validation_data=(x, {"a": labels}), batch_size=4, epochs=1, verbose=0)
    with pytest.raises(ValueError, match=r"y must be one tensor of .*type dict"):
        m.evaluate(x, {"a": labels}, batch_size=4, verbose=0)
    batches = ((x[i:i + 4], {"a": labels[i:i + 4]}) for i in (0, 4))
    with pytest.raises(ValueError, match=r"the labels of batch 0 of the generator x must be one "
                       r"tensor of .*type dict of 1 entry \['a'\]"):
        m.fit(batches, epochs=1, shuffle=False, verbose=0)
    for before, after in zip(weights, m.get_weights()):
        np.testing.assert_array_equal(before, after)
    m.fit(x, labels, batch_size=4, epochs=1, verbose=0)  # the same labels, as one array, train
    m.fit(x, labels.tolist(), batch_size=4, epochs=1, verbose=0)  # and as a list of numbers
