"""keras_gen.latent: interpolation, altering, clustering, probe, compression."""

import re

import keras
import numpy as np
import pytest

import keras_gen
from keras_gen import latent
from keras_gen import losses
from tests import helpers


def _two_groups(n=24, seed=0):
    """Dark and bright 8x8 images (labels 0 / 1) with a little noise."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 2
    base = np.where(labels[:, None, None, None] == 1, 0.85, 0.1)
    x = base + 0.03 * rng.standard_normal((n, 8, 8, 1))
    return np.clip(x, 0, 1).astype("float32"), labels


@pytest.fixture(scope="module")
def models():
    keras.utils.set_random_seed(1)
    ae = keras_gen.AutoEncoder(helpers.tiny_encoder(latent_dim=3), helpers.tiny_decoder(3))
    vae = keras_gen.VAE(
        helpers.tiny_encoder(latent_dim=3, variational=True), helpers.tiny_decoder(3), seed=0
    )
    g = keras.Sequential([keras.Input((3,)), keras.layers.Dense(64, activation="tanh"),
                          keras.layers.Reshape((8, 8, 1))])
    d = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(), keras.layers.Dense(1)])
    gan = keras_gen.GAN(g, d, latent_dim=3, seed=0)
    return {"ae": ae, "vae": vae, "gan": gan}


# ------------------------------------------------------------------ slerp
def test_slerp_keeps_equal_norms_and_hits_both_ends():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal(5), rng.standard_normal(5)
    b *= np.linalg.norm(a) / np.linalg.norm(b)
    path = latent.slerp(a, b, np.linspace(0, 1, 9))
    np.testing.assert_allclose(np.linalg.norm(path, axis=-1), np.linalg.norm(a), rtol=1e-10)
    np.testing.assert_allclose(path[0], a, atol=1e-12)
    np.testing.assert_allclose(path[-1], b, atol=1e-12)
    # Constant angular speed: equal angles between consecutive points.
    unit = path / np.linalg.norm(path, axis=-1, keepdims=True)
    angles = np.arccos(np.clip(np.sum(unit[1:] * unit[:-1], axis=-1), -1, 1))
    np.testing.assert_allclose(angles, angles[0], rtol=1e-6)


def test_slerp_hand_computed_midpoint_and_unequal_norms():
    # Orthogonal a = (2, 0), b = (0, 2): the midpoint is 2 * (1, 1) / sqrt(2).
    mid = latent.slerp([2.0, 0.0], [0.0, 2.0], [0.5])[0]
    np.testing.assert_allclose(mid, [np.sqrt(2), np.sqrt(2)], rtol=1e-12)
    # Unequal norms 1 and 3: the norm moves linearly, 1 -> 2 -> 3.
    path = latent.slerp([1.0, 0.0], [0.0, 3.0], [0.0, 0.5, 1.0])
    np.testing.assert_allclose(np.linalg.norm(path, axis=-1), [1.0, 2.0, 3.0], rtol=1e-12)
    # Parallel vectors fall back to the straight line (no division by sin 0).
    np.testing.assert_allclose(latent.slerp([1.0, 1.0], [2.0, 2.0], [0.5])[0], [1.5, 1.5])


def test_linear_path_is_the_source_notes_line():
    path = latent.interpolate_codes(np.array([0.0, 2.0]), np.array([4.0, 2.0]), steps=5)
    np.testing.assert_allclose(path, [[0, 2], [1, 2], [2, 2], [3, 2], [4, 2]])


@pytest.mark.parametrize("kind", ["ae", "vae"])
def test_interpolate_images_decodes_the_path_between_codes(models, kind):
    model = models[kind]
    x, _ = _two_groups(4)
    z = latent.encode(model, x)
    if kind == "vae":
        np.testing.assert_allclose(z, model.encode(x)[0])
    codes = latent.interpolate(model, x[0], x[1], steps=5, return_codes=True)
    assert codes.shape == (5, 3)
    np.testing.assert_allclose(codes[[0, -1]], z[[0, 1]], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(codes[2], (z[0] + z[1]) / 2, rtol=1e-5, atol=1e-6)
    strip = latent.interpolate(model, x[:2], x[2:], steps=4, method="slerp")
    assert strip.shape == (2, 4, 8, 8, 1)
    np.testing.assert_allclose(strip[:, 0], model.decode(z[:2]), rtol=1e-4, atol=1e-5)


def test_interpolate_gan_takes_latent_codes(models):
    gan = models["gan"]
    za, zb = np.full(3, 1.5, "float32"), np.array([-1.0, 0.5, 2.0], "float32")
    strip = latent.interpolate(gan, za, zb, steps=3)
    assert strip.shape == (3, 8, 8, 1)
    expected = gan.generator.predict(np.stack([za, (za + zb) / 2, zb]), verbose=0)
    np.testing.assert_allclose(strip, expected, rtol=1e-5, atol=1e-6)


def test_interpolate_rejects_bad_arguments(models):
    x, _ = _two_groups(2)
    with pytest.raises(ValueError, match="method must be one of"):
        latent.interpolate(models["ae"], x[0], x[1], method="cubic")
    with pytest.raises(ValueError, match="steps must be an integer >= 2. Received: steps=1"):
        latent.interpolate(models["ae"], x[0], x[1], steps=1)
    with pytest.raises(TypeError, match="A GAN has no encoder"):
        latent.encode(models["gan"], x)
    with pytest.raises(TypeError, match="model must be a keras_gen.AutoEncoder, VAE or GAN"):
        latent.encode(object(), x)


# --------------------------------------------------------------- altering
@pytest.mark.parametrize("kind", ["ae", "vae"])
def test_alter_alpha_zero_is_identity_and_one_lands_on_target_mean(models, kind):
    model = models[kind]
    x, labels = _two_groups(12)
    dark, bright = x[labels == 0], x[labels == 1]
    z_dark = latent.encode(model, dark)
    z_t = latent.mean_code(model, bright)
    np.testing.assert_allclose(z_t, latent.encode(model, bright).mean(axis=0), rtol=1e-6)
    codes = latent.alter(model, dark, bright, alpha=[0.0, 0.5, 1.0], return_codes=True)
    assert codes.shape == (len(dark), 3, 3)
    np.testing.assert_allclose(codes[:, 0], z_dark, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(codes[:, 1], (z_dark + z_t) / 2, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(codes[:, 2], np.broadcast_to(z_t, z_dark.shape), rtol=1e-5, atol=1e-6)
    # Decoded: alpha = 0 is the reconstruction, alpha = 1 the decoded target mean.
    images = latent.alter(model, dark, z_t, alpha=[0.0, 1.0])
    np.testing.assert_allclose(images[:, 0], model.decode(z_dark), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(images[:, 1], np.broadcast_to(model.decode(z_t[None]), images[:, 1].shape),
                               rtol=1e-4, atol=1e-5)


def test_alter_names_a_target_that_is_neither_a_code_nor_a_batch_of_images(models):
    # Such a target used to reach the encoder, whose error named x (the user's good images).
    model = models["ae"]
    x, _ = _two_groups(4)
    d = latent.latent_dim(model)
    for bad in (np.zeros(d + 1), x[0], x[:, :4], x[:0]):
        with pytest.raises(ValueError, match=re.escape(
                f"target must be a code of shape ({d},) or a non-empty batch of images "
                f"(n, {', '.join(map(str, x.shape[1:]))})") + r".*Received: target.shape="
                + re.escape(str(np.shape(bad)))):
            latent.alter(model, x, bad)


@pytest.mark.parametrize("kind", ["ae", "vae"])
def test_alter_residual_gives_x_at_alpha_zero_and_adds_the_residual(models, kind):
    model = models[kind]
    x, labels = _two_groups(12)
    dark, bright = x[labels == 0], x[labels == 1]
    z_t = latent.mean_code(model, bright)
    out = latent.alter(model, dark, z_t, alpha=[0.0, 1.0], residual=True)
    assert out.shape == (len(dark), 2) + dark.shape[1:]
    # alpha = 0 decodes the image's own code: the residual makes it the image.
    np.testing.assert_allclose(out[:, 0], dark, atol=1e-5)
    # alpha = 1: the decoded target plus the image's own residual, computed here.
    reconstruction = model.decode(latent.encode(model, dark))
    target_image = model.decode(z_t[None])[0]
    for i in range(len(dark)):  # clipped to the range of this image's three arrays
        low = min(dark[i].min(), reconstruction[i].min(), target_image.min())
        high = max(dark[i].max(), reconstruction[i].max(), target_image.max())
        expected = np.clip(target_image + (dark[i] - reconstruction[i]), low, high)
        np.testing.assert_allclose(out[i, 1], expected, atol=1e-5)
    # One image in, one out.
    one = latent.alter(model, dark[0], z_t, alpha=1.0, residual=True)
    np.testing.assert_allclose(one, out[0, 1], atol=1e-5)
    with pytest.raises(ValueError, match="residual=True .* x must be images"):
        latent.alter(model, latent.encode(model, dark), z_t, residual=True)
    with pytest.raises(ValueError, match="Received: return_codes=True"):
        latent.alter(model, dark, z_t, residual=True, return_codes=True)


def test_add_residual_clips_to_the_range_and_checks_shapes():
    x = np.array([[0.0, 0.5, 1.0], [0.4, 0.5, 0.6]], "float32")
    reconstruction = np.array([[0.2, 0.5, 0.8], [0.4, 0.5, 0.6]], "float32")
    decoded = np.array([[[0.1, 0.9, 0.9], [0.2, 0.5, 0.8]],
                        [[0.3, 0.3, 0.3], [0.5, 0.5, 0.5]]], "float32")  # two per item
    out = latent.add_residual(decoded, x, reconstruction)
    # Item 0: residual (-0.2, 0, 0.2), range [0, 1]: 0.1 - 0.2 -> 0.0, 0.9 + 0.2 -> 1.0.
    # Item 1: no residual; its own range is [0.3, 0.6], the decodes are inside it.
    np.testing.assert_allclose(out, [[[0.0, 0.9, 1.0], [0.0, 0.5, 1.0]],
                                     [[0.3, 0.3, 0.3], [0.5, 0.5, 0.5]]], atol=1e-6)
    # Each result depends only on its own item: the same alone as in the batch.
    np.testing.assert_allclose(latent.add_residual(decoded[:1, 0], x[:1], reconstruction[:1]),
                               out[:1, 0], atol=1e-6)
    with pytest.raises(ValueError, match=r"x and reconstruction must have the same shape"):
        latent.add_residual(decoded, x, reconstruction[:, :2])
    with pytest.raises(ValueError, match=r"decoded must have shape \(2, 3\)"):
        latent.add_residual(decoded[..., :2], x, reconstruction)


def _scene(coverage, colour, background):
    """Images (n, h, w, 3): `colour` over `background` by per-pixel coverage in [0, 1]."""
    a = coverage[..., None]
    return (a * np.asarray(colour)[:, None, None, :]
            + (1 - a) * np.asarray(background)[:, None, None, :]).astype("float32")


def test_add_residual_transport_recolours_the_restored_edges():
    rng = np.random.default_rng(0)
    n, size = 5, 12
    yy, xx = np.mgrid[0:size, 0:size]
    radius = rng.uniform(3, 5, n)[:, None, None]
    distance = np.hypot(yy - 5.5, xx - 5.5)[None] - radius
    sharp = np.clip(0.5 - distance, 0, 1)            # the image's crisp edge
    blurred = np.clip(0.5 - distance / 3.0, 0, 1)    # what the model reconstructs
    background = rng.uniform(0.0, 0.3, (n, 3))
    old, new = rng.uniform(0.5, 1.0, (n, 3)), rng.uniform(0.4, 1.0, (n, 3))
    x = _scene(sharp, old, background)
    reconstruction = _scene(blurred, old, background)
    decoded = _scene(blurred, new, background)       # the edit: the object recoloured
    expected = _scene(sharp, new, background)        # a perfect recolouring of x
    plain = latent.add_residual(decoded, x, reconstruction)
    moved = latent.add_residual(decoded, x, reconstruction, transport=True, ridge=1e-9)
    np.testing.assert_allclose(moved, expected, atol=1e-3)
    # The plain residual restores the edge in the old colour: a fringe.
    assert np.abs(plain - expected).max() > 0.05
    # alpha = 0 (the decode is the reconstruction) gives x; an edit that changes
    # no colour gives the plain sum; k decodes per item, each as if alone.
    np.testing.assert_allclose(
        latent.add_residual(reconstruction, x, reconstruction, transport=True), x, atol=1e-5)
    darker = _scene(blurred * 0.0, old, background)  # the object gone: colours unchanged
    stacked = np.stack([decoded, reconstruction, darker], axis=1)
    both = latent.add_residual(stacked, x, reconstruction, transport=True, ridge=1e-9)
    np.testing.assert_allclose(both[:, 0], moved, atol=1e-5)
    np.testing.assert_allclose(both[:, 1], x, atol=1e-5)
    np.testing.assert_allclose(
        both[2:, 2], latent.add_residual(darker[2:], x[2:], reconstruction[2:], transport=True,
                                         ridge=1e-9), atol=1e-5)
    # One channel works too (the map is a gain).
    grey = latent.add_residual(decoded[..., :1], x[..., :1], reconstruction[..., :1],
                               transport=True, ridge=1e-9)
    np.testing.assert_allclose(grey, expected[..., :1], atol=1e-3)


def test_add_residual_transport_errors():
    x = np.zeros((2, 3), "float32")
    with pytest.raises(ValueError, match=r"transport=True needs images with the channels last.*"
                                         r"Received: x.shape=\(2, 3\)"):
        latent.add_residual(x, x, x, transport=True)
    images = np.zeros((2, 4, 4, 3), "float32")
    with pytest.raises(ValueError, match="ridge"):
        latent.add_residual(images, images, images, transport=True, ridge=0.0)
    with pytest.raises(ValueError, match="transport"):
        latent.add_residual(images, images, images, transport="yes")


@pytest.mark.parametrize("kind", ["ae", "vae"])
def test_alter_transport(models, kind):
    model = models[kind]
    x, labels = _two_groups(12)
    dark, bright = x[labels == 0], x[labels == 1]
    z_t = latent.mean_code(model, bright)
    out = latent.alter(model, dark, z_t, alpha=[0.0, 1.0], residual=True, transport=True)
    np.testing.assert_allclose(out[:, 0], dark, atol=1e-5)
    reconstruction = model.decode(latent.encode(model, dark))
    decodes = np.broadcast_to(model.decode(z_t[None])[0], dark.shape)
    np.testing.assert_allclose(
        out[:, 1], latent.add_residual(decodes, dark, reconstruction, transport=True), atol=1e-5)
    with pytest.raises(ValueError, match="transport=True .* needs residual=True. Received: "
                                         "transport=True, residual=False"):
        latent.alter(model, dark, z_t, transport=True)


def test_attribute_vector_and_vector_mode(models):
    ae = models["ae"]
    x, labels = _two_groups(12)
    v = latent.attribute_vector(ae, x[labels == 1], x[labels == 0])
    z = latent.encode(ae, x)
    np.testing.assert_allclose(v, z[labels == 1].mean(0) - z[labels == 0].mean(0), rtol=1e-5, atol=1e-6)
    moved = latent.alter(ae, x[:2], v, alpha=2.0, mode="vector", return_codes=True)
    np.testing.assert_allclose(moved, z[:2] + 2.0 * v, rtol=1e-5, atol=1e-6)
    one = latent.alter(ae, z[0], v, alpha=0.0, mode="vector", return_codes=True)
    np.testing.assert_allclose(one, z[0], rtol=1e-6)
    with pytest.raises(ValueError, match="target must be a latent vector of shape"):
        latent.alter(ae, x[:2], x[:3], mode="vector")


def test_alter_gan_codes(models):
    z = np.zeros((2, 3), "float32")
    target = np.array([1.0, 2.0, 3.0], "float32")
    np.testing.assert_allclose(
        latent.alter(models["gan"], z, target, alpha=0.25, return_codes=True),
        np.tile(target * 0.25, (2, 1)), rtol=1e-6)


def _random_labelled_codes(m=60, d=4, seed=0):
    """Codes with a one-hot group of 3 classes (columns 0-2) and a binary column 3."""
    rng = np.random.default_rng(seed)
    codes = rng.standard_normal((m, d))
    klass = np.arange(m) % 3
    labels = np.zeros((m, 4))
    labels[np.arange(m), klass] = 1
    labels[:, 3] = rng.random(m) < 0.4
    return codes, labels


def test_attribute_vectors_one_hot_group_against_numpy():
    codes, labels = _random_labelled_codes()
    source = labels[[0, 1, 2, 5, 7]]  # classes 0, 1, 2, 2, 1
    v = latent.attribute_vectors(codes, labels, target=1, group=[0, 1, 2], source_labels=source)
    assert v.shape == (5, 4) and v.dtype == np.float32
    # Independently: class means by explicit sums over each class's rows.
    means = [sum(codes[i] for i in range(len(codes)) if labels[i, c] == 1)
             / sum(labels[:, c]) for c in range(3)]
    expected = np.stack([means[1] - means[c] for c in (0, 1, 2, 2, 1)])
    np.testing.assert_allclose(v, expected, rtol=1e-5, atol=1e-6)
    assert np.all(v[[1, 4]] == 0)  # already the target colour: no move
    # z = z1 + alpha (z_t,avg - z_s,avg): alpha = 1 moves each code by its class step.
    z1 = codes[:5]
    moved = latent.alter_codes(z1, v, [0.0, 0.5, 1.0], mode="vector")
    np.testing.assert_allclose(moved[:, 1], z1 + 0.5 * expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(moved[:, 2], z1 + expected, rtol=1e-5, atol=1e-6)


def test_attribute_vectors_binary_is_mean_with_minus_mean_without():
    codes, labels = _random_labelled_codes(seed=1)
    has = labels[:, 3] == 1
    expected = codes[has].mean(0) - codes[~has].mean(0)
    v = latent.attribute_vectors(codes, labels, target=3)  # source: the labelled examples
    np.testing.assert_allclose(v[~has], np.broadcast_to(expected, v[~has].shape), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(v[has], 0.0, atol=1e-12)
    np.testing.assert_allclose(latent.attribute_vectors(codes, labels, target=3, group=(3,)), v)


def test_attribute_vectors_reject_bad_arguments():
    codes, labels = _random_labelled_codes()
    with pytest.raises(ValueError, match="group must contain target=1"):
        latent.attribute_vectors(codes, labels, target=1, group=(0, 2))
    with pytest.raises(ValueError, match="target must be an integer >= 0 and <= 3"):
        latent.attribute_vectors(codes, labels, target=4)
    with pytest.raises(ValueError, match="codes and labels must have shapes"):
        latent.attribute_vectors(codes[:5], labels, target=1)
    no_blue = labels[labels[:, 2] == 0]
    with pytest.raises(ValueError, match="no example of class column 2"):
        latent.attribute_vectors(codes[labels[:, 2] == 0], no_blue, target=2, group=(0, 1, 2))
    with pytest.raises(ValueError, match="target must have shape"):
        latent.alter_codes(codes[:3], codes[:2], 1.0)
    # NaN codes gave NaN vectors; group=(0.7, 1) was read as (0, 1)
    bad = codes.copy()
    bad[3, 0] = np.nan
    with pytest.raises(ValueError, match="codes must be finite. Received: codes with 1 NaN"):
        latent.attribute_vectors(bad, labels, target=1)
    with pytest.raises(TypeError, match=r"group must be an integer >= 0. Received: group=0.7"):
        latent.attribute_vectors(codes, labels, target=1, group=(0.7, 1))
    # a repeated column counted its examples twice in the argmax of the one-hot group
    with pytest.raises(ValueError, match=r"group must name each column once. Received: group=\(0, 1, 1\)"):
        latent.attribute_vectors(codes, labels, target=1, group=(0, 1, 1))
    # NaN codes or targets came back as NaN altered codes
    with pytest.raises(ValueError, match="z must be finite. Received: z with 1 NaN"):
        latent.alter_codes(bad[:4], codes[0], 1.0)
    with pytest.raises(ValueError, match="target must be finite. Received: target with 1 NaN"):
        latent.alter_codes(codes[:4], bad[3], 1.0, mode="vector")


def test_alter_vector_mode_takes_one_vector_per_item(models):
    ae = models["ae"]
    x, _ = _two_groups(6)
    z = latent.encode(ae, x[:3])
    v = np.arange(9, dtype="float32").reshape(3, 3)
    np.testing.assert_allclose(
        latent.alter(ae, x[:3], v, alpha=0.5, mode="vector", return_codes=True), z + 0.5 * v,
        rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match=r"or \(3, 3\), one per item"):
        latent.alter(ae, x[:3], v[:2], mode="vector")


# ---------------------------------------------------- clusters and probes
def test_purity_hand_computed():
    # Cluster 0 holds labels {0, 0, 1} (majority 2), cluster 1 {1, 1} (2): 4/5.
    assert latent.purity_score([0, 0, 1, 1, 1], [0, 0, 0, 1, 1]) == pytest.approx(0.8)


@pytest.mark.parametrize("kind", ["ae", "vae"])
def test_cluster_and_probe_separate_two_obvious_groups(models, kind):
    x, labels = _two_groups(40)
    result = latent.cluster(models[kind], x, k=2, labels=labels)
    assert result.assignments.shape == (40,) and result.centers.shape == (2, 3)
    assert result.purity == pytest.approx(1.0) and result.nmi == pytest.approx(1.0)
    assert latent.cluster(models[kind], x, k=2).nmi is None
    accuracy = latent.linear_probe(models[kind], x[:20], labels[:20], x[20:], labels[20:])
    assert accuracy == pytest.approx(1.0)
    with pytest.raises(ValueError, match="k must be an integer >= 2. Received: k=1"):
        latent.cluster(models[kind], x, k=1)


# ------------------------------------------------------------ compression
def test_compress_ratio_and_round_trip(models):
    ae = models["ae"]
    x, _ = _two_groups(6)
    packed = latent.compress(ae, x)
    assert packed.ratio == pytest.approx(64 * 4 / (3 * 4))
    assert packed.input_shape == (8, 8, 1) and packed.codes.dtype == np.float32
    np.testing.assert_allclose(latent.decompress(ae, packed), ae.reconstruct(x), rtol=1e-4, atol=1e-5)
    half = latent.compress(ae, x, code_dtype="float16")
    assert half.ratio == pytest.approx(2 * packed.ratio) and half.codes.dtype == np.float16
    recon = latent.decompress(ae, half)
    mse = np.mean(keras.ops.convert_to_numpy(losses.mean_squared_error(x, recon)))
    assert mse < 0.5


def test_docstring_examples():
    import doctest

    result = doctest.testmod(latent, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


# ------------------------------------------------------------- refinement
def _bn_decoder(latent_dim=2):
    inputs = keras.Input((latent_dim,))
    h = keras.layers.Dense(32)(inputs)
    h = keras.layers.BatchNormalization()(h)
    h = keras.layers.Activation("relu")(h)
    h = keras.layers.Dense(64, activation="sigmoid")(h)
    return keras.Model(inputs, keras.layers.Reshape((8, 8, 1))(h), name="bn_decoder")


@pytest.fixture(scope="module")
def trained_ae():
    """A 2-d AE trained briefly on smooth random 8x8 images, BatchNorm in the decoder."""
    keras.utils.set_random_seed(3)
    rng = np.random.default_rng(3)
    w = rng.standard_normal((4, 64))
    x = 1 / (1 + np.exp(-(rng.standard_normal((96, 4)) @ w)))
    x = x.reshape(-1, 8, 8, 1).astype("float32")
    ae = keras_gen.AutoEncoder(helpers.tiny_encoder(latent_dim=2), _bn_decoder(2))
    ae.compile(optimizer=keras.optimizers.Adam(3e-3))
    ae.fit(x[:64], epochs=30, batch_size=16, verbose=0)
    return ae, x[:64], x[64:]


def _per_image_mse(model, codes, x):
    return np.mean(np.square(model.decode(codes) - x), axis=(1, 2, 3))


def test_refine_codes_lowers_every_reconstruction_and_leaves_the_model_alone(trained_ae):
    ae, _, x_test = trained_ae
    weights = [np.array(v) for v in ae.weights]
    start = latent.encode(ae, x_test)
    refined = latent.refine_codes(ae, x_test, steps=60)
    assert refined.shape == start.shape and refined.dtype == np.float32
    before, after = _per_image_mse(ae, start, x_test), _per_image_mse(ae, refined, x_test)
    assert np.all(after <= before + 1e-6)
    assert after.mean() < 0.9 * before.mean()
    # Neither network changed, BatchNorm statistics included, and the model
    # still trains its own weights afterwards.
    for old, new in zip(weights, ae.weights):
        np.testing.assert_array_equal(old, np.array(new))
    # The model still trains its own weights afterwards (nothing left frozen).
    decoder_before = [np.array(v) for v in ae.decoder.trainable_weights]
    ae.fit(x_test, epochs=1, batch_size=len(x_test), verbose=0)
    assert all(not np.array_equal(b, np.array(a))
               for b, a in zip(decoder_before, ae.decoder.trainable_weights))


def test_refine_codes_steps_zero_start_codes_and_chunks(trained_ae):
    ae, _, x_test = trained_ae
    start = latent.encode(ae, x_test)
    np.testing.assert_array_equal(latent.refine_codes(ae, x_test, steps=0), start)
    # Given start codes are used: from 0 the codes end elsewhere.
    from_zero = latent.refine_codes(ae, x_test, codes=np.zeros_like(start) + 0.1, steps=5)
    assert not np.allclose(from_zero, latent.refine_codes(ae, x_test, steps=5))
    # Chunks are independent: Adam's step does not depend on the batch size.
    whole = latent.refine_codes(ae, x_test, steps=10)
    chunked = latent.refine_codes(ae, x_test, steps=10, batch_size=7)
    np.testing.assert_allclose(chunked, whole, atol=1e-4)


def test_refine_codes_for_a_vae_lowers_its_reconstruction_loss():
    keras.utils.set_random_seed(4)
    x, _ = _two_groups(32)
    vae = keras_gen.VAE(helpers.tiny_encoder(latent_dim=2, variational=True),
                        helpers.tiny_decoder(2), reconstruction="bce", seed=0)
    vae.compile(optimizer=keras.optimizers.Adam(3e-3))
    vae.fit(x, epochs=5, batch_size=16, verbose=0)
    start = latent.encode(vae, x)
    refined = latent.refine_codes(vae, x, steps=40)

    def bce(codes):
        return float(np.mean(keras.ops.convert_to_numpy(
            losses.binary_crossentropy(x, vae.decode(codes)))))

    assert bce(refined) < bce(start)


def test_compress_with_refined_codes_reconstructs_closer(trained_ae):
    ae, _, x_test = trained_ae
    plain = latent.compress(ae, x_test)
    refined = latent.compress(ae, x_test, refine_steps=40)
    assert refined.ratio == plain.ratio and refined.codes.shape == plain.codes.shape
    mse = [np.mean(np.square(latent.decompress(ae, c) - x_test)) for c in (plain, refined)]
    assert mse[1] < mse[0]


@pytest.mark.parametrize("kwargs, message", [
    (dict(steps=-1), "steps must be an integer >= 0. Received: steps=-1"),
    (dict(steps=2.5), "steps must be an integer >= 0. Received: steps=2.5"),
    (dict(steps=True), "steps must be an integer >= 0. Received: steps=True"),
    (dict(learning_rate=0.0), "learning_rate must be a finite number > 0. Received: learning_rate=0.0"),
    (dict(learning_rate=float("nan")), "learning_rate must be a finite number > 0. Received: learning_rate=nan"),
    (dict(batch_size=0), "batch_size must be a positive integer. Received: batch_size=0"),
    (dict(codes=np.zeros((5, 3), "float32")), r"codes must have shape \(n, latent_dim\) = \(4, 2\) "
                                               r"for 4 images. Received: codes.shape=\(5, 3\)"),
])
def test_refine_codes_rejects_bad_arguments(trained_ae, kwargs, message):
    ae, _, x_test = trained_ae
    with pytest.raises(ValueError, match=message):
        latent.refine_codes(ae, x_test[:4], **kwargs)


def test_refine_codes_checks_images_and_codes(trained_ae):
    ae, _, x_test = trained_ae
    with pytest.raises(ValueError, match=r"x must be a batch of images of shape \(None, 8, 8, 1\). "
                                         r"Received: x.shape=\(4, 7, 8, 1\)"):
        latent.refine_codes(ae, np.zeros((4, 7, 8, 1), "float32"))
    bad = latent.encode(ae, x_test[:4])
    bad[1, 0] = np.nan
    with pytest.raises(ValueError, match="codes must be finite. Received: codes with 1 NaN"):
        latent.refine_codes(ae, x_test[:4], codes=bad)
    empty = latent.refine_codes(ae, x_test[:0])
    assert empty.shape == (0, 2) and empty.dtype == np.float32


def test_refine_codes_applies_the_models_data_checks():
    vae = keras_gen.VAE(helpers.tiny_encoder(latent_dim=2, variational=True),
                        helpers.tiny_decoder(2), reconstruction="bce", seed=0)
    with pytest.raises(ValueError, match=r"x must lie in \(0.0, 1.0\) for this model"):
        latent.refine_codes(vae, np.full((3, 8, 8, 1), 2.0, "float32"))


def test_refine_codes_and_compress_refuse_what_they_cannot_do(models, trained_ae):
    with pytest.raises(TypeError, match="A GAN has no encoder"):
        latent.refine_codes(models["gan"], np.zeros((2, 8, 8, 1), "float32"))
    with pytest.raises(ValueError, match="refine_steps must be an integer >= 0. Received: refine_steps=-2"):
        latent.compress(trained_ae[0], trained_ae[2], refine_steps=-2)


def test_numpy_scalars_are_accepted(models):
    ae, gan = models["ae"], models["gan"]
    x, labels = _two_groups(8)
    path = latent.interpolate_codes(np.zeros(2), np.ones(2), steps=np.int64(3))
    np.testing.assert_allclose(path, [[0, 0], [0.5, 0.5], [1, 1]])
    assert latent.interpolate(gan, np.zeros(3), np.ones(3), steps=np.int32(4)).shape == (4, 8, 8, 1)
    result = latent.cluster(ae, x, k=np.int64(2), labels=labels, seed=np.int64(0))
    assert result.centers.shape == (2, 3)
    codes = latent.refine_codes(ae, x, steps=np.int64(2), learning_rate=np.float32(0.05),
                                batch_size=np.int64(4))
    assert codes.shape == (8, 3) and codes.dtype == np.float32
    assert latent.compress(ae, x, refine_steps=np.int64(1)).codes.shape == (8, 3)


def test_cluster_probe_and_compress_arguments_are_named(images):
    """They went straight to scikit-learn / NumPy (or truncated codes to integers)."""
    ae = keras_gen.AutoEncoder(helpers.tiny_encoder(), helpers.tiny_decoder())
    x = images[:12]
    y = np.arange(12) % 3
    with pytest.raises(ValueError, match=r"k must be at most the number of examples, 12. Received: k=13"):
        latent.cluster(ae, x, 13)
    with pytest.raises(ValueError, match=r"labels must hold one class label per example, shape \(12,\) .*"
                                         r"Received: labels of shape \(12, 3\)"):
        latent.cluster(ae, x, 2, labels=np.eye(3)[y])
    with pytest.raises(ValueError, match=r"labels must hold one class label per example.*shape \(11,\)"):
        latent.cluster(ae, x, 2, labels=y[:11])
    with pytest.raises(ValueError, match=r"y_train must be class labels \(integers\)"):
        latent.linear_probe(ae, x, np.where(y == 0, np.nan, y), x, y)
    with pytest.raises(ValueError, match=r"y_train must hold at least 2 classes"):
        latent.linear_probe(ae, x, np.zeros(12, int), x, y)
    with pytest.raises(ValueError, match=r"y_test must hold one class label per example"):
        latent.linear_probe(ae, x, y, x, 3)
    # a test class the classifier never saw was scored as a miss (accuracy 0.0 for y_test of it alone)
    with pytest.raises(ValueError, match=r"y_test must hold only classes that y_train holds.*"
                                         r"Received: y_test classes \[2\] absent from y_train"):
        latent.linear_probe(ae, x[y < 2], y[y < 2], x, y)
    with pytest.raises(ValueError, match=r"code_dtype must be one of \['float32', 'float16', 'float64'\]. "
                                         r"Received: code_dtype='int8'"):
        latent.compress(ae, x, code_dtype="int8")
    assert latent.compress(ae, x, code_dtype=np.float16).codes.dtype == np.float16
    assert latent.cluster(ae, x, 3, labels=y[:, None]).purity > 0  # (n, 1) labels are fine
    assert 0 <= latent.linear_probe(ae, x, y.astype(float), x, y) <= 1


def test_one_fraction_and_bad_fractions():
    """slerp with a scalar t raised IndexError; alter_codes took alpha="1"."""
    a, b = np.array([3.0, 0.0]), np.array([0.0, 3.0])
    np.testing.assert_allclose(latent.slerp(a, b, 0.5), latent.slerp(a, b, [0.5]))
    np.testing.assert_allclose(np.linalg.norm(latent.slerp(a, b, 0.5)), 3.0)
    z = np.zeros((2, 2))
    for bad, error in (("1", TypeError), (["a"], TypeError), ([], ValueError), ([[1.0]], ValueError),
                       (np.nan, ValueError)):
        with pytest.raises(error, match=r"alpha must be a .*number"):
            latent.alter_codes(z, np.ones(2), bad)
    with pytest.raises(ValueError, match=r"t must be a finite number"):
        latent.slerp(a, b, [0.0, np.inf])


def test_one_image_to_a_model_with_a_subclassed_encoder_is_one_image(images):
    # The encoder declares no input shape: a (H, W, C) image was read as a batch of H.
    vae = keras_gen.VAE(helpers.SubclassedEncoder(), helpers.tiny_decoder(), seed=0)
    vae.compile(optimizer="adam")
    vae.fit(images[:16], batch_size=8, epochs=1, verbose=0)
    path = latent.interpolate(vae, images[0], images[1], steps=3)
    assert path.shape == (3, 8, 8, 1)
    batch = latent.interpolate(vae, images[:1], images[1:2], steps=3)
    np.testing.assert_allclose(path, batch[0], rtol=1e-5, atol=1e-6)
    altered = latent.alter(vae, images[0], np.zeros(2, "float32"), mode="vector")
    assert altered.shape == (8, 8, 1)


def test_integer_images_are_refused_by_every_tool_that_encodes_them():
    """interpolate, alter (x, target, the residual) and transfer_style cast uint8 to float32 and
    encoded 0..255 as pixels (codes ~250x too large) where encode refuses them."""
    keras.utils.set_random_seed(0)
    shape = (8, 8, 3)
    ae = keras_gen.AutoEncoder(helpers.tiny_encoder(shape, 4), helpers.tiny_decoder(4, shape))
    x = np.random.default_rng(0).random((6,) + shape).astype("float32")
    x8 = (x * 255).astype("uint8")
    message = r"{} must hold floating-point images .*does not rescale integer pixels"
    calls = {
        "a": lambda: latent.interpolate(ae, x8[0], x[1], steps=2),
        "b": lambda: latent.interpolate(ae, x[0], x8[1], steps=2),
        "x": lambda: latent.alter(ae, x8[:2], np.zeros(4), residual=True),
        "target": lambda: latent.alter(ae, x[:2], x8[2:]),
        "with_attribute": lambda: latent.attribute_vector(ae, x8[:3], x[3:]),
        "without_attribute": lambda: latent.attribute_vector(ae, x[:3], x8[3:]),
        "x_test": lambda: latent.linear_probe(ae, x, np.arange(6) % 2, x8, np.arange(6) % 2),
    }
    for name, call in calls.items():
        with pytest.raises(TypeError, match=message.format(name)):
            call()
    # float images of the same content go through, and match encode's codes
    path = latent.interpolate(ae, x[0], x[1], steps=2, return_codes=True)
    np.testing.assert_allclose(path, latent.encode(ae, x[:2]), rtol=1e-5, atol=1e-6)


def test_the_wrong_images_are_named_by_their_argument():
    keras.utils.set_random_seed(0)
    ae = keras_gen.AutoEncoder(helpers.tiny_encoder((8, 8, 3), 4), helpers.tiny_decoder(4, (8, 8, 3)))
    x = np.random.default_rng(0).random((8, 8, 8, 3)).astype("float32")
    y = np.arange(8) % 2
    with pytest.raises(ValueError, match=r"x_test must hold images of shape \(8, 8, 3\).*Received: x_test.shape"):
        latent.linear_probe(ae, x, y, x[..., :1], y)
    with pytest.raises(ValueError, match=r"with_attribute is empty"):
        latent.attribute_vector(ae, x[:0], x)
    nan = x.copy()
    nan[1, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match=r"b must not contain NaN .*Received: b with 1 NaN"):
        latent.interpolate(ae, x[0], nan[1], steps=3)


def test_attribute_vectors_refuse_rows_outside_a_one_hot_group():
    """A row with no class of the group (CelebA's hair colours can be all 0) was counted as the
    group's first column, moving that column's mean code."""
    codes = np.array([[0., 0.], [10., 0.], [0., 10.], [100., 100.], [100., 100.]])
    labels = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [0, 0, 0], [1, 1, 0]], float)
    with pytest.raises(ValueError, match=r"labels must set exactly one column of the one-hot group "
                                         r"\[0, 1, 2\].*Received: 2 such rows, e.g. row 3: \[0.0, 0.0, 0.0\]"):
        latent.attribute_vectors(codes, labels, target=1, group=(0, 1, 2))
    with pytest.raises(ValueError, match=r"source_labels must set exactly one column.*row 0"):
        latent.attribute_vectors(codes[:3], labels[:3], target=1, group=(0, 1, 2),
                                 source_labels=labels[3:])
    # without those rows: black -> blond is the difference of the two classes' codes
    v = latent.attribute_vectors(codes[:3], labels[:3], target=1, group=(0, 1, 2))
    np.testing.assert_allclose(v, [[10.0, 0.0], [0.0, 0.0], [10.0, -10.0]])
    # a binary attribute of the same column still reads 0 rows as "without"
    assert latent.attribute_vectors(codes, labels, target=1).shape == (5, 2)
