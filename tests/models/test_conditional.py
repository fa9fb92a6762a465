"""ConditionalGAN and ConditionalVAE: the condition reaches every network, fit, sample, errors, saving."""

import keras
import numpy as np
import pytest

import keras_gen
from keras_gen import latent
from tests import helpers

ONE_BACKEND = pytest.mark.skipif(
    keras.backend.backend() != "tensorflow",
    reason="backend-independent checks (argument and label validation): run on TensorFlow only",
)
K = 3  # classes in the tiny tests
IMAGE = (8, 8, 1)


def tiny_cgan(k=K, **kwargs):
    """The default conditional DCGAN pair at 8x8, narrow."""
    g = keras_gen.networks.conditional_dcgan_generator(4, IMAGE, k, filters=(8,))
    d = keras_gen.networks.conditional_dcgan_discriminator(IMAGE, k, filters=(8,))
    kwargs.setdefault("seed", 0)
    kwargs.setdefault("num_classes", k)
    return keras_gen.ConditionalGAN(g, d, latent_dim=4, **kwargs)


def tiny_cvae(k=K, **kwargs):
    enc = keras_gen.networks.conditional_encoder(IMAGE, 2, k, kind="dense", variational=True,
                                                 hidden_units=(16,), features=16,
                                                 condition_units=16)
    dec = keras_gen.networks.conditional_decoder(2, IMAGE, k, kind="dense", hidden_units=(16,))
    kwargs.setdefault("seed", 0)
    kwargs.setdefault("num_classes", k)
    return keras_gen.ConditionalVAE(enc, dec, **kwargs)


def gan_optimizers(lr=2e-3):
    return {"d_optimizer": keras.optimizers.Adam(lr, beta_1=0.5),
            "g_optimizer": keras.optimizers.Adam(lr, beta_1=0.5)}


def toy_classes(n=48, k=K):
    """Images whose brightness is set by the class: class c is all (c + 0.5) / k."""
    labels = (np.arange(n) % k).astype("int32")
    rng = np.random.default_rng(0)
    x = (labels[:, None, None, None] + 0.5) / k + rng.normal(0, 0.02, (n,) + IMAGE)
    return np.clip(x, 0.0, 1.0).astype("float32"), labels


# ------------------------------------------------ the condition reaches each network
def test_condition_reaches_generator_discriminator_and_training():
    # Under TensorFlow with WGAN-GP: its gradient penalty on interpolates goes
    # through the same _discriminate hook, with the batch's condition (the
    # nested gradient itself is tested on every backend in the GAN's tests;
    # its compilation is the slow part of this test under JAX).
    on_tf = keras.backend.backend() == "tensorflow"
    gan = tiny_cgan(objective="wgan-gp" if on_tf else "standard", d_steps=1)
    z = np.random.default_rng(1).normal(size=(2, 4)).astype("float32")
    c = np.eye(K, dtype="float32")
    n = lambda t: keras.ops.convert_to_numpy(t)  # noqa: E731
    a, b = n(gan.generator([z, c[[0, 0]]])), n(gan.generator([z, c[[1, 2]]]))
    assert np.abs(a - b).max() > 1e-4  # same z, another label: another image
    x = np.random.default_rng(2).uniform(-1, 1, (2,) + IMAGE).astype("float32")
    d0, d1 = n(gan.discriminator([x, c[[0, 0]]])), n(gan.discriminator([x, c[[1, 1]]]))
    assert np.abs(d0 - d1).max() > 0
    # One D step and one G step: a non-zero gradient reaches the label
    # embedding of D and the condition rows of G's first layer.
    embedding = gan.discriminator.get_layer("condition_embedding").kernel
    project = gan.generator.get_layer("dcgan_generator").get_layer("project").kernel
    before = [keras.ops.convert_to_numpy(v).copy() for v in (embedding, project)]
    gan.compile(**gan_optimizers())
    x, labels = toy_classes(16)
    history = gan.fit(x * 2 - 1, labels, batch_size=16, epochs=1, verbose=0).history
    assert all(np.all(np.isfinite(v)) for v in history.values()), history
    after = [keras.ops.convert_to_numpy(v) for v in (embedding, project)]
    assert np.abs(after[0] - before[0]).min(axis=1).max() > 0  # rows of the embedding moved
    assert np.abs(after[1][4:] - before[1][4:]).max() > 0  # rows fed by the condition moved


# ------------------------------------------------------------- training
def test_cvae_condition_reaches_both_networks_loss_falls_and_label_decides():
    x, labels = toy_classes(48)
    cvae = tiny_cvae(kl_weight=0.01)
    c = np.eye(K, dtype="float32")
    n = lambda t: keras.ops.convert_to_numpy(t)  # noqa: E731
    z0 = n(cvae.encoder([x[:4], c[[0] * 4]])[0])
    z1 = n(cvae.encoder([x[:4], c[[2] * 4]])[0])
    assert np.abs(z0 - z1).max() > 1e-5  # the encoder sees the label
    assert np.abs(n(cvae.decoder([z0, c[[0] * 4]])) - n(cvae.decoder([z0, c[[1] * 4]]))).max() > 1e-5
    cvae.compile(optimizer=keras.optimizers.Adam(1e-2))
    losses = helpers.fit_losses(cvae, x, y=labels, epochs=12, batch_size=16)
    helpers.assert_loss_falls(losses, factor=0.5)
    # Decoded for class c from the prior, the mean brightness is class c's.
    samples = cvae.sample(48, labels=np.arange(48) % K, seed=0)
    means = [samples[c::K].mean() for c in range(K)]
    assert means[0] < means[1] < means[2] and means[2] - means[0] > 0.3, means


@ONE_BACKEND
def test_cgan_learns_attribute_vectors_from_a_dataset():
    import tensorflow as tf

    x, labels = toy_classes(96)
    vectors = np.eye(K, dtype="float32")[labels]  # attribute vectors (0/1 floats)
    gan = tiny_cgan(num_classes=None, condition_size=K, condition_names=["dark", "mid", "light"])
    assert gan.condition_spec == {"kind": "attributes", "size": K, "names": ["dark", "mid", "light"]}
    gan.compile(**gan_optimizers(5e-3))
    ds = tf.data.Dataset.from_tensor_slices((x * 2 - 1, vectors)).batch(32)
    history = gan.fit(ds, epochs=10, verbose=0).history
    assert all(np.all(np.isfinite(v)) for v in history.values())
    samples = gan.sample(96, labels=vectors, seed=0)
    means = [samples[c::K].mean() for c in range(K)]
    assert means[0] < means[1] < means[2], means  # the label decides the brightness
    assert gan.sample(2, labels=[0, 0, 1], seed=0).shape == (2,) + IMAGE  # one vector for all
    with pytest.raises(ValueError, match=r"labels must be one attribute vector \(3,\) or one per item"):
        gan.sample(2, labels=[[1, 0]], seed=0)


# --------------------------------------------------------------- sampling
def test_sample_shapes_and_seed():
    gan = tiny_cgan()
    a = gan.sample(6, labels=2, seed=3)
    assert a.shape == (6,) + IMAGE and a.dtype == np.float32
    np.testing.assert_array_equal(a, gan.sample(6, labels=[2] * 6, seed=3))
    assert not np.allclose(gan.sample(6, labels=2, seed=5), a)
    assert not np.allclose(gan.sample(6, labels=np.arange(6) % K), gan.sample(6, labels=2))


# ------------------------------------------------------------------ errors
@ONE_BACKEND
def test_bad_labels_raise_clear_errors():
    import tensorflow as tf

    gan = tiny_cgan()
    gan.compile(**gan_optimizers())
    x, labels = toy_classes(8)
    with pytest.raises(ValueError, match="trains on images with labels .*Received: images without labels"):
        gan.fit(x, epochs=1, verbose=0)
    with pytest.raises(ValueError, match="images without labels in the first batch of the tf.data"):
        gan.fit(tf.data.Dataset.from_tensor_slices(x).batch(4), epochs=1, verbose=0)
    with pytest.raises(ValueError, match=r"y must hold class ids in \[0, 3\).*e.g. 3 \(min=1, max=3\)"):
        gan.fit(x, labels + 1, epochs=1, verbose=0)
    with pytest.raises(ValueError, match="y must be an int or a sequence of int class ids.*dtype float32"):
        gan.fit(x, labels.astype("float32"), epochs=1, verbose=0)
    with pytest.raises(ValueError, match="y must hold one label per image. Received: 4 labels for 8"):
        gan.fit(x, labels[:4], epochs=1, verbose=0)
    bad = tf.data.Dataset.from_tensor_slices((x, labels - 1)).batch(4)
    with pytest.raises(ValueError, match=r"first batch of the tf.data.Dataset x must hold class ids in \[0, 3\)"):
        gan.fit(bad, epochs=1, verbose=0)
    with pytest.raises(ValueError, match="labels is required.*Received: labels=None"):
        gan.sample(2)
    with pytest.raises(ValueError, match=r"labels must hold class ids in \[0, 3\).*e.g. -1"):
        gan.sample(2, labels=-1)
    with pytest.raises(ValueError, match="labels must hold one class id per item \\(2\\)"):
        gan.sample(2, labels=[0, 1, 2])
    with pytest.raises(ValueError, match="labels must be an int or a sequence of int class ids"):
        gan.sample(2, labels=[0.0, 1.0])
    with pytest.raises(ValueError, match="labels must be None: a GAN is unconditional"):
        keras_gen.GAN(keras.Sequential([keras.Input((2,)), keras.layers.Dense(4)]),
                      keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)]),
                      latent_dim=2).sample(2, labels=1)
    with pytest.raises(ValueError, match="labels must be None"):
        latent.decode(keras_gen.VAE(helpers.tiny_encoder(variational=True), helpers.tiny_decoder()),
                      np.zeros((1, 2)), labels=1)
    cvae = tiny_cvae()
    cvae.compile(optimizer="adam")
    with pytest.raises(ValueError, match="A ConditionalVAE trains on images with labels"):
        cvae.fit(x, epochs=1, verbose=0)


@ONE_BACKEND
def test_bad_arguments_and_networks_raise_clear_errors():
    g = keras_gen.networks.conditional_dcgan_generator(4, IMAGE, K, filters=(8,))
    d = keras_gen.networks.conditional_dcgan_discriminator(IMAGE, K, filters=(8,))
    with pytest.raises(ValueError, match="exactly one of num_classes .* Received: num_classes=None, condition_size=None"):
        keras_gen.ConditionalGAN(g, d, latent_dim=4)
    with pytest.raises(ValueError, match="num_classes=3, condition_size=3"):
        keras_gen.ConditionalGAN(g, d, latent_dim=4, num_classes=3, condition_size=3)
    with pytest.raises(ValueError, match="num_classes must be a positive integer"):
        keras_gen.ConditionalGAN(g, d, latent_dim=4, num_classes=0)
    with pytest.raises(ValueError, match="condition_names must be None or 3 strings"):
        keras_gen.ConditionalGAN(g, d, latent_dim=4, num_classes=3, condition_names=["a"])
    with pytest.raises(ValueError, match=r"condition \(batch, 4\).*Received: generator input shapes \[\(None, 4\), \(None, 3\)\]"):
        keras_gen.ConditionalGAN(g, d, latent_dim=4, num_classes=4)
    plain_g = keras_gen.networks.dcgan_generator(4, IMAGE, filters=(8,))
    with pytest.raises(ValueError, match=r"generator of a ConditionalGAN must be a keras.Model with two inputs \[z \(batch, 4\), condition \(batch, 3\)\].*1 input"):
        keras_gen.ConditionalGAN(plain_g, d, latent_dim=4, num_classes=3)
    plain_d = keras_gen.networks.dcgan_discriminator(IMAGE, filters=(8,))
    with pytest.raises(ValueError, match="discriminator of a ConditionalGAN must be a keras.Model with two inputs"):
        keras_gen.ConditionalGAN(g, plain_d, latent_dim=4, num_classes=3)
    with pytest.raises(ValueError, match="encoder of a ConditionalVAE must be a keras.Model with two inputs"):
        keras_gen.ConditionalVAE(helpers.tiny_encoder(variational=True),
                                 keras_gen.networks.conditional_decoder(2, IMAGE, K), num_classes=K)
    with pytest.raises(ValueError, match="decoder of a ConditionalVAE must be a keras.Model with two inputs"):
        keras_gen.ConditionalVAE(
            keras_gen.networks.conditional_encoder(IMAGE, 2, K, variational=True, kind="dense"),
            helpers.tiny_decoder(), num_classes=K)
    with pytest.raises(ValueError, match="must return \\[z_mean, z_log_sigma\\]"):
        keras_gen.ConditionalVAE(keras_gen.networks.conditional_encoder(IMAGE, 2, K, kind="dense"),
                                 keras_gen.networks.conditional_decoder(2, IMAGE, K), num_classes=K)


# ------------------------------------------------------------ latent tools
@ONE_BACKEND
def test_interpolation_at_a_fixed_label_style_transfer_and_cvae_sample():
    cvae, gan = tiny_cvae(), tiny_cgan()
    x, labels = toy_classes(4)
    path = latent.interpolate(cvae, x[0], x[1], steps=4, labels=2)
    assert path.shape == (4,) + IMAGE
    # The ends are the images' codes (encoded with label 2) decoded with label 2.
    ends = cvae.decode(latent.encode(cvae, x[:2], labels=2), labels=2)
    np.testing.assert_allclose(path[[0, -1]], ends, atol=1e-5)
    z = np.random.default_rng(0).normal(size=(2, 4)).astype("float32")
    gan_path = latent.interpolate(gan, z[0], z[1], steps=3, labels=1)
    np.testing.assert_allclose(gan_path[[0, -1]], gan.decode(z, labels=1), atol=1e-5)
    moved = latent.transfer_style(cvae, x, labels=labels, new_labels=0)
    expected = cvae.decode(cvae.latent_codes(x, labels=labels), labels=0)
    np.testing.assert_allclose(moved, expected, atol=1e-5)
    with pytest.raises(ValueError, match="labels is required"):
        latent.interpolate(cvae, x[0], x[1], steps=3)
    with pytest.raises(TypeError, match="has no encoder"):
        latent.transfer_style(gan, x, labels=0, new_labels=1)
    # The cVAE samples as the cGAN does; the cGAN's deprecated generate alias.
    np.testing.assert_array_equal(cvae.sample(4, labels=1, seed=2), cvae.sample(4, labels=1, seed=2))
    assert cvae.sample(2, labels=[0, 2], seed=1).shape == (2,) + IMAGE
    with pytest.warns(DeprecationWarning):
        assert gan.generate(2, labels=1, seed=0).shape == (2,) + IMAGE


# ------------------------------------------------------------------ saving
LOAD_AND_PREDICT = """
import json, numpy as np, keras, keras_gen
out = {{}}
for path, inputs in {cases!r}:
    model = keras.saving.load_model(path)
    out[path] = [type(model).__name__, model.condition_spec,
                 keras.ops.convert_to_numpy(model([np.asarray(t, "float32") for t in inputs])).tolist()]
print(json.dumps(out))
"""


def test_save_load_round_trip_and_other_backend(tmp_path):
    x, labels = toy_classes(4)
    gan = tiny_cgan(d_steps=2, objective="hinge", condition_names=["dark", "mid", "light"])
    gan.compile(**gan_optimizers())
    cvae = tiny_cvae(kl_weight=0.5)
    cvae.compile(optimizer="adam")
    c = np.eye(K, dtype="float32")[labels[:4]]
    z = np.random.default_rng(0).normal(size=(4, 4)).astype("float32")
    cases = []
    for model, inputs in ((gan, [z, c]), (cvae, [x[:4], c])):
        path = str(tmp_path / f"{type(model).__name__}.keras")
        loaded = helpers.assert_round_trip(
            model, path, inputs, lambda m, i: keras.ops.convert_to_numpy(m(i)))
        assert loaded.condition_spec == model.condition_spec
        config = loaded.get_config()
        assert config["num_classes"] == K and config["condition_size"] is None
        cases.append((path, [t.tolist() for t in inputs]))
    assert loaded.kl_weight == 0.5
    reloaded = keras.saving.load_model(cases[0][0])
    assert (reloaded.d_steps, reloaded.objective) == (2, "hinge")
    # The files load under another backend and predict the same: one child
    # process per run, rotating (TensorFlow -> PyTorch -> JAX -> TensorFlow),
    # so every backend saves once and loads once another backend's file; the
    # round trip above covers each backend loading its own.
    other = {"tensorflow": "torch", "torch": "jax", "jax": "tensorflow"}[keras.backend.backend()]
    result = helpers.run_in_backend(other, LOAD_AND_PREDICT.format(cases=cases))
    for (path, inputs), model in zip(cases, (gan, cvae)):
        kind, spec, predicted = result[path]
        assert kind == type(model).__name__ and spec == model.condition_spec
        expected = keras.ops.convert_to_numpy(model([np.asarray(t, "float32") for t in inputs]))
        np.testing.assert_allclose(predicted, expected, rtol=1e-4, atol=1e-5, err_msg=other)


# ---------------------------------------------------------------- networks
@ONE_BACKEND
def test_default_conditional_networks():
    n = keras_gen.networks
    g = n.conditional_dcgan_generator(5, (8, 8, 1), 4, filters=(8,))
    assert [tuple(t.shape) for t in g.inputs] == [(None, 5), (None, 4)]
    assert g.get_layer("dcgan_generator").input_shape == (None, 9)  # c concatenated to z
    enc = n.conditional_encoder((8, 8, 1), 2, 4, variational=True, filters=(4,), dense_units=8,
                                features=8, condition_units=8)
    assert enc.output_names == ["z_mean", "z_log_sigma"]
    assert enc.get_layer("conv_encoder").get_layer("conv_bn_1") is not None  # BN as in VAE encoders
    assert enc.get_layer("condition_dense").input.shape == (None, 8 + 4)  # features + condition
    dec = n.conditional_decoder(2, (8, 8, 1), 4, filters=(4,), dense_units=8)
    assert [tuple(t.shape) for t in dec.inputs] == [(None, 2), (None, 4)]
    assert dec.get_layer("conv_decoder").input_shape == (None, 6)
    # The projection: logit = w.phi + b + e(c).phi, checked against NumPy.
    d = n.conditional_dcgan_discriminator((8, 8, 1), 4, filters=(8,))
    x = np.random.default_rng(0).uniform(-1, 1, (2, 8, 8, 1)).astype("float32")
    c = np.eye(4, dtype="float32")[[3, 1]]
    phi = d.get_layer("dcgan_features").predict(x, verbose=0)
    w, b = (keras.ops.convert_to_numpy(v) for v in d.get_layer("logits").weights)
    e = keras.ops.convert_to_numpy(d.get_layer("condition_embedding").kernel)
    assert e.shape == (4, 4 * 4 * 8)
    expected = phi @ w + b + np.sum(phi * (c @ e), axis=1, keepdims=True)
    np.testing.assert_allclose(d.predict([x, c], verbose=0), expected, rtol=1e-4, atol=1e-5)


def test_labels_of_shape_n_1_after_labels_of_shape_n_train_the_same():
    """keras.datasets labels come as (n, 1); after a fit on (n,) labels TensorFlow's relaxed
    retrace gave them an unknown rank ("Cannot iterate over a shape with unknown rank")."""
    x, labels = toy_classes()
    x = x * 2 - 1

    def fitted(*label_sets):
        keras.utils.set_random_seed(0)
        model = tiny_cgan()
        model.compile(**gan_optimizers())
        for y in label_sets:
            model.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0)
        return [keras.ops.convert_to_numpy(w) for w in model.weights]

    column = labels[:, None]
    for a, b in zip(fitted(labels, column), fitted(labels, labels)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_labels_from_a_python_generator_are_checked_batch_by_batch():
    """Out-of-range ids from a generator became all-zero one-hot rows on TensorFlow and
    JAX (a raw RuntimeError on PyTorch); now each batch is checked as Keras takes it."""
    x, labels = toy_classes()
    x = x * 2 - 1

    def batches(bad):
        yield x[:16], labels[:16]
        yield x[16:32], np.full(16, bad)

    model = tiny_cgan()
    model.compile(**gan_optimizers())
    with pytest.raises(ValueError, match=r"the labels of batch 1 of the generator x must hold class ids in "
                                         r"\[0, 3\).*e.g. 7"):
        model.fit(batches(7), epochs=1, shuffle=False, verbose=0)
    steps = int(keras.ops.convert_to_numpy(model.g_optimizer.iterations))  # 0 or 1 (backends peek differently)
    history = model.fit(batches(2), epochs=1, shuffle=False, verbose=0)  # good ids train
    assert np.isfinite(history.history["d_loss"][-1])
    # (TensorFlow's generator adapter runs 3 steps for these 2 batches, with or without the check)
    assert int(keras.ops.convert_to_numpy(model.g_optimizer.iterations)) >= steps + 2


class _Batches(keras.utils.PyDataset):
    def __init__(self, items):
        super().__init__()
        self.items = items

    def __len__(self):
        return len(self.items)

    def __getitem__(self, index):
        return self.items[index]


@pytest.mark.parametrize("kind", ["tf.data", "PyDataset", "generator"])
def test_later_batches_with_out_of_range_class_ids_are_named(kind):
    """Only the first batch of a stream was checked: id 7 in a later batch became an
    all-zero condition on TensorFlow and JAX (fit, validation and evaluate ran on) and a
    RuntimeError inside the step on PyTorch; evaluate did not check generators at all."""
    import tensorflow as tf

    x, labels = toy_classes()
    x = x * 2 - 1
    bad = labels.copy()
    bad[40] = 7  # in the third batch: TensorFlow reads it inside its pipeline (a PyFunc)

    def stream(y):
        if kind == "tf.data":
            return tf.data.Dataset.from_tensor_slices((x, y)).batch(16)
        if kind == "PyDataset":
            return _Batches([(x[i:i + 16], y[i:i + 16]) for i in (0, 16, 32)])
        return ((x[i:i + 16], y[i:i + 16]) for i in (0, 16, 32))

    model = tiny_cgan()
    model.compile(**gan_optimizers())
    message = r"class ids .*\[0, 3\).*min=0, max=7"
    if kind != "generator":
        with pytest.raises(ValueError, match=message):
            model.fit(stream(bad), epochs=1, verbose=0)
        with pytest.raises(ValueError, match=message):
            model.fit(x[:16], labels[:16], epochs=1, verbose=0, validation_data=stream(bad))
    with pytest.raises(ValueError, match=message):
        model.evaluate(stream(bad), verbose=0)
    scores = model.evaluate(stream(labels), verbose=0, return_dict=True)  # good ids pass
    assert np.isfinite(scores["d_loss"])
    if kind != "generator":
        assert np.isfinite(model.fit(stream(labels), epochs=1, verbose=0).history["d_loss"][-1])


def test_labels_as_a_python_list_train_as_an_array_would():
    """Keras read a list y as several arrays: "tuple index out of range" / "Unrecognized data type"."""
    x, labels = toy_classes(n=16)
    x = x * 2 - 1
    histories = []
    for y in (labels, list(labels), [int(v) for v in labels]):
        keras.utils.set_random_seed(0)
        model = tiny_cgan()
        model.compile(**gan_optimizers())
        histories.append(model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0).history)
        assert np.isfinite(model.evaluate(x, y, batch_size=8, verbose=0, return_dict=True)["d_loss"])
    for name in histories[0]:
        np.testing.assert_allclose(histories[1][name], histories[0][name], rtol=1e-6)
        np.testing.assert_allclose(histories[2][name], histories[0][name], rtol=1e-6)


class TwoInputEncoder(keras.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.flatten = keras.layers.Flatten()
        self.hidden = keras.layers.Dense(16, activation="relu")
        self.mean, self.log_sigma = keras.layers.Dense(2), keras.layers.Dense(2)

    def call(self, inputs):
        x, c = inputs
        h = self.hidden(keras.ops.concatenate([self.flatten(x), c], axis=-1))
        return [self.mean(h), self.log_sigma(h)]


class TwoInputDecoder(keras.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.dense = keras.layers.Dense(64, activation="sigmoid")
        self.reshape = keras.layers.Reshape((8, 8, 1))

    def call(self, inputs):
        z, c = inputs
        return self.reshape(self.dense(keras.ops.concatenate([z, c], axis=-1)))


@pytest.mark.parametrize("how", ["fit", "call"])
def test_subclassed_two_input_networks_build_from_the_data(how):
    # fit let Keras call the model on the images alone; a call built the images
    # with the batch's size and the condition with None (JAX / PyTorch refused).
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(20, 8, 8, 1)).astype("float32")
    y = np.arange(20) % 4
    model = keras_gen.ConditionalVAE(TwoInputEncoder(), TwoInputDecoder(), num_classes=4,
                                     reconstruction="bce", seed=0)
    onehot = np.eye(4, dtype="float32")[y[:5]]
    if how == "call":
        assert keras.ops.convert_to_numpy(model([x[:5], onehot])).shape == (5, 8, 8, 1)
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    losses = model.fit(x, y, batch_size=5, epochs=4, verbose=0, shuffle=False).history["loss"]
    assert np.all(np.isfinite(losses)) and losses[-1] < losses[0], losses
    assert tuple(model.get_build_config()["input_shape"][0])[1:] == (8, 8, 1)


def test_text_labels_to_a_conditional_model_get_advice_for_it(images):
    # The message told a conditional model's user that labels are ignored
    # ("drop them").
    gan = tiny_cgan()
    gan.compile(d_optimizer=keras.optimizers.Adam(), g_optimizer=keras.optimizers.Adam())
    x = images[:8] * 2.0 - 1.0
    with pytest.raises(ValueError, match=r"y holds text labels.*Encode them as integer class ids "
                       r"in \[0, num_classes\) or as attribute vectors of numbers. Received: y of dtype string"):
        gan.fit(x, np.array(["a", "b"] * 4), batch_size=4, verbose=0)
    with pytest.raises(ValueError, match=r"labels is required: a ConditionalGAN works on given labels"):
        gan.sample(2)
