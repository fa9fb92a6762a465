"""Bad inputs a hostile but fair user tries: each gets a named error or a correct result.

Run under each backend (KERAS_BACKEND=tensorflow, jax, torch), every probe
holds on all three. The data checks apply the same rules to every input
kind: a NumPy array, a ``tf.data.Dataset`` and a ``keras.utils.PyDataset``
(checked by their first batch) and a folder read by
``keras_gen.data.from_folder``.

Probes of the same issue tested elsewhere (referenced, not repeated):

* NaN losses stop training, a GAN included (``keras_gen.callbacks.TerminateOnNaN``,
  the fit guard): tests/test_nan_safety.py, tests/test_callbacks.py;
* non-finite weights refused on save and export: tests/test_nan_safety.py,
  tests/test_export.py;
* kill -9 and exact resume: tests/test_resume.py;
* edited or invalid manifests, interrupted exports: tests/test_runtime.py,
  tests/test_export_atomic.py;
* a ``.keras`` file saved under one backend trains under the others:
  tests/test_cross_backend.py.
"""

import os
import re

import keras
import numpy as np
import pytest
from PIL import Image

import keras_gen
from keras_gen import _checks
from keras_gen.data import folder as folder_module
from tests import helpers
from tests.models.test_gan import tiny_gan

KINDS = ("array", "tf.data", "PyDataset")


class Batches(keras.utils.PyDataset):
    """A PyDataset of ``(x[, y])`` batches of 8."""

    def __init__(self, x, y=None, batch_size=8):
        super().__init__()
        self.x, self.y, self.batch_size = x, y, batch_size

    def __len__(self):
        return -(-len(self.x) // self.batch_size)

    def __getitem__(self, index):
        part = slice(index * self.batch_size, (index + 1) * self.batch_size)
        return self.x[part] if self.y is None else (self.x[part], self.y[part])


def as_kind(kind, x, y=None):
    """``(data, y)`` arguments of ``fit`` for ``x`` (and targets ``y``) as ``kind``."""
    if kind == "array":
        return x, y
    if kind == "PyDataset":
        return Batches(x, y), None
    import tensorflow as tf

    items = x if y is None else (x, y)
    return tf.data.Dataset.from_tensor_slices(items).batch(8), None


def fit(model, kind, x, y=None, method="fit"):
    data, target = as_kind(kind, x, y)
    kwargs = {"batch_size": 8} if kind == "array" else {}
    return getattr(model, method)(data, target, verbose=0, **kwargs)


def iterations(optimizer):
    return int(keras.ops.convert_to_numpy(optimizer.iterations))


def make_ae(reconstruction="mse"):
    ae = keras_gen.AutoEncoder(helpers.tiny_encoder(), helpers.tiny_decoder(), reconstruction=reconstruction)
    ae.compile(optimizer="adam")
    return ae


def make_vae(reconstruction="mse"):
    vae = keras_gen.VAE(
        helpers.tiny_encoder(variational=True), helpers.tiny_decoder(), reconstruction=reconstruction, seed=0
    )
    vae.compile(optimizer="adam")
    return vae


def make_gan():
    gan = tiny_gan()
    gan.compile(d_optimizer="adam", g_optimizer="adam")
    return gan


@pytest.fixture
def x(images):
    return images[:32]


def label(kind):
    """How the error names the data of each kind."""
    return {"array": "x", "tf.data": r"x \(first batch of the tf.data.Dataset\)",
            "PyDataset": r"x \(first batch of the PyDataset\)"}[kind]


# ------------------------------------------------------------ value checks
@pytest.mark.parametrize("kind", KINDS)
def test_one_nan_pixel_is_named_for_a_bce_vae(kind, x):
    # One NaN used to pass the BCE range check (min/max ignore NaN).
    x = x.copy()
    x[3, 2, 1, 0] = np.nan
    vae = make_vae("bce")
    with pytest.raises(ValueError, match=label(kind) + r" must not contain NaN.*1 NaN and 0 infinite"):
        fit(vae, kind, x)
    assert iterations(vae.optimizer) == 0


@pytest.mark.parametrize("kind", KINDS)
def test_an_infinite_pixel_is_named_and_located(kind, x):
    x = x.copy()
    x[1, 0, 5, 0] = -np.inf
    with pytest.raises(ValueError, match=r"0 NaN and 1 infinite values, the first \(-inf\) at index \[1, 0, 5, 0\]"):
        fit(make_ae(), kind, x)


@pytest.mark.parametrize("kind", KINDS)
def test_images_in_0_255_to_a_bce_vae_are_refused(kind, x):
    # A tf.data pipeline of 0..255 images used to train to a negative loss.
    with pytest.raises(ValueError, match=label(kind) + r" must lie in \(0.0, 1.0\).*reconstruction='bce'.*max=2\d\d"):
        fit(make_vae("bce"), kind, x * 255.0)


@pytest.mark.parametrize("kind", KINDS)
def test_images_outside_the_decoders_activation_range_are_refused(kind, x):
    # MSE has no range of its own, but a sigmoid decoder cannot reach 255.
    with pytest.raises(ValueError, match=label(kind) + r" must lie in \(0.0, 1.0\), the output range of the model's decoding"):
        fit(make_vae("mse"), kind, x * 255.0)


@pytest.mark.parametrize("stored,expected", [((0, 255), "(0, 255)"), ((-1, 1), "(-1, 1)"),
                                             ((-3, 7), "(-3.0, 7.0)")])
def test_the_rescaling_hint_names_the_data_and_a_range_that_holds_it(x, stored, expected):
    # The hint used to say input_range=(0, 255) whatever the data, and name x for a target y.
    low, high = stored
    data = (low + (high - low) * x).astype("float32")
    data[0, 0, 0, 0], data[1, 0, 0, 0] = low, high
    vae = make_vae("bce")
    with pytest.raises(ValueError, match=re.escape(
            f"from_numpy(x, input_range={expected}, value_range=(0.0, 1.0))")):
        fit(vae, "array", data)
    ae = make_ae()
    with pytest.raises(ValueError, match=r"^y must lie in \(0.0, 1.0\).*" + re.escape(
            f"from_numpy(y, input_range={expected}, value_range=(0.0, 1.0))")):
        fit(ae, "array", x, data)
    # Following the advice gives data the model takes.
    rescaled = keras_gen.data.from_numpy(data, input_range=tuple(float(v) for v in
                                         expected.strip("()").split(", ")), value_range=(0.0, 1.0))
    fit(vae, "array", rescaled)
    assert iterations(vae.optimizer) > 0


@pytest.mark.parametrize("kind", KINDS)
def test_gan_real_images_outside_tanh_range_are_refused(kind, x):
    real = x[:, :4, :4] * 255.0
    with pytest.raises(ValueError, match=label(kind) + r" must lie in \(-1.0, 1.0\).*Received: .*max=\d+"):
        fit(make_gan(), kind, real)


@pytest.mark.parametrize("kind", KINDS)
def test_images_in_0_1_for_a_tanh_generator_warn_and_train(kind):
    # The GAN learned [0, 1] silently, and the tools that read its outputs as
    # (-1, 1) showed its samples pale.
    real = np.random.default_rng(0).uniform(size=(32, 4, 4, 1)).astype("float32")
    gan = make_gan()
    with pytest.warns(UserWarning, match=label(kind) + r" lies in \[0, .*\] while the model's "
                      r"outputs .* span \(-1.0, 1.0\).*from_numpy\(x, input_range=\(0, 1\), "
                      r"value_range=\(-1.0, 1.0\)\)\. Received: .*min=0"):
        fit(gan, kind, real)
    assert iterations(gan.g_optimizer) > 0
    # the advice works: rescaled as it says, the images are in the generator's range
    rescaled = keras_gen.data.from_numpy(real, input_range=(0, 1), value_range=(-1.0, 1.0))
    assert rescaled.min() < -0.9 and rescaled.max() > 0.9
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        fit(make_gan(), "array", real * 2.0 - 1.0)  # in the generator's range: no warning


@pytest.mark.parametrize("kind", KINDS)
def test_uint8_images_are_refused_by_every_model(kind, x):
    # One rule on every backend (TF used to crash in the graph, JAX and
    # PyTorch trained on 0..255): integer pixels are refused, with the range
    # to rescale to.
    pixels = np.round(x * 255).astype("uint8")
    for model, data, expected_range in (
        (make_vae("mse"), pixels, r"\(0.0, 1.0\)"),
        (make_gan(), pixels[:, :4, :4], r"\(-1.0, 1.0\)"),
    ):
        with pytest.raises(_checks.ArgumentTypeError, match=(
            label(kind) + r" must hold floating-point images in the model's range " + expected_range
            + r".*Received: .*dtype=uint8 \(min=\d+, max=\d+\).*input_range=\(0, 255\)"
        )) as caught:
            fit(model, kind, data)
        assert isinstance(caught.value, TypeError) and isinstance(caught.value, ValueError)


# ------------------------------------------------------------ empty data
@pytest.mark.parametrize("method", ["fit", "evaluate"])
@pytest.mark.parametrize("kind", KINDS)
def test_empty_data_is_a_named_error(kind, method, x):
    # Used to: train nothing on TensorFlow, an unrelated error on PyTorch,
    # UnboundLocalError on JAX.
    expected = {
        "array": r"x is empty: .*Received: x.shape=\(0, [48], [48], 1\)",
        "tf.data": r"x is an empty tf.data.Dataset: it yields no batch",
        "PyDataset": r"x is an empty PyDataset: it yields no batch",
    }[kind]
    for model in (make_ae(), make_gan()):
        data = x[:0] if model.encoding_network is not None else x[:0, :4, :4]
        with pytest.raises(ValueError, match=expected):
            fit(model, kind, data, method=method)


def test_empty_folder_is_a_named_error(tmp_path):
    (tmp_path / "readme.txt").write_text("no images here")
    with pytest.raises(ValueError, match="No image files found in the folder"):
        keras_gen.data.from_folder(tmp_path, image_size=8)


def test_empty_validation_data_is_named(x):
    with pytest.raises(ValueError, match=r"validation_data is empty"):
        make_ae().fit(x, validation_data=(x[:0],), epochs=1, verbose=0)


# ----------------------------------------------------------------- shapes
@pytest.mark.parametrize("kind", KINDS)
def test_wrong_image_size_names_expected_and_received_shapes(kind, images):
    wrong = np.random.default_rng(0).random((16, 9, 9, 1)).astype("float32")
    with pytest.raises(ValueError, match=(
        label(kind) + r" must hold images of shape \(8, 8, 1\) \(the model's expected input shape "
        r"is \(None, 8, 8, 1\)\)\. Received: .*images of shape \(9, 9, 1\)"
    )):
        fit(make_ae(), kind, wrong)


@pytest.mark.parametrize("kind", KINDS)
def test_gan_wrong_channels_names_expected_and_received_shapes(kind):
    # Used to fail deep inside the discriminator's Dense layer.
    rgb = np.random.default_rng(0).uniform(-1, 1, (16, 4, 4, 3)).astype("float32")
    gan = make_gan()
    with pytest.raises(ValueError, match=label(kind) + r" must hold images of shape \(4, 4, 1\).*images of shape \(4, 4, 3\)"):
        fit(gan, kind, rgb)
    assert iterations(gan.g_optimizer) == 0


@pytest.mark.parametrize("kind", KINDS)
def test_wrong_rank_names_the_model_input_shape(kind, x):
    with pytest.raises(ValueError, match=label(kind) + r" must have rank 4 .*\(None, 8, 8, 1\)"):
        fit(make_ae(), kind, x[..., 0])


@pytest.mark.parametrize("container", [list, tuple])
def test_a_list_of_arrays_is_named_not_a_crash_in_the_loss(container, x):
    # Used to fail inside the loss with AttributeError ('tuple' has no 'dtype').
    with pytest.raises(ValueError, match=r"x must be one array or tensor of images .*np\.stack.*"
                       rf"Received: x={container.__name__} of 1 item\(s\)"):
        make_ae().fit(container([x]), batch_size=8, verbose=0)


def test_gan_latent_dim_not_matching_the_generator_is_named():
    # Used to be Keras' input-spec error inside Sequential.call(), not naming latent_dim.
    generator = keras.Sequential([keras.Input((3,)), keras.layers.Dense(16), keras.layers.Reshape((4, 4, 1))])
    discriminator = keras.Sequential([keras.Input((4, 4, 1)), keras.layers.Flatten(), keras.layers.Dense(1)])
    with pytest.raises(ValueError, match=r"latent_dim must match the generator's input size\. "
                       r"Received: latent_dim=2, generator input shape \(None, 3\)"):
        keras_gen.GAN(generator, discriminator, latent_dim=2)


@pytest.mark.parametrize("activation", ["sigmoid", "tanh"])
def test_a_discriminator_with_a_squashing_activation_is_named(activation):
    # the keras.io examples' D ends in a sigmoid; read as logits, D(x) could not go below 0.5
    generator = keras.Sequential([keras.Input((2,)), keras.layers.Dense(16, activation="tanh"),
                                  keras.layers.Reshape((4, 4, 1))])
    discriminator = keras.Sequential([keras.Input((4, 4, 1)), keras.layers.Flatten(),
                                      keras.layers.Dense(1, activation=activation)])
    gan = keras_gen.GAN(generator, discriminator, latent_dim=2)  # such a saved GAN still loads and samples
    assert gan.sample(2, seed=0).shape == (2, 4, 4, 1)
    gan.compile(d_optimizer="adam", g_optimizer="adam")
    with pytest.raises(ValueError, match=rf"The discriminator must return logits .* final activation is '{activation}'"):
        gan.fit(np.zeros((8, 4, 4, 1), "float32"), epochs=1, verbose=0)


def test_wrong_channels_to_a_vae_with_a_subclassed_encoder_names_both_shapes(x):
    # The encoder declares no input shape: the model takes the data's and the
    # round trip names the data's and the decoder's image shapes.
    vae = keras_gen.VAE(helpers.SubclassedEncoder(), helpers.tiny_decoder(), seed=0)
    vae.compile(optimizer="adam")
    rgb = np.repeat(x[:8], 3, axis=-1)
    with pytest.raises(ValueError, match=r"encoder input shape \(None, 8, 8, 3\).*decoder output shape "
                       r"\(None, 8, 8, 1\).*the images must have the decoder's output shape"):
        vae.fit(rgb, batch_size=8, verbose=0)


@pytest.mark.parametrize("method", ["fit", "evaluate", "encode", "reconstruct", "interpolate"])
def test_images_of_another_shape_to_a_built_model_of_subclassed_networks_are_named(method, x):
    # Once built, the model knows its images' shape; the wrong size reached
    # the encoder's Dense (a shape error from inside the network).
    vae = keras_gen.VAE(helpers.SubclassedEncoder(), helpers.tiny_decoder(), seed=0)
    vae.compile(optimizer="adam")
    vae.fit(x, batch_size=8, epochs=1, verbose=0)
    small = x[:, :6, :6]
    call = {"fit": lambda: vae.fit(small, batch_size=8, verbose=0),
            "evaluate": lambda: vae.evaluate(small, batch_size=8, verbose=0),
            "encode": lambda: vae.encode(small),
            "reconstruct": lambda: vae.reconstruct(small),
            "interpolate": lambda: keras_gen.latent.interpolate(vae, small[0], small[1])}[method]
    name = "a" if method == "interpolate" else "x"  # interpolate(model, a, b) names its argument
    with pytest.raises(ValueError, match=rf"{name} must hold images of shape \(8, 8, 1\).*Received: "
                       rf"{name}.shape=\(\d+, 6, 6, 1\)"):
        call()


class _DictEncoder(helpers.SubclassedEncoder):
    def call(self, x):
        z_mean, z_log_sigma = super().call(x)
        return {"z_mean": z_mean, "z_log_sigma": z_log_sigma}


def test_a_subclassed_vae_encoder_returning_a_dict_is_named(x):
    # Unpacking a dict would give its keys: the model says to return a list.
    vae = keras_gen.VAE(_DictEncoder(), helpers.tiny_decoder(), seed=0)
    vae.compile(optimizer="adam")
    with pytest.raises(ValueError, match=r"not a dict\. Received: encoder outputs a dict with "
                       r"keys \['z_log_sigma', 'z_mean'\]"):
        vae.fit(x[:8], batch_size=8, verbose=0)


@pytest.mark.parametrize("kind", KINDS)
def test_steps_per_epoch_past_the_data_is_named(kind, x):
    # Keras trained 4 steps per epoch instead of 10, with a warning only.
    data, _ = as_kind(kind, x)
    kwargs = {"batch_size": 8} if kind == "array" else {}
    ae = make_ae()
    with pytest.raises(ValueError, match=r"steps_per_epoch is more than the 4 batches x holds.*"
                       r"Received: steps_per_epoch=10"):
        ae.fit(data, epochs=1, steps_per_epoch=10, verbose=0, **kwargs)
    assert iterations(ae.optimizer) == 0


@pytest.mark.parametrize("make", [make_ae, make_vae, make_gan], ids=["ae", "vae", "gan"])
@pytest.mark.parametrize("dtype", ["float64", "float16"])
def test_a_tf_data_batch_of_another_float_type_trains_as_float32(make, dtype, x):
    """Keras casts NumPy inputs to float32 but not tf.data batches: a float64 dataset (NumPy's
    default, e.g. x / 255.0) failed the VAE's loss on TensorFlow with a dtype error, and on
    JAX and PyTorch the loss ran in the data's precision (NaN in float16)."""
    import tensorflow as tf

    data = x if make is not make_gan else np.random.default_rng(0).uniform(-1, 1, (32, 4, 4, 1))
    wide = data.astype(dtype)
    as_float32 = wide.astype("float32")  # what the model should see
    histories = []
    for images in (wide, as_float32):
        keras.utils.set_random_seed(0)
        model = make()
        ds = tf.data.Dataset.from_tensor_slices(images).batch(16)
        histories.append(model.fit(ds, epochs=2, verbose=0, shuffle=False).history)
        scores = model.evaluate(ds, verbose=0, return_dict=True)
        assert all(np.isfinite(v) for v in scores.values()), scores
    assert histories[0].keys() == histories[1].keys()
    for name in histories[1]:
        np.testing.assert_allclose(histories[0][name], histories[1][name], rtol=1e-5, err_msg=name)


@pytest.mark.parametrize("make", [make_ae, make_vae, make_gan], ids=["ae", "vae", "gan"])
def test_a_generators_first_batch_is_checked_as_an_arrays(make, x):
    """Generators passed unchecked: uint8 pixels trained on a loss computed in uint8
    (wrapping modulo 256) on JAX and PyTorch, 0..255 floats trained silently."""
    images = x if make is not make_gan else np.random.default_rng(0).uniform(-1, 1, (32, 4, 4, 1))
    images = images.astype("float32")

    def batches(data):
        for i in range(0, len(data), 8):
            yield (data[i:i + 8],)

    model = make()
    with pytest.raises(TypeError, match=r"x \(first batch of the generator\) must hold floating-point "
                                        r"images.*dtype=uint8"):
        model.fit(batches((images * 100).astype("uint8")), epochs=1, verbose=0)
    with pytest.raises(ValueError, match=r"x \(first batch of the generator\) .*Received"):
        model.fit(batches(images * 255.0), epochs=1, verbose=0)
    with pytest.raises(TypeError, match=r"first batch of the generator"):
        model.evaluate(batches((images * 100).astype("uint8")), verbose=0)
    assert iterations(model.optimizer if make is not make_gan else model.d_optimizer) == 0
    history = model.fit(batches(images), epochs=1, verbose=0).history  # every batch still trains
    assert all(np.isfinite(v[-1]) for v in history.values())
    # (TensorFlow's generator adapter takes one batch more, with or without the check)
    assert iterations(model.optimizer if make is not make_gan else model.d_optimizer) >= 4


def test_a_dataset_of_dicts_is_named(x):
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices({"image": x, "label": np.zeros(len(x), "int64")}).batch(8)
    with pytest.raises(ValueError, match=r"x yields dicts \(\['image', 'label'\]\).*"
                                         r"ds.map\(lambda e: \(e\['image'\], e\['label'\]\)\)"):
        make_ae().fit(ds, epochs=1, verbose=0)


@pytest.mark.skipif(keras.backend.backend() != "torch", reason="a torch DataLoader feeds the PyTorch backend")
def test_a_torch_data_loaders_first_batch_is_checked_and_its_order_kept(x):
    import torch

    from keras_gen.data import peek

    bad = torch.utils.data.DataLoader(torch.tensor((x * 100).astype("uint8")), batch_size=8)
    with pytest.raises(TypeError, match=r"x \(first batch of the DataLoader\) must hold floating-point"):
        make_ae().fit(bad, epochs=1, verbose=0)
    # Reading the first batch of a shuffling loader leaves torch's random state as it was,
    # so training sees the order it would have seen.
    loader = torch.utils.data.DataLoader(torch.tensor(x), batch_size=8, shuffle=True)
    torch.manual_seed(3)
    kind, first = peek.first_batch(loader)
    after_peek = next(iter(loader)).numpy()
    torch.manual_seed(3)
    np.testing.assert_array_equal(after_peek, next(iter(loader)).numpy())
    assert kind == "DataLoader" and first.shape == (8, 8, 8, 1)
    model = make_ae()
    model.fit(loader, epochs=1, verbose=0)
    assert iterations(model.optimizer) == 4

    class OnePass(torch.utils.data.IterableDataset):  # a stream a pass consumes: not peeked at
        def __init__(self):
            self.rows = iter(torch.tensor(x))

        def __iter__(self):
            return self.rows

    model = make_ae()
    model.fit(torch.utils.data.DataLoader(OnePass(), batch_size=8), epochs=1, verbose=0)
    assert iterations(model.optimizer) == 4  # every batch trained


def test_steps_per_epoch_counts_the_training_share_of_validation_split_as_keras_does(x):
    # 9 images, validation_split 0.5: Keras trains on floor(4.5) = 4, one batch of 4;
    # the check counted ceil (5, two batches) and let steps_per_epoch=2 through.
    ae = make_ae()
    with pytest.raises(ValueError, match=r"steps_per_epoch is more than the 1 batches x holds "
                                         r"\(4 images in batches of 4\)"):
        ae.fit(x[:9], batch_size=4, validation_split=0.5, epochs=1, steps_per_epoch=2, verbose=0)
    ae.fit(x[:9], batch_size=4, validation_split=0.5, epochs=1, steps_per_epoch=1, verbose=0)
    assert iterations(ae.optimizer) == 1


def test_steps_per_epoch_of_a_repeated_pipeline_trains_every_step(x):
    import tensorflow as tf

    ae = make_ae()
    ae.fit(tf.data.Dataset.from_tensor_slices(x).batch(8).repeat(), epochs=2, steps_per_epoch=6, verbose=0)
    assert iterations(ae.optimizer) == 12


@pytest.mark.parametrize("make", [keras_gen.AutoEncoder, keras_gen.VAE], ids=["ae", "vae"])
def test_bce_with_a_tanh_decoder_is_named(make):
    # The clipped BCE gave negative outputs no gradient: it trained silently wrong.
    inputs = keras.Input((2,))
    outputs = keras.layers.Reshape((8, 8, 1))(keras.layers.Dense(64, activation="tanh")(inputs))
    decoder = keras.Model(inputs, outputs)
    encoder = helpers.tiny_encoder(variational=make is keras_gen.VAE)
    with pytest.raises(ValueError, match=r"reconstruction='bce' needs a decoder whose outputs are "
                       r"probabilities in \[0, 1\].*Received: .*\(-1\.0, 1\.0\)"):
        make(encoder, decoder, reconstruction="bce")


@pytest.mark.parametrize("activation", [None, "relu"])
@pytest.mark.parametrize("make", [keras_gen.AutoEncoder, keras_gen.VAE], ids=["ae", "vae"])
def test_bce_with_an_unbounded_decoder_is_named(make, activation):
    # outputs outside [0, 1] are clipped by the loss and get no gradient
    inputs = keras.Input((2,))
    outputs = keras.layers.Reshape((8, 8, 1))(keras.layers.Dense(64, activation=activation)(inputs))
    encoder = helpers.tiny_encoder(variational=make is keras_gen.VAE)
    model = make(encoder, keras.Model(inputs, outputs), reconstruction="bce")  # such a saved model loads
    model.compile(optimizer="adam")
    x = np.random.default_rng(0).uniform(size=(8, 8, 8, 1)).astype("float32")
    with pytest.raises(ValueError, match=rf"final activation is '{activation or 'linear'}'"):
        model.fit(x, epochs=1, verbose=0)
    outputs = keras.layers.Activation("sigmoid")(keras.layers.Dense(64, activation=activation)(inputs))
    decoder = keras.Model(inputs, keras.layers.Reshape((8, 8, 1))(outputs))
    model = make(encoder, decoder, reconstruction="bce")  # a sigmoid after it is fine
    model.compile(optimizer="adam")
    model.fit(x, epochs=1, verbose=0)


def _write_pngs(folder, count, size, mode):
    rng = np.random.default_rng(0)
    shape = (size, size) if mode == "L" else (size, size, 3)
    for i in range(count):
        Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode=mode).save(folder / f"{i:03d}.png")


def test_folder_of_wrong_size_or_channels_is_named(tmp_path):
    _write_pngs(tmp_path, 8, 12, "RGB")
    ae = make_ae()
    too_big = keras_gen.data.from_folder(tmp_path, image_size=12, channels=1, batch_size=4)
    with pytest.raises(ValueError, match=r"tf.data.Dataset\) must hold images of shape \(8, 8, 1\).*images of shape \(12, 12, 1\)"):
        ae.fit(too_big, epochs=1, verbose=0)
    rgb = keras_gen.data.from_folder(tmp_path, image_size=8, channels=3, batch_size=4)
    with pytest.raises(ValueError, match=r"images of shape \(8, 8, 1\).*images of shape \(8, 8, 3\)"):
        ae.fit(rgb, epochs=1, verbose=0)
    assert iterations(ae.optimizer) == 0


# ------------------------------------------------------- correct results
@pytest.mark.parametrize("kind", KINDS)
def test_good_data_of_every_kind_trains_every_batch(kind, x):
    # The first-batch check peeks without consuming: all 4 batches train.
    vae = make_vae("bce")
    history = fit(vae, kind, x)
    assert iterations(vae.optimizer) == 4
    assert np.isfinite(history.history["loss"]).all()
    gan = make_gan()
    fit(gan, kind, x[:, :4, :4] * 2.0 - 1.0)
    assert iterations(gan.g_optimizer) == iterations(gan.d_optimizer) == 4


def test_folder_trains_and_is_not_consumed_by_the_check(tmp_path):
    _write_pngs(tmp_path, 12, 8, "L")
    ds = keras_gen.data.from_folder(tmp_path, image_size=8, channels=1, batch_size=4, seed=0)
    ae = make_ae("bce")
    ae.fit(ds, epochs=1, verbose=0)
    assert iterations(ae.optimizer) == 3


@pytest.mark.parametrize("kind", KINDS)
def test_denoising_inputs_outside_the_range_train_when_targets_are_in_it(kind, x):
    # BCE and the decoder's range constrain the targets (y), not the inputs.
    noisy = x + np.random.default_rng(0).normal(0, 0.3, x.shape).astype("float32")
    assert noisy.min() < 0 and noisy.max() > 1
    ae = make_ae("bce")
    fit(ae, kind, noisy, x)
    assert iterations(ae.optimizer) == 4
    with pytest.raises(ValueError, match=r"must lie in \(0.0, 1.0\).*reconstruction='bce'"):
        fit(make_ae("bce"), kind, x, noisy)


def test_gan_ignores_integer_labels_in_a_pipeline(x):
    # A labelled pipeline (images, labels) trains a GAN: labels are not images.
    import tensorflow as tf

    labels = np.arange(32) % 10
    ds = tf.data.Dataset.from_tensor_slices((x[:, :4, :4] * 2.0 - 1.0, labels)).batch(8)
    gan = make_gan()
    gan.fit(ds, epochs=1, verbose=0)
    assert iterations(gan.g_optimizer) == 4


# ----------------------------------------------------------------- files
def test_truncated_jpeg_in_a_large_folder_names_the_file(tmp_path, monkeypatch):
    # Folders above EAGER_CHECK_LIMIT are checked as they are read; the
    # limit is lowered so that a small folder takes that path.
    import tensorflow as tf

    monkeypatch.setattr(folder_module, "EAGER_CHECK_LIMIT", 0)
    rng = np.random.default_rng(0)
    for i in range(8):
        Image.fromarray(rng.integers(0, 256, (8, 8), dtype=np.uint8), mode="L").save(tmp_path / f"{i}.jpg")
    whole = (tmp_path / "5.jpg").read_bytes()
    (tmp_path / "5.jpg").write_bytes(whole[: len(whole) * 2 // 3])
    ds = keras_gen.data.from_folder(tmp_path, image_size=8, channels=1, batch_size=2, shuffle=False)
    ae = make_ae()
    with pytest.raises(tf.errors.InvalidArgumentError, match=re.escape(str(tmp_path / "5.jpg")) + r".*truncated"):
        ae.fit(ds, epochs=1, verbose=0)
    # Training got past the good batches first: the error is mid-epoch.
    assert iterations(ae.optimizer) >= 1


def test_complete_files_of_every_format_pass_the_lazy_check(tmp_path, monkeypatch):
    monkeypatch.setattr(folder_module, "EAGER_CHECK_LIMIT", 0)
    rng = np.random.default_rng(0)
    for name, fmt in (("a.jpg", "JPEG"), ("b.png", "PNG"), ("c.gif", "GIF"), ("d.bmp", "BMP")):
        Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(tmp_path / name, fmt)
    ds = keras_gen.data.from_folder(tmp_path, image_size=8, batch_size=4, shuffle=False)
    assert [tuple(b.shape) for b in ds] == [(4, 8, 8, 3)]


def test_data_after_the_image_passes_where_pil_decoded_the_folder(tmp_path):
    # A phone's "motion photo" JPEG (a video appended after FF D9) decodes; in a
    # small folder, which PIL decodes up front, the pipeline called it truncated.
    rng = np.random.default_rng(0)
    for i in range(3):
        Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(tmp_path / f"{i}.jpg")
    with open(tmp_path / "1.jpg", "ab") as f:
        f.write(rng.integers(0, 256, 65536, dtype=np.uint8).tobytes())
    ds = keras_gen.data.from_folder(tmp_path, image_size=8, batch_size=3, shuffle=False)
    assert [tuple(b.shape) for b in ds] == [(3, 8, 8, 3)]


def test_zero_padding_after_a_gifs_trailer_passes_the_lazy_check(tmp_path, monkeypatch):
    monkeypatch.setattr(folder_module, "EAGER_CHECK_LIMIT", 0)
    path = tmp_path / "padded.gif"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(path, "GIF")
    with open(path, "ab") as f:
        f.write(b"\x00\x00")
    ds = keras_gen.data.from_folder(tmp_path, image_size=8, batch_size=1)
    assert [tuple(b.shape) for b in ds] == [(1, 8, 8, 3)]


@pytest.mark.parametrize("fmt,suffix", [("PNG", "png"), ("GIF", "gif"), ("BMP", "bmp")])
def test_truncated_files_of_other_formats_are_named(tmp_path, monkeypatch, fmt, suffix):
    import tensorflow as tf

    monkeypatch.setattr(folder_module, "EAGER_CHECK_LIMIT", 0)
    path = tmp_path / f"cut.{suffix}"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(path, fmt)
    path.write_bytes(path.read_bytes()[:-40])
    ds = keras_gen.data.from_folder(tmp_path, image_size=8, batch_size=1)
    with pytest.raises(tf.errors.InvalidArgumentError, match=re.escape(str(path)) + r".*truncated"):
        list(ds)


@pytest.fixture
def saved_ae(tmp_path):
    ae = make_ae()
    path = tmp_path / "ae.keras"
    ae.save(path)
    return path


def test_corrupt_keras_file_is_named_not_reported_missing(saved_ae, tmp_path):
    # keras.saving.load_model says "File not found" for an existing file that
    # is not a zip archive; keras_gen.saving.load_model names the problem.
    truncated = tmp_path / "truncated.keras"
    truncated.write_bytes(saved_ae.read_bytes()[:1000])
    with pytest.raises(ValueError, match=r"not a valid .keras file.*truncated, damaged.*\(1000 bytes\). Received: filepath='" + re.escape(str(truncated))):
        keras_gen.saving.load_model(truncated)
    damaged = bytearray(saved_ae.read_bytes())
    middle = len(damaged) // 3
    damaged[middle : middle + 200] = bytes(b ^ 0x55 for b in damaged[middle : middle + 200])
    (tmp_path / "damaged.keras").write_bytes(bytes(damaged))
    with pytest.raises(ValueError, match=r"The .keras file is damaged: BadZipFile.*Received: filepath="):
        keras_gen.saving.load_model(tmp_path / "damaged.keras")
    with pytest.raises(FileNotFoundError, match=r"Received: filepath='.*missing.keras'"):
        keras_gen.saving.load_model(tmp_path / "missing.keras")
    loaded = keras_gen.saving.load_model(saved_ae)
    assert type(loaded) is keras_gen.AutoEncoder
    assert os.path.getsize(saved_ae) > 1000


@pytest.mark.parametrize("bad", [-1, 2**31, 2**40])
def test_a_seed_outside_int32_is_named_on_every_backend(bad):
    """PyTorch's seed state is int32, JAX's keys uint32: the same seeds are refused everywhere, by name."""
    g = keras_gen.networks.dcgan_generator(4, (8, 8, 1), filters=(4,))
    d = keras_gen.networks.dcgan_discriminator((8, 8, 1), filters=(4,))
    message = rf"seed must be an int in \[0, 2\*\*31\) or None. Received: seed={bad}"
    with pytest.raises(ValueError, match=message):
        keras_gen.GAN(g, d, latent_dim=4, seed=bad)
    gan = keras_gen.GAN(g, d, latent_dim=4, seed=2**31 - 1)  # the largest one works
    assert gan.sample(2, seed=0).shape == (2, 8, 8, 1)
    with pytest.raises(ValueError, match=message):
        gan.sample(2, seed=bad)
    with pytest.raises(ValueError, match=message):
        keras_gen.data.from_numpy(np.zeros((4, 8, 8, 1), "float32"), batch_size=2, shuffle=True,
                                  seed=bad)


def test_the_largest_seed_works_where_a_model_derives_a_second_stream():
    """A GAN's consistency augmentation and a VAE's prior draw from seed + 1, kept below 2**31."""
    g = keras_gen.networks.dcgan_generator(4, (8, 8, 1), filters=(4,))
    d = keras_gen.networks.dcgan_discriminator((8, 8, 1), filters=(4,))
    gan = keras_gen.GAN(g, d, latent_dim=4, seed=2**31 - 1, consistency=1.0)
    assert gan.consistency_augment.seed == 0
    vae = keras_gen.VAE(keras_gen.networks.dense_encoder((8, 8, 1), 2, variational=True),
                        keras_gen.networks.dense_decoder(2, (8, 8, 1)), seed=2**31 - 1)
    assert vae.prior_seed_generator.get_config()["seed"] == 0
    assert vae.sample(3).shape == (3, 8, 8, 1)


@pytest.mark.parametrize("bad", [-1, 2**31])
def test_metric_and_dataset_seeds_follow_the_same_rule(bad):
    """KID's subset draws, the shapes factors, the likelihood bounds and the extractors
    take the models' seed range; a seed outside it is named before any work is done."""
    features = np.random.default_rng(0).normal(size=(20, 3)).astype("float32")
    message = rf"seed must be an int in \[0, 2\*\*31\)( or None)?. Received: seed={bad}"
    with pytest.raises(ValueError, match=message):
        keras_gen.metrics.kid_from_features(features, features, seed=bad)
    with pytest.raises(ValueError, match=message):
        keras_gen.data.shapes.shape_factors("test", num_examples=2, seed=bad)
    with pytest.raises(ValueError, match=message):
        keras_gen.metrics.digits_feature_extractor(seed=bad)
    vae = keras_gen.VAE(keras_gen.networks.dense_encoder((8, 8, 1), 2, variational=True),
                        keras_gen.networks.dense_decoder(2, (8, 8, 1)), seed=0)
    with pytest.raises(ValueError, match=message):
        keras_gen.metrics.importance_weighted_nll(vae, np.zeros((2, 8, 8, 1), "float32"), k=2,
                                                 seed=bad)
    # the largest seed works, and a seed of None draws fresh subsets for KID
    assert keras_gen.data.shapes.shape_factors("test", num_examples=2, seed=2**31 - 1)["radius"].shape == (2,)
    assert np.isfinite(keras_gen.metrics.kid_from_features(features, features, seed=None)[0])


@pytest.mark.parametrize("argument,value,error", [
    ("subsets", 0, ValueError), ("subsets", "5", TypeError),
    ("subset_size", 1, ValueError), ("subset_size", 2.5, TypeError),
    ("subset_size", 30, ValueError)])
def test_kid_arguments_are_named(argument, value, error):
    features = np.random.default_rng(0).normal(size=(20, 3)).astype("float32")
    with pytest.raises(error, match=rf"{argument}.*Received: {argument}={value!r}"):
        keras_gen.metrics.kid_from_features(features, features, **{argument: value})


@pytest.mark.parametrize("make", [make_ae, make_vae], ids=["ae", "vae"])
def test_inference_inputs_are_checked_like_fit(make, x):
    """encode / reconstruct / decode and the latent tools name bad images or codes before
    any network runs (they used to pass NaN through, or fail inside Keras)."""
    model = make()
    width = model.latent_dim
    bad = x[:4].copy()
    bad[2, 3, 3, 0] = np.nan
    for call in (model.latent_codes, model.reconstruct,
                 lambda images: keras_gen.latent.encode(model, images)):
        with pytest.raises(ValueError, match=r"x is empty"):
            call(x[:0])
        with pytest.raises(ValueError, match=r"non-finite|NaN"):
            call(bad)
        with pytest.raises((TypeError, ValueError), match=r"uint8"):
            call((x[:4] * 255).astype("uint8"))
    for call in (model.decode, lambda z: keras_gen.latent.decode(model, z)):
        with pytest.raises(ValueError, match=rf"z must be latent codes of shape \(n, {width}\) with n >= 1 "
                                             rf".*Received: z.shape=\(2, {width + 1}\)"):
            call(np.zeros((2, width + 1), "float32"))
        with pytest.raises(ValueError, match=r"z.shape=\(0, "):
            call(np.zeros((0, width), "float32"))
        codes = np.zeros((3, width), "float32")
        codes[1, 0] = np.inf
        with pytest.raises(ValueError, match=r"z must be finite; 1 of its 3 rows hold NaN or Inf \(the first is row 1\)"):
            call(codes)
    assert model.decode(np.zeros((2, width), "float32")).shape == (2,) + x.shape[1:]  # still usable
    # encoding needs no range (a denoising model's noisy inputs lie outside it); backend tensors decode
    assert model.latent_codes(x[:4] * 1.5 - 0.2).shape == (4, width)
    assert model.reconstruct(x[:4] * 1.5 - 0.2).shape == x[:4].shape
    assert model.decode(keras.ops.zeros((2, width))).shape == (2,) + x.shape[1:]


def test_latent_dim_of_an_unbuilt_subclassed_decoder_says_to_build_on_every_backend(x):
    # PyTorch said "'AutoEncoder' object has no attribute 'latent_dim'"
    encoder = keras.Sequential([keras.layers.Flatten(), keras.layers.Dense(3)])
    decoder = keras.Sequential([keras.layers.Dense(64, activation="sigmoid"), keras.layers.Reshape((8, 8, 1))])
    ae = keras_gen.AutoEncoder(encoder, decoder)  # networks without an Input: shapes unknown
    with pytest.raises(ValueError, match="latent_dim is unknown until the model is built"):
        ae.latent_dim
    ae.compile(optimizer="adam")
    ae.fit(x, batch_size=16, epochs=1, verbose=0)
    assert ae.latent_dim == 3


@pytest.mark.parametrize("value", [-1, 0, 2.5, "8", True])
def test_a_bad_inference_batch_size_is_named(value, x):
    # Each trainer failed its own way inside (a negative shape, an unbound
    # local, a float slice index); 0 was taken silently.
    vae, gan = make_vae(), make_gan()
    codes = np.zeros((3, 2), "float32")
    calls = [lambda: vae.encode(x[:3], batch_size=value),
             lambda: vae.reconstruct(x[:3], batch_size=value),
             lambda: vae.sample(3, batch_size=value),
             lambda: keras_gen.latent.decode(vae, codes, batch_size=value),
             lambda: gan.sample(3, batch_size=value),
             lambda: vae.predict(x[:3], batch_size=value, verbose=0),
             lambda: vae.predict(x[:3], value, verbose=0)]
    for call in calls:
        with pytest.raises((TypeError, ValueError), match=re.escape(
                f"batch_size must be a positive integer or None. Received: batch_size={value!r}")):
            call()


def test_predict_checks_what_call_takes(x):
    # predict ran the networks on anything: NaN images came back as NaN
    # images, and a GAN given images failed inside its generator.
    vae, gan = make_vae(), make_gan()
    with pytest.raises(ValueError, match=r"x must not contain NaN or infinite values. Received: x with 8 NaN"):
        vae.predict(np.where(np.arange(x[:2].size).reshape(x[:2].shape) % 16 == 0, np.nan, x[:2]),
                    verbose=0)
    with pytest.raises(ValueError, match=r"x must be latent codes of shape \(n, 3\).*Received: x.shape=\(4, 4, 4, 1\)"):
        gan.predict(x[:4, :4, :4], verbose=0)
    with pytest.raises(ValueError, match=r"x must have rank 4.*Received: x.shape=\(4, 2\)"):
        vae.predict(np.zeros((4, 2), "float32"), verbose=0)
    # the networks' own predict, not the model's
    np.testing.assert_allclose(vae.predict(x[:4], verbose=0), vae.decode(vae.latent_codes(x[:4])), atol=1e-6)
    assert gan.predict(np.zeros((4, 3), "float32"), verbose=0).shape == (4, 4, 4, 1)


def test_missing_data_is_named():
    # Keras' trainers failed with "KeyError: 'pop from an empty set'".
    vae, gan = make_vae(), make_gan()
    for call in (lambda: vae.fit(None, verbose=0), lambda: vae.fit(verbose=0),
                 lambda: gan.fit(epochs=1, verbose=0), lambda: vae.evaluate(verbose=0)):
        with pytest.raises(ValueError, match=r"x is required: images as an array or tensor, .*Received: x=None"):
            call()
    with pytest.raises(ValueError, match=r"x is required: images to reconstruct. Received: x=None"):
        vae.predict()
    with pytest.raises(ValueError, match=r"x is required: latent codes \(n, latent_dim\). Received: x=None"):
        gan.predict(None)


@pytest.mark.parametrize("dtype", ["<U1", object])
def test_images_that_are_not_numbers_are_named_without_pixel_advice(dtype):
    # Text was told "keras-gen does not rescale integer pixels silently".
    with pytest.raises(TypeError, match=r"x must hold floating-point images in the model's range "
                       r"\(0.0, 1.0\). Received: x with dtype=(<U1|object), which is not a number type$"):
        make_vae().fit(np.full((4, 8, 8, 1), "a", dtype=dtype), verbose=0)


class PoolingEncoder(keras.Model):
    """A convolutional subclassed encoder with global pooling: codes of any image size."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.conv = keras.layers.Conv2D(4, 3, padding="same")
        self.pool, self.dense = keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(2)

    def call(self, x):
        return self.dense(self.pool(self.conv(x)))


def test_a_subclassed_encoder_that_runs_on_other_sizes_is_not_refused_them(x):
    # The built shape is what the checks expect of a subclassed encoder, but
    # one that runs on other sizes encodes them.
    ae = keras_gen.AutoEncoder(PoolingEncoder(), helpers.SubclassedDecoder())
    ae.compile(optimizer="adam")
    ae.fit(x, batch_size=8, epochs=1, verbose=0)
    big = np.tile(x[:2], (1, 2, 2, 1))
    assert ae.encode(big).shape == (2, 2)
    with pytest.raises(ValueError, match=r"x must hold images of shape \(8, 8, 1\)"):
        ae.encode(np.repeat(x[:2], 3, axis=-1))  # 3 channels: the convolution's error, named


def test_predict_takes_bfloat16_codes_and_a_subclass_without_latent_dim():
    gan = make_gan()
    z = keras.ops.convert_to_numpy(keras.ops.zeros((2, 3), dtype="bfloat16"))
    assert gan.predict(z, verbose=0).shape == (2, 4, 4, 1)

    class Mine(keras_gen.GenerativeModel):  # a user's model: no encoder, no latent_dim
        def __init__(self):
            super().__init__()
            self.dense = keras.layers.Dense(2)

        def call(self, inputs):
            return self.dense(inputs)

    assert Mine().predict(np.zeros((4, 5), "float32"), verbose=0).shape == (4, 2)
