import keras
import numpy as np
import pytest

import keras_gen
from tests import helpers


def numpy_kl(vae, x):
    """Batch-mean KL(N(mu, sigma^2) || N(0, I)) of ``x``'s posteriors, by hand."""
    z_mean, z_log_sigma = (keras.ops.convert_to_numpy(t).astype("float64") for t in vae.encoder(x))
    per_example = 0.5 * np.sum(z_mean**2 + np.exp(2 * z_log_sigma) - 2 * z_log_sigma - 1, axis=-1)
    return per_example.mean()


def make_vae(**kwargs):
    kwargs.setdefault("seed", 0)
    return keras_gen.VAE(
        helpers.tiny_encoder(variational=True), helpers.tiny_decoder(), **kwargs
    )


def test_loss_falls_and_reports_terms(images):
    vae = make_vae(kl_weight=0.01)
    vae.compile(optimizer=keras.optimizers.Adam(1e-2))
    history = vae.fit(images, epochs=15, batch_size=16, verbose=0, shuffle=False).history
    assert set(history) == {"loss", "reconstruction_loss", "kl_loss", "neg_elbo"}
    helpers.assert_loss_falls(history["loss"])
    helpers.assert_loss_falls(history["reconstruction_loss"])
    # loss = reconstruction + lambda * KL (per-batch means, averaged per epoch).
    np.testing.assert_allclose(
        history["loss"][-1],
        history["reconstruction_loss"][-1] + 0.01 * history["kl_loss"][-1],
        rtol=1e-4,
    )


def test_kl_arrives_through_add_loss(images):
    vae = make_vae(kl_weight=0.5)
    vae(images[:4], training=True)
    assert len(vae.losses) == 1
    z_mean, z_log_sigma = [keras.ops.convert_to_numpy(t) for t in vae.encoder(images[:4])]
    kl = 0.5 * np.sum(z_mean**2 + np.exp(2 * z_log_sigma) - 2 * z_log_sigma - 1, axis=-1)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(vae.losses[0]), 0.5 * kl.mean(), rtol=1e-5)


def test_kl_weight_zero_makes_the_term_zero(images):
    vae = make_vae(kl_weight=0.0)
    vae(images[:4], training=True)
    assert len(vae.losses) == 1 and float(keras.ops.convert_to_numpy(vae.losses[0])) == 0.0
    vae.compile(optimizer="adam")
    logs = vae.evaluate(images, batch_size=64, verbose=0, return_dict=True)
    assert logs["kl_loss"] > 0
    np.testing.assert_allclose(logs["loss"], logs["reconstruction_loss"], rtol=1e-6)


def test_sampling_noise_and_seed_state_advance(images):
    vae = make_vae()
    vae.compile(optimizer="adam")
    state0 = keras.ops.convert_to_numpy(vae.sampling.seed_generator.state).copy()
    vae.fit(images, epochs=1, batch_size=16, verbose=0)
    state1 = keras.ops.convert_to_numpy(vae.sampling.seed_generator.state)
    assert not np.array_equal(state0, state1)
    # Two training-mode calls draw different z; inference decodes the mean.
    a = keras.ops.convert_to_numpy(vae(images[:4], training=True))
    b = keras.ops.convert_to_numpy(vae(images[:4], training=True))
    assert not np.allclose(a, b)
    np.testing.assert_allclose(vae.reconstruct(images[:4]), vae.decode(vae.encode(images[:4])[0]), rtol=1e-5, atol=1e-6)


def test_encode_returns_mean_and_sigma(images):
    vae = make_vae()
    z_mean, z_sigma = vae.encode(images)
    ref_mean, ref_log_sigma = [keras.ops.convert_to_numpy(t) for t in vae.encoder(images)]
    np.testing.assert_allclose(z_mean, ref_mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(z_sigma, np.exp(ref_log_sigma), rtol=1e-5)
    assert vae.latent_dim == 2


def test_sample_is_reproducible_with_a_seed():
    vae = make_vae()
    a, b = vae.sample(6, seed=3), vae.sample(6, seed=3)
    assert a.shape == (6, 8, 8, 1)
    np.testing.assert_array_equal(a, b)
    c, d = vae.sample(6), vae.sample(6)
    assert not np.allclose(c, d)


def test_bce_reconstruction(images):
    vae = make_vae(reconstruction="bce", kl_weight=0.01)
    vae.compile(optimizer="adam")
    logs = vae.evaluate(images, batch_size=64, verbose=0, return_dict=True)
    assert logs["reconstruction_loss"] > 0.3  # BCE of ~0.5-probabilities


def test_test_step_matches_the_formula(images):
    vae = make_vae(kl_weight=2.0)
    vae.compile(optimizer="adam")
    logs = vae.evaluate(images, batch_size=64, verbose=0, return_dict=True)
    kl = numpy_kl(vae, images)
    np.testing.assert_allclose(logs["kl_loss"], kl, rtol=1e-5)
    np.testing.assert_allclose(logs["loss"], logs["reconstruction_loss"] + 2.0 * kl, rtol=1e-5)


def test_save_load_round_trip(images, tmp_path):
    vae = make_vae(kl_weight=0.3, reconstruction="bce")
    vae.compile(optimizer="adam")
    vae.fit(images, epochs=1, batch_size=32, verbose=0)
    loaded = helpers.assert_round_trip(vae, tmp_path / "vae.keras", images, lambda m, x: m.reconstruct(x))
    assert loaded.kl_weight == 0.3 and loaded.reconstruction == "bce"
    np.testing.assert_allclose(loaded.sample(4, seed=1), vae.sample(4, seed=1), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(loaded.sampling.seed_generator.state),
        keras.ops.convert_to_numpy(vae.sampling.seed_generator.state),
    )
    assert int(keras.ops.convert_to_numpy(loaded.optimizer.iterations)) == 2


# ------------------------------------------------------------ bad input
@pytest.mark.parametrize("bad", [-0.1, float("nan"), float("inf")])
def test_bad_kl_weight(bad):
    with pytest.raises(ValueError, match=f"kl_weight must be a finite number >= 0. Received: kl_weight={bad}"):
        make_vae(kl_weight=bad)


def test_kl_weight_type():
    with pytest.raises(TypeError, match="kl_weight must be a finite number >= 0. Received: kl_weight='1'"):
        make_vae(kl_weight="1")


def test_plain_encoder_refused():
    with pytest.raises(ValueError, match=r"must return \[z_mean, z_log_sigma\].*variational=True"):
        keras_gen.VAE(helpers.tiny_encoder(), helpers.tiny_decoder())


def test_unknown_reconstruction():
    with pytest.raises(ValueError, match="Received: reconstruction='l2'"):
        make_vae(reconstruction="l2")


def test_shape_mismatch():
    with pytest.raises(ValueError, match=r"decoder's input must match.*\(None, 2\).*\(None, 5\)"):
        keras_gen.VAE(helpers.tiny_encoder(variational=True), helpers.tiny_decoder(latent_dim=5))


@pytest.mark.parametrize("n", [0, -2, 2.5, True])
def test_bad_sample_count(n):
    with pytest.raises(ValueError, match=f"n must be a positive integer. Received: n={n}"):
        make_vae().sample(n)


def test_neg_elbo_is_lambda_free_and_exact_for_bce(images):
    vae = make_vae(reconstruction="bce", kl_weight=5.0)
    vae.compile(optimizer="adam")
    logs = vae.evaluate(images, batch_size=64, verbose=0, return_dict=True)
    np.testing.assert_allclose(logs["neg_elbo"], 64 * logs["reconstruction_loss"] + logs["kl_loss"], rtol=1e-5)
    mse = make_vae(reconstruction="mse", kl_weight=0.0)
    mse.compile(optimizer="adam")
    logs = mse.evaluate(images, batch_size=64, verbose=0, return_dict=True)
    expected = logs["reconstruction_loss"] + logs["kl_loss"] + 32 * np.log(np.pi * 64)
    np.testing.assert_allclose(logs["neg_elbo"], expected, rtol=1e-5)


def test_free_bits_raise_the_training_loss_not_the_logged_kl(images, tmp_path):
    # A fresh encoder's posterior is near the prior (a few nats in all), so a
    # floor of 5 nats per dimension sets the added term to lambda * 2 * 5.
    vae = make_vae(kl_weight=0.5, free_bits=5.0)
    vae.compile(optimizer=keras.optimizers.Adam(0.0))
    logs = vae.evaluate(images, batch_size=64, verbose=0, return_dict=True)
    assert logs["kl_loss"] < 5.0
    np.testing.assert_allclose(logs["loss"], logs["reconstruction_loss"] + 0.5 * 10.0, rtol=1e-5)
    vae.save(tmp_path / "fb.keras")
    assert keras.saving.load_model(tmp_path / "fb.keras").free_bits == 5.0


def test_bad_free_bits():
    with pytest.raises(ValueError, match="free_bits must be a finite number >= 0. Received: free_bits=-1"):
        make_vae(free_bits=-1)


# ------------------------------------------------------------- lambda
class _SetKLWeight(keras.callbacks.Callback):
    def __init__(self, epoch, value):
        super().__init__()
        self.epoch, self.value = epoch, value

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.epoch:
            self.model.kl_weight = self.value


def test_kl_weight_set_after_compile_is_the_one_training_uses(images):
    # Learning rate 0: the weights, hence the KL, stay put; one batch per epoch.
    vae = make_vae(kl_weight=1.0)
    vae.compile(optimizer=keras.optimizers.Adam(0.0))
    kl = numpy_kl(vae, images)
    first = vae.fit(images, batch_size=64, epochs=1, verbose=0, shuffle=False).history
    np.testing.assert_allclose(first["loss"][0] - first["reconstruction_loss"][0], 1.0 * kl, rtol=1e-4)
    vae.kl_weight = 3.0  # after compile and after the step was traced
    assert vae.kl_weight == 3.0 and vae.get_config()["kl_weight"] == 3.0
    assert vae.sampling.get_config()["kl_weight"] == 3.0
    # ... and from a callback during fit (epoch 2 trains with lambda = 0.5).
    history = vae.fit(images, batch_size=64, epochs=2, verbose=0, shuffle=False,
                      callbacks=[_SetKLWeight(1, np.float32(0.5))]).history
    np.testing.assert_allclose(history["kl_loss"], [kl, kl], rtol=1e-4)
    added = np.subtract(history["loss"], history["reconstruction_loss"])
    np.testing.assert_allclose(added, [3.0 * kl, 0.5 * kl], rtol=1e-4)
    assert vae.kl_weight == 0.5


def test_kl_weight_round_trips_through_config_and_file(images, tmp_path):
    vae = make_vae(kl_weight=1.0)
    vae.kl_weight = 2.0
    rebuilt = keras_gen.VAE.from_config(vae.get_config())
    assert rebuilt.kl_weight == 2.0
    vae.save(tmp_path / "vae.keras")
    loaded = keras.saving.load_model(tmp_path / "vae.keras")
    assert loaded.kl_weight == 2.0
    assert float(keras.ops.convert_to_numpy(loaded.sampling.kl_weight_variable)) == 2.0


def test_the_kl_is_computed_once_per_step(images, monkeypatch):
    vae = make_vae(kl_weight=0.5)
    calls = []
    original = keras_gen.losses.kl_per_dimension

    def counting(*args):
        calls.append(1)
        return original(*args)

    monkeypatch.setattr(keras_gen.losses, "kl_per_dimension", counting)
    total, (reconstruction, kl, _) = vae.forward_losses(images[:8], images[:8], training=True)
    assert len(calls) == 1
    np.testing.assert_allclose(keras.ops.convert_to_numpy(kl), numpy_kl(vae, images[:8]), rtol=1e-5)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(total),
        keras.ops.convert_to_numpy(reconstruction) + 0.5 * numpy_kl(vae, images[:8]),
        rtol=1e-5,
    )


def test_numpy_scalars_in_the_constructor(images):
    vae = make_vae(kl_weight=np.float32(0.25), free_bits=np.float64(0.0), seed=np.int64(0))
    assert vae.seed == 0 and type(vae.seed) is int
    assert vae.kl_weight == 0.25 and type(vae.free_bits) is float
    assert vae.sampling.seed == 0
    reference = make_vae(seed=0)
    for mine, theirs in ((vae.prior_seed_generator, reference.prior_seed_generator),
                         (vae.sampling.seed_generator, reference.sampling.seed_generator)):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(mine.state),
                                      keras.ops.convert_to_numpy(theirs.state))
    assert vae.sample(np.int64(2), seed=np.int64(1)).shape == (2, 8, 8, 1)


def test_a_file_saved_before_lambda_was_a_variable_loads(images, tmp_path):
    # Rewrite a saved file into the old layout: Sampling stored only kl_anneal
    # (vars/0) and its seed state; lambda came from the config alone.
    import io
    import zipfile

    import h5py

    vae = make_vae(kl_weight=0.3)
    vae.save(tmp_path / "new.keras")
    with zipfile.ZipFile(tmp_path / "new.keras") as src:
        files = {name: src.read(name) for name in src.namelist()}
    weights = io.BytesIO(files["model.weights.h5"])
    with h5py.File(weights, "a") as h5:
        del h5["layers/sampling/vars/1"]
        h5["layers/sampling/vars/0"][()] = np.float32(0.5)  # a warm-up mid-way
    files["model.weights.h5"] = weights.getvalue()
    with zipfile.ZipFile(tmp_path / "old.keras", "w") as dst:
        for name, data in files.items():
            dst.writestr(name, data)
    loaded = keras.saving.load_model(tmp_path / "old.keras")
    assert loaded.kl_weight == 0.3
    assert float(keras.ops.convert_to_numpy(loaded.sampling.kl_anneal)) == 0.5
    np.testing.assert_allclose(loaded.reconstruct(images[:4]), vae.reconstruct(images[:4]), rtol=1e-5, atol=1e-6)
