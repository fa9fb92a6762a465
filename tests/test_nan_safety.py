"""Non-finite training never passes silently: NaN losses stop fit, NaN weights are never saved."""

import os
import warnings

import keras
import numpy as np
import pytest

import keras_gen
from keras_gen.callbacks import NonFiniteLossError
from tests import helpers


def _gan(learning_rate=1e-3):
    g = keras.Sequential(
        [keras.Input((2,)), keras.layers.Dense(16, activation="tanh"),
         keras.layers.Reshape((4, 4, 1))]
    )
    d = keras.Sequential(
        [keras.Input((4, 4, 1)), keras.layers.Flatten(),
         keras.layers.Dense(8, activation="relu"), keras.layers.Dense(1)]
    )
    gan = keras_gen.GAN(g, d, latent_dim=2, seed=0)
    gan.compile(
        d_optimizer=keras.optimizers.SGD(learning_rate),
        g_optimizer=keras.optimizers.SGD(learning_rate),
    )
    return gan, np.random.default_rng(0).uniform(-1, 1, (32, 4, 4, 1)).astype("float32")


def _vae(learning_rate=1e-3):
    vae = keras_gen.VAE(
        helpers.tiny_encoder((4, 4, 1), variational=True),
        helpers.tiny_decoder(2, (4, 4, 1)),
        seed=0,
    )
    vae.compile(optimizer=keras.optimizers.SGD(learning_rate))
    return vae, np.random.default_rng(0).uniform(0, 1, (32, 4, 4, 1)).astype("float32")


def _poison(model):
    """Put NaN into the first weight; return its path."""
    variable = model.weights[0]
    value = keras.ops.convert_to_numpy(variable).copy()
    value.flat[0] = np.nan
    variable.assign(value)
    return variable.path


# ------------------------------------------------------------- TerminateOnNaN
@pytest.mark.parametrize("make", [_gan, _vae], ids=["gan", "vae"])
def test_diverging_fit_raises_naming_the_loss_and_batch(make):
    model, x = make(learning_rate=1e12)
    with pytest.raises(NonFiniteLossError, match=r"loss=(nan|inf|-inf) at batch \d+ of epoch 1"):
        model.fit(x, batch_size=8, epochs=3, verbose=0)


@pytest.mark.parametrize("make", [_gan, _vae], ids=["gan", "vae"])
def test_graceful_guard_stops_at_the_first_non_finite_loss(make):
    model, x = make(learning_rate=1e12)
    guard = keras_gen.callbacks.TerminateOnNaN()
    history = model.fit(x, batch_size=8, epochs=3, verbose=0, callbacks=[guard])
    key, value, epoch, batch = guard.stopped
    assert key.endswith("loss") and not np.isfinite(value)
    assert epoch == 0 and len(history.history[key]) == 1  # stopped in the first epoch
    assert isinstance(guard, keras.callbacks.TerminateOnNaN)


def test_keras_guard_misses_a_gan_and_is_upgraded():
    # Keras' own callback reads logs["loss"], which a GAN does not log.
    model, x = _gan(learning_rate=1e12)
    plain = keras.callbacks.TerminateOnNaN(raise_error=True)
    history = model.fit(x, batch_size=8, epochs=2, verbose=0, callbacks=[plain],
                        terminate_on_nan=False)
    assert len(history.history["d_loss"]) == 2
    assert not np.all(np.isfinite(history.history["d_loss"] + history.history["g_loss"]))
    # Given to fit with the guard on, it is replaced by the GAN-aware one.
    model, x = _gan(learning_rate=1e12)
    with pytest.raises(NonFiniteLossError, match="(d|g)_loss="):
        model.fit(x, batch_size=8, epochs=2, verbose=0, callbacks=[plain])


def test_terminate_on_nan_false_trains_every_epoch():
    model, x = _vae(learning_rate=1e12)
    history = model.fit(x, batch_size=8, epochs=2, verbose=0, terminate_on_nan=False)
    assert len(history.history["loss"]) == 2
    assert not np.isfinite(history.history["loss"][-1])


def test_nan_in_a_later_batch_of_a_stream_stops_a_relu_gan():
    """Only a stream's first batch is checked before training; a NaN in its third
    batch must still stop training (on TensorFlow relu maps NaN to 0, so the
    losses stay finite while the discriminator's weights turn NaN)."""
    import tensorflow as tf

    model, x = _gan()
    x[20, 1, 1, 0] = np.nan
    with pytest.raises(NonFiniteLossError, match=r"Non-finite (loss: d_loss=nan|weights at the end of epoch 1)"):
        model.fit(tf.data.Dataset.from_tensor_slices(x).batch(8), epochs=2, verbose=0)


class _PoisonAtLastBatch(keras.callbacks.Callback):
    def on_train_batch_end(self, batch, logs=None):
        if batch == 3:
            self.path = _poison(self.model)


@pytest.mark.parametrize("raise_error", [True, False])
def test_non_finite_weights_with_finite_losses_stop_at_the_epoch_end(raise_error):
    model, x = _vae()
    poison = _PoisonAtLastBatch()
    guard = keras_gen.callbacks.TerminateOnNaN(raise_error=raise_error)
    if raise_error:
        with pytest.raises(NonFiniteLossError, match=r"Non-finite weights at the end of epoch 1 .*the first \S+ \(1 NaN, 0 Inf\)"):
            model.fit(x, batch_size=8, epochs=3, verbose=0, callbacks=[guard, poison])
    else:
        history = model.fit(x, batch_size=8, epochs=3, verbose=0, callbacks=[guard, poison])
        assert len(history.history["loss"]) == 1
        assert np.all(np.isfinite(history.history["loss"]))
        assert guard.stopped[0] == f"weights:{poison.path}" and guard.stopped[2] == 0


def test_guard_arguments_are_checked():
    with pytest.raises(TypeError, match="raise_error must be a bool. Received: raise_error='yes'"):
        keras_gen.callbacks.TerminateOnNaN(raise_error="yes")
    with pytest.raises(TypeError, match="monitor must be None or a non-empty list"):
        keras_gen.callbacks.TerminateOnNaN(monitor=3)
    model, x = _vae()
    with pytest.raises(TypeError, match="terminate_on_nan must be a bool"):
        model.fit(x, epochs=1, verbose=0, terminate_on_nan="no")


def test_divergence_leaves_the_last_good_backup(tmp_path):
    """The guard raises before BackupAndRestore can back up the non-finite step."""
    backup = str(tmp_path / "backup")
    model, x = _gan(learning_rate=1e12)
    with pytest.raises(NonFiniteLossError):
        model.fit(x, batch_size=8, epochs=3, verbose=0,
                  callbacks=[keras_gen.callbacks.BackupAndRestore(backup, save_freq=1)])
    fresh, _ = _gan()
    fresh.optimizer.build(fresh.trainable_variables)
    fresh.load_weights(os.path.join(backup, "latest.weights.h5"))
    assert all(np.all(np.isfinite(keras.ops.convert_to_numpy(v))) for v in fresh.weights)


# -------------------------------------------------------- non-finite weights
def test_check_finite_weights_names_model_action_and_variables():
    model, _ = _vae()
    assert keras_gen.models.check_finite_weights(model, "export") == []
    path = _poison(model)
    with pytest.raises(keras_gen.NonFiniteWeightsError) as info:
        keras_gen.models.check_finite_weights(model, "export")
    message = str(info.value)
    assert "Cannot export" in message and "VAE" in message and path in message
    assert "(1 NaN, 0 Inf)" in message and "allow_non_finite=True" in message
    assert isinstance(info.value, ValueError)
    with pytest.warns(RuntimeWarning, match=path):
        found = keras_gen.models.check_finite_weights(model, "export", allow_non_finite=True)
    assert found == [(path, 1, 0)]


@pytest.mark.parametrize("make", [_gan, _vae], ids=["gan", "vae"])
def test_save_refuses_non_finite_weights_and_keeps_the_good_file(tmp_path, make):
    model, x = make()
    model.fit(x, batch_size=8, epochs=1, verbose=0)
    path = str(tmp_path / "model.keras")
    weights = str(tmp_path / "model.weights.h5")
    model.save(path)
    model.save_weights(weights)
    good = open(path, "rb").read(), open(weights, "rb").read()
    _poison(model)
    with pytest.raises(keras_gen.NonFiniteWeightsError, match="Cannot save: "):
        model.save(path)
    with pytest.raises(keras_gen.NonFiniteWeightsError, match="Cannot save_weights: "):
        model.save_weights(weights)
    assert (open(path, "rb").read(), open(weights, "rb").read()) == good
    with pytest.warns(RuntimeWarning, match="allow_non_finite=True"):
        model.save(path, allow_non_finite=True)
    loaded = keras.saving.load_model(path)
    assert not np.isfinite(keras.ops.convert_to_numpy(loaded.weights[0])).all()
    assert sorted(os.listdir(tmp_path)) == ["model.keras", "model.weights.h5"]  # no temporaries


def test_checkpoint_of_non_finite_weights_raises_and_keeps_the_previous(tmp_path):
    model, x = _vae()
    path = str(tmp_path / "best.keras")
    model.fit(x, batch_size=8, epochs=1, verbose=0,
              callbacks=[keras.callbacks.ModelCheckpoint(path)])
    good = open(path, "rb").read()

    class Poison(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            _poison(self.model)

    with pytest.raises(keras_gen.NonFiniteWeightsError, match="Cannot save: "):
        model.fit(x, batch_size=8, epochs=1, verbose=0,
                  callbacks=[Poison(), keras.callbacks.ModelCheckpoint(path)])
    assert open(path, "rb").read() == good


def test_save_removes_a_killed_process_temporary(tmp_path):
    model, _ = _vae()
    stale = tmp_path / ".model.tmp-999999999.keras"  # no such process
    stale.write_bytes(b"half-written")
    # a temporary's own temporary: an atomic write around a model's atomic save, killed
    (tmp_path / "..model.tmp-999999999.tmp-999999999.keras").write_bytes(b"half-written")
    live = tmp_path / f".model.tmp-{os.getpid()}.keras.other"  # not a temporary of model.keras
    live.write_bytes(b"kept")
    model.save(str(tmp_path / "model.keras"))
    assert sorted(os.listdir(tmp_path)) == [live.name, "model.keras"]


def test_save_keeps_the_good_file_when_writing_fails(tmp_path, monkeypatch):
    model, _ = _vae()
    path = str(tmp_path / "model.keras")
    model.save(path)
    good = open(path, "rb").read()

    def broken_save_own_variables(store):
        raise OSError("disk full")

    monkeypatch.setattr(model.decoder, "save_own_variables", broken_save_own_variables)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(OSError, match="disk full"):
            model.save(path)
    assert open(path, "rb").read() == good
    assert sorted(os.listdir(tmp_path)) == ["model.keras"]


def _symlink_or_skip(target, link):
    try:
        os.symlink(target, link)
    except (OSError, NotImplementedError, AttributeError) as error:
        pytest.skip(f"this platform cannot create symbolic links: {error}")


@pytest.mark.parametrize("suffix", [".keras", ".weights.h5"])
def test_save_through_a_symbolic_link_rewrites_its_target_and_keeps_it(tmp_path, suffix):
    # The temporary was renamed over the link: the link became a regular
    # file and its target was left stale (plain Keras writes through it).
    model, x = _vae()
    real, link = tmp_path / f"run1{suffix}", tmp_path / f"latest{suffix}"
    save = model.save if suffix == ".keras" else model.save_weights
    save(str(real))
    _symlink_or_skip(real.name, link)  # relative, as `ln -s run1.keras latest.keras` makes it
    stale = real.read_bytes()
    model.fit(x, batch_size=8, epochs=1, verbose=0)
    save(str(link))
    assert link.is_symlink() and os.readlink(link) == real.name
    assert real.read_bytes() != stale
    assert sorted(os.listdir(tmp_path)) == sorted([real.name, link.name])  # no temporaries
    if suffix == ".keras":
        loaded = keras.saving.load_model(str(link))
    else:
        loaded, _ = _vae()
        loaded.load_weights(str(link))
    for saved, restored in zip(model.weights, loaded.weights):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(restored),
                                      keras.ops.convert_to_numpy(saved))
