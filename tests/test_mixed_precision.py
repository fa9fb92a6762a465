"""Mixed precision: bfloat16 and float16 (with per-player loss scaling)."""

import keras
import numpy as np
import pytest

import keras_gen
from tests import helpers
from tests.models.test_gan import tiny_gan


@pytest.fixture
def policy(request):
    keras.mixed_precision.set_global_policy(request.param)
    yield request.param
    keras.mixed_precision.set_global_policy("float32")


def n(v):
    return keras.ops.convert_to_numpy(v)


@pytest.mark.parametrize("policy", ["mixed_bfloat16", "mixed_float16"], indirect=True)
def test_vae_trains_with_float32_losses(policy, images):
    vae = keras_gen.VAE(helpers.tiny_encoder(variational=True), helpers.tiny_decoder(), kl_weight=0.01, seed=0)
    assert vae.compute_dtype == policy.split("_")[1]
    vae.compile(optimizer=keras.optimizers.Adam(1e-2))
    if policy == "mixed_float16":
        assert isinstance(vae.optimizer, keras.optimizers.LossScaleOptimizer)
    history = vae.fit(images, epochs=8, batch_size=16, verbose=0, shuffle=False).history
    helpers.assert_loss_falls(history["loss"])
    assert np.isfinite(history["kl_loss"]).all()
    z_mean, _ = vae.encode(images[:2])
    assert vae.reconstruct(images[:2]).shape == (2, 8, 8, 1) and z_mean.shape == (2, 2)


@pytest.mark.parametrize("policy", ["mixed_bfloat16", "mixed_float16"], indirect=True)
def test_autoencoder_trains(policy, images):
    ae = keras_gen.AutoEncoder(helpers.tiny_encoder(), helpers.tiny_decoder())
    ae.compile(optimizer=keras.optimizers.Adam(1e-2))
    helpers.assert_loss_falls(helpers.fit_losses(ae, images, epochs=8))


@pytest.mark.parametrize("policy", ["mixed_bfloat16", "mixed_float16"], indirect=True)
def test_gan_scales_each_players_loss(policy):
    real = np.tanh(np.random.default_rng(0).normal(0.5, 0.3, size=(64, 4, 4, 1))).astype("float32")
    gan = tiny_gan(d_steps=2)
    gan.compile(d_optimizer=keras.optimizers.Adam(1e-3), g_optimizer=keras.optimizers.Adam(1e-3))
    scaled = policy == "mixed_float16"
    assert isinstance(gan.d_optimizer, keras.optimizers.LossScaleOptimizer) == scaled
    assert isinstance(gan.g_optimizer, keras.optimizers.LossScaleOptimizer) == scaled
    g0 = [n(w).copy() for w in gan.generator.trainable_weights]
    history = gan.fit(real, batch_size=16, epochs=2, verbose=0).history
    assert all(np.isfinite(v).all() for v in history.values())
    assert int(n(gan.d_optimizer.iterations)) == 16
    assert int(n(gan.g_optimizer.iterations)) == 8
    assert any(not np.allclose(a, n(b)) for a, b in zip(g0, gan.generator.trainable_weights))
    assert gan.sample(3, seed=0).dtype == np.float32


@pytest.mark.parametrize("policy", ["mixed_bfloat16", "mixed_float16"], indirect=True)
def test_a_mixed_precision_generator_exports_to_tflite_computing_in_float32(policy, tmp_path):
    # LiteRT's builtin ops have no float16 MatMul: the export used to fail with an MLIR dump.
    from keras_gen import runtime

    real = np.tanh(np.random.default_rng(0).normal(0.5, 0.3, size=(32, 4, 4, 1))).astype("float32")
    gan = tiny_gan()
    gan.compile(d_optimizer=keras.optimizers.Adam(1e-3), g_optimizer=keras.optimizers.Adam(1e-3))
    gan.fit(real, batch_size=16, epochs=1, verbose=0)
    assert gan.generator.layers[0].compute_dtype == policy.split("_")[1]
    z = np.random.default_rng(1).standard_normal((5, 3)).astype("float32")
    mixed = np.asarray(n(gan.generator(z, training=False)), "float32")
    weights = gan.generator.get_weights()
    keras.mixed_precision.set_global_policy("float32")
    # The expected values: the same architecture built in float32 with the same weights.
    float32 = tiny_gan().generator
    float32.set_weights(weights)
    expected = n(float32(z, training=False))
    for quantization, tolerance in ((None, 1e-5), ("float16", 1e-2)):
        path = str(tmp_path / f"g_{quantization}.tflite")
        keras_gen.export(gan, path, quantization=quantization)
        out = runtime.load(path)(z)
        out = out["image"] if isinstance(out, dict) else out
        np.testing.assert_allclose(out, expected, atol=tolerance)
    # and within the 16-bit rounding of what the mixed model computes
    np.testing.assert_allclose(expected, mixed, atol=0.05)
