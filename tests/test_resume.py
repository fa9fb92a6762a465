"""Exact resume: a run killed with SIGKILL mid-epoch and resumed equals an uninterrupted one.

The training runs in child processes (tests/resume_child.py, two at a time)
under the backend of this test session, on shuffled data where the backup can hold the
order's generator (JAX, PyTorch). The kill point is deterministic: the child
writes a marker after global step 10 (epoch 2, batch 4 of 6; the last
backup was after step 8) and sleeps until this process kills it.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import h5py
import keras
import numpy as np
import pytest

import keras_gen
from keras_gen.models._saving import owned_seed_generators
from tests import helpers

CHILD = os.path.join(helpers.REPO, "tests", "resume_child.py")
KILL_AT = 10  # global step; backups (save_freq=4) after steps 4 and 8 precede it
# TensorFlow is required to be bit-identical; JAX and PyTorch within this
# absolute tolerance (measured: also bit-identical on CPU).
TOLERANCE = {"tensorflow": 0.0, "jax": 1e-6, "torch": 1e-6}


def _children(work, *runs):
    """Run one child process per ``runs`` entry (a list of plans), side by side.

    A child whose plans include ``KIND:kill:STEP`` is SIGKILLed once it has
    written ``marker_KIND``. Returns each child's ``(returncode, stderr)``.
    """
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    env["PYTHONPATH"] = helpers.REPO + os.pathsep + env.get("PYTHONPATH", "")
    children = []
    try:
        for plans in runs:
            # stderr to a file: a pipe nobody reads while waiting could fill and block the child.
            err = open(os.path.join(work, "child_" + "_".join(plans).replace(":", "-") + ".err"), "w+b")
            proc = subprocess.Popen([sys.executable, CHILD, work, *plans], env=env,
                                    stdout=subprocess.DEVNULL, stderr=err)
            kills = [p.split(":")[0] for p in plans if p.split(":")[1] == "kill"]
            children.append((proc, err, f"marker_{kills[0]}" if kills else None))

        def stderr(err):
            err.seek(0)
            return err.read().decode()

        deadline = time.monotonic() + 300
        for proc, err, marker in children:
            if marker is None:
                continue
            while not os.path.exists(os.path.join(work, marker)):
                if proc.poll() is not None:
                    raise AssertionError(f"child ended before the kill point:\n{stderr(err)[-4000:]}")
                assert time.monotonic() < deadline, "child never reached the kill point"
                time.sleep(0.02)
            os.kill(proc.pid, signal.SIGKILL)
        return [(proc.wait(timeout=300), stderr(err)) for proc, err, _ in children]
    finally:
        for proc, err, _ in children:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            err.close()


@pytest.fixture(scope="module")
def resumed_runs(tmp_path_factory):
    """Kill a GAN run, a GAN run with ADA and a VAE run (side by side); resume them, then the uninterrupted runs."""
    work = str(tmp_path_factory.mktemp("resume"))
    backups = {}
    for rc, err in _children(work, *([f"{kind}:kill:{KILL_AT}"] for kind in KINDS)):
        assert rc == -signal.SIGKILL, err[-4000:]
    for kind in KINDS:
        with open(os.path.join(work, f"backup_{kind}", "training_metadata.json")) as f:
            backups[kind] = json.load(f)
    [(rc, err)] = _children(work, [f"{kind}:resume" for kind in KINDS] + [f"{kind}:full" for kind in KINDS])
    assert rc == 0, err[-4000:]
    return work, backups


KINDS = ("gan", "gan_ada", "vae")


@pytest.mark.parametrize("kind", KINDS)
def test_run_killed_mid_epoch_resumes_to_the_uninterrupted_weights(resumed_runs, kind):
    work, backups = resumed_runs
    # The kill came mid-epoch, after a mid-epoch backup: epoch index 1,
    # 2 of its 6 batches done (global step 8).
    assert (backups[kind]["epoch"], backups[kind]["steps_done"]) == (1, 2)
    full = np.load(os.path.join(work, f"final_{kind}_full.npz"))
    resumed = np.load(os.path.join(work, f"final_{kind}_resume.npz"))
    assert full.files == resumed.files
    tolerance = TOLERANCE[keras.backend.backend()]
    for name in full.files:
        if tolerance == 0.0 or name == "seeds":
            np.testing.assert_array_equal(resumed[name], full[name], err_msg=name)
        else:
            np.testing.assert_allclose(resumed[name], full[name], rtol=0, atol=tolerance,
                                       err_msg=name)
    # The backups were removed at the end of the resumed run (delete_checkpoint).
    assert not os.path.exists(os.path.join(work, f"backup_{kind}"))


def test_adaptive_augmentation_state_moved_and_was_resumed(resumed_runs):
    """ADA's probability (a weight) and random stream (a seed state) are part of what resumes."""
    work, _ = resumed_runs
    plain = np.load(os.path.join(work, "final_gan_full.npz"))
    ada = np.load(os.path.join(work, "final_gan_ada_full.npz"))
    # one more weight (the probability, also saved as augment_p) and one more seed state
    assert len(ada.files) == len(plain.files) + 2
    assert ada["seeds"].shape[0] == plain["seeds"].shape[0] + 1
    # p moved from its initial 0.5 during training: the resumed run restored a live value
    assert 0.0 <= float(ada["augment_p"]) <= 1.0 and float(ada["augment_p"]) != 0.5


# ------------------------------------------------------ .keras round trip
def _gan():
    g = keras.Sequential(
        [keras.Input((2,)), keras.layers.Dense(16, activation="tanh"),
         # seed=: on PyTorch an unseeded Dropout draws from torch's global RNG
         # instead of its SeedGenerator (Keras' choice), which no file holds.
         keras.layers.Dropout(0.5, seed=7), keras.layers.Reshape((4, 4, 1))]
    )
    d = keras.Sequential(
        [keras.Input((4, 4, 1)), keras.layers.Flatten(), keras.layers.Dense(1)]
    )
    gan = keras_gen.GAN(g, d, latent_dim=2, seed=3)
    gan.compile(d_optimizer=keras.optimizers.Adam(1e-3), g_optimizer=keras.optimizers.Adam(1e-3))
    return gan, np.random.default_rng(0).uniform(-1, 1, (16, 4, 4, 1)).astype("float32")


def _vae():
    vae = keras_gen.VAE(
        helpers.tiny_encoder((4, 4, 1), variational=True),
        helpers.tiny_decoder(2, (4, 4, 1)),
        seed=3,
    )
    vae.compile(optimizer=keras.optimizers.Adam(1e-3))
    return vae, np.random.default_rng(0).uniform(0, 1, (16, 4, 4, 1)).astype("float32")


def _states(model):
    return [keras.ops.convert_to_numpy(g.state.value) for g in owned_seed_generators(model)]


@pytest.mark.parametrize("make", [_gan, _vae], ids=["gan", "vae"])
def test_keras_file_keeps_every_seed_state(tmp_path, make):
    model, x = make()
    # The model's own generator (latent / prior) and, for the VAE, Sampling's;
    # the GAN's generator network holds a Dropout with its own generator.
    assert len(owned_seed_generators(model)) == 2
    before = _states(model)
    model.fit(x, batch_size=8, epochs=1, verbose=0)
    model.sample(2)  # a VAE's prior generator advances only when sampling
    # Every one of them moved on (else the test below proves nothing).
    assert all(not np.array_equal(a, b) for a, b in zip(_states(model), before))
    path = str(tmp_path / "model.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    for a, b in zip(_states(loaded), _states(model)):
        np.testing.assert_array_equal(a, b)
    # The next unseeded sample after reloading is the next one without reloading.
    np.testing.assert_array_equal(loaded.sample(4), model.sample(4))
    # And training continues identically (same latent and dropout noise).
    model.fit(x, batch_size=8, epochs=1, verbose=0, shuffle=False)
    loaded.fit(x, batch_size=8, epochs=1, verbose=0, shuffle=False)
    for a, b in zip(loaded.weights, model.weights):
        np.testing.assert_allclose(
            keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b), rtol=0, atol=1e-6
        )


def test_weights_file_without_seed_states_still_loads(tmp_path):
    gan, x = _gan()
    gan.fit(x, batch_size=8, epochs=1, verbose=0)
    path = str(tmp_path / "old.weights.h5")
    gan.save_weights(path)
    removed = []
    with h5py.File(path, "a") as f:
        def drop(name, obj):
            if isinstance(obj, h5py.Dataset) and "seed_generator_state_" in name:
                removed.append(name)
        f.visititems(drop)
        for name in removed:
            del f[name]
    assert removed  # the file did hold them
    other, _ = _gan()
    other.optimizer.build(other.trainable_variables)
    before = _states(other)
    other.load_weights(path)
    for a, b in zip(other.weights, gan.weights):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b))
    for a, b in zip(_states(other), before):  # left as they were
        np.testing.assert_array_equal(a, b)


# ------------------------------------- backups whose two files disagree
class _Crash(keras.callbacks.Callback):
    """Raises ``error`` after global step ``at`` (a kill right after that step's backup)."""

    def __init__(self, at, error=RuntimeError):
        super().__init__()
        self.at, self.step, self.error = at, 0, error

    def on_train_batch_end(self, batch, logs=None):
        self.step += 1
        if self.step == self.at:
            raise self.error("crash")


def test_backup_interrupted_between_its_two_files_resumes_exactly(tmp_path):
    """Weights from step 8 with the metadata of step 4: the step count in the weights wins."""
    sys.path.insert(0, os.path.dirname(CHILD))
    try:
        import resume_child
    finally:
        sys.path.remove(os.path.dirname(CHILD))
    backup = str(tmp_path / "backup")

    def fit(model, data, *callbacks):
        model.fit(data, batch_size=resume_child.BATCH, epochs=resume_child.EPOCHS,
                  shuffle=False, verbose=0, callbacks=list(callbacks))

    model, data = resume_child.build("gan")
    with pytest.raises(RuntimeError, match="crash"):
        fit(model, data, keras_gen.callbacks.BackupAndRestore(backup, save_freq=4), _Crash(10))
    metadata_path = os.path.join(backup, "training_metadata.json")
    with open(metadata_path) as f:
        metadata = json.load(f)
    assert (metadata["epoch"], metadata["steps_done"], metadata["iterations"]) == (1, 2, 8)
    # As if killed after the weights of step 8 replaced those of step 4 but
    # before the metadata of step 8 replaced that of step 4.
    metadata.update(epoch=0, steps_done=4, iterations=4)
    with open(metadata_path, "w") as f:
        json.dump(metadata, f)
    resumed, data = resume_child.build("gan")
    if keras.backend.backend() == "tensorflow":  # no shuffling state to restore
        fit(resumed, data, keras_gen.callbacks.BackupAndRestore(backup, save_freq=4))
    else:  # the metadata's epoch-start shuffling state is not the resumed epoch's: said
        with pytest.warns(RuntimeWarning, match="resumes in epoch 2 but holds the shuffling"):
            fit(resumed, data, keras_gen.callbacks.BackupAndRestore(backup, save_freq=4))
    full, data = resume_child.build("gan")
    fit(full, data)
    for a, b in zip(resumed.weights + resumed.optimizer.variables,
                    full.weights + full.optimizer.variables):
        np.testing.assert_allclose(
            keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b),
            rtol=0, atol=TOLERANCE[keras.backend.backend()],
        )


@pytest.mark.parametrize("saved_ema", [False, True], ids=["ema_added", "ema_removed"])
def test_a_backup_of_another_optimizer_is_an_error_not_a_fresh_optimizer(tmp_path, saved_ema):
    """Keras loads the weights and skips an optimizer with other variables (an EMA
    added or removed) with a warning only; the resumed run would silently restart
    the optimizer. keras-gen's BackupAndRestore refuses instead."""
    backup = str(tmp_path / "backup")

    def gan_with(ema):
        gan, real = _gan()
        extra = {"use_ema": True, "ema_momentum": 0.9} if ema else {}
        gan.compile(d_optimizer=keras.optimizers.Adam(1e-3),
                    g_optimizer=keras.optimizers.Adam(1e-3, **extra))
        return gan, real

    gan, real = gan_with(saved_ema)
    gan.fit(real, batch_size=8, epochs=1, verbose=0,
            callbacks=[keras_gen.callbacks.BackupAndRestore(backup, delete_checkpoint=False)])
    other, real = gan_with(not saved_ema)
    with pytest.raises(keras_gen.callbacks.BackupMismatchError,
                       match=r"The backup in .*backup does not fit this model .*Skipping variable "
                             r"loading for optimizer"):
        other.fit(real, batch_size=8, epochs=2, verbose=0,
                  callbacks=[keras_gen.callbacks.BackupAndRestore(backup)])
    assert int(keras.ops.convert_to_numpy(other.g_optimizer.iterations)) == 0  # nothing trained
    same, real = gan_with(saved_ema)  # the same optimizer resumes
    history = same.fit(real, batch_size=8, epochs=2, verbose=0,
                       callbacks=[keras_gen.callbacks.BackupAndRestore(backup)])
    assert len(history.history["d_loss"]) == 1
    assert int(keras.ops.convert_to_numpy(same.g_optimizer.iterations)) == 4


def test_a_backup_of_another_model_names_the_backup_dir(tmp_path):
    backup = str(tmp_path / "backup")
    gan, real = _gan()
    gan.fit(real, batch_size=8, epochs=1, verbose=0,
            callbacks=[keras_gen.callbacks.BackupAndRestore(backup, delete_checkpoint=False)])
    vae, images = _vae()
    with pytest.raises(keras_gen.callbacks.BackupMismatchError,
                       match=r"The backup in .*backup does not fit this model"):
        vae.fit(images, batch_size=8, epochs=1, verbose=0,
                callbacks=[keras_gen.callbacks.BackupAndRestore(backup)])


def test_first_backup_writes_its_metadata_before_its_weights(tmp_path, monkeypatch):
    """A kill inside the first backup never leaves weights without their epoch: metadata
    first, then weights; a restore ignores metadata whose weights never landed."""
    sys.path.insert(0, os.path.dirname(CHILD))
    try:
        import resume_child
    finally:
        sys.path.remove(os.path.dirname(CHILD))
    backup = str(tmp_path / "backup")
    seen = []
    write = keras_gen.callbacks.BackupAndRestore._write_metadata

    def recording(self, metadata):
        seen.append(os.path.exists(self._weights_path))
        return write(self, metadata)

    monkeypatch.setattr(keras_gen.callbacks.BackupAndRestore, "_write_metadata", recording)

    def fit(model, data, *callbacks):
        model.fit(data, batch_size=resume_child.BATCH, epochs=resume_child.EPOCHS,
                  shuffle=False, verbose=0, callbacks=list(callbacks))

    model, data = resume_child.build("gan")

    def no_weights(*args, **kwargs):  # killed between the first metadata and weights
        raise RuntimeError("killed")

    model.save_weights = no_weights
    with pytest.raises(RuntimeError, match="killed"):
        fit(model, data, keras_gen.callbacks.BackupAndRestore(backup, save_freq=4))
    assert seen == [False]
    assert os.listdir(backup) == ["training_metadata.json"]
    monkeypatch.setattr(keras_gen.callbacks.BackupAndRestore, "_write_metadata", write)
    resumed, data = resume_child.build("gan")
    fit(resumed, data, keras_gen.callbacks.BackupAndRestore(backup, save_freq=4))
    full, data = resume_child.build("gan")
    fit(full, data)
    assert int(keras.ops.convert_to_numpy(resumed.g_optimizer.iterations)) == int(
        keras.ops.convert_to_numpy(full.g_optimizer.iterations))
    for a, b in zip(resumed.weights, full.weights):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b),
                                   rtol=0, atol=TOLERANCE[keras.backend.backend()])


def test_a_finished_run_deletes_only_its_own_backup_files(tmp_path):
    """Keras' callback deletes the whole backup_dir; a folder of the user's files survives."""
    folder = tmp_path / "outputs"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    (folder / "training_metadata.json.tmp-999999999").write_text("{}")  # a killed write's
    gan, real = _gan()
    gan.fit(real, batch_size=8, epochs=2, verbose=0,
            callbacks=[keras_gen.callbacks.BackupAndRestore(str(folder), save_freq=1,
                                                           double_checkpoint=True)])
    assert sorted(os.listdir(folder)) == ["notes.txt"]
    own = tmp_path / "backup"  # a folder of its own is removed with its files
    gan.fit(real, batch_size=8, epochs=1, verbose=0,
            callbacks=[keras_gen.callbacks.BackupAndRestore(str(own))])
    assert not own.exists()


@pytest.mark.parametrize("kwargs,error,match", [
    ({"save_freq": 0}, ValueError, "save_freq must be a positive integer. Received: save_freq=0"),
    ({"save_freq": -3}, ValueError, "Received: save_freq=-3"),
    ({"save_freq": True}, TypeError, "Received: save_freq=True"),
    ({"save_freq": "batch"}, TypeError, "Received: save_freq='batch'"),
    ({"double_checkpoint": "no"}, TypeError, "double_checkpoint must be a bool. Received: double_checkpoint='no'"),
    ({"delete_checkpoint": 0}, TypeError, "delete_checkpoint must be a bool"),
    ({"backup_dir": ""}, ValueError, "backup_dir must be a non-empty path. Received: backup_dir=''"),
    ({"backup_dir": None}, TypeError, "Received: backup_dir=None"),
])
def test_backup_arguments_are_named(tmp_path, kwargs, error, match):
    kwargs = {"backup_dir": str(tmp_path), **kwargs}
    with pytest.raises(error, match=match):
        keras_gen.callbacks.BackupAndRestore(**kwargs)


@pytest.mark.parametrize("kind", ["ae", "vae"])
def test_a_model_of_subclassed_networks_backs_up_and_resumes(tmp_path, kind, images):
    # On TensorFlow the model was still unbuilt when BackupAndRestore read its
    # weights (Keras builds it when the first step is traced): the first run
    # failed with a BackupMismatchError about a backup that did not exist.
    class Encoder(keras.Model):
        def __init__(self):
            super().__init__()
            self.flatten, self.dense = keras.layers.Flatten(), keras.layers.Dense(2)

        def call(self, x):
            return self.dense(self.flatten(x))

    def build():
        keras.utils.set_random_seed(0)
        if kind == "ae":
            model = keras_gen.AutoEncoder(Encoder(), helpers.SubclassedDecoder())
        else:
            model = keras_gen.VAE(helpers.SubclassedEncoder(), helpers.SubclassedDecoder(), seed=0)
        model.compile(optimizer=keras.optimizers.Adam(1e-2))
        assert not model.built
        return model

    backup = str(tmp_path / "backup")
    x = images[:32]
    model = build()
    with pytest.raises(RuntimeError, match="crash"):
        model.fit(x, batch_size=8, epochs=3, shuffle=False, verbose=0,
                  callbacks=[keras_gen.callbacks.BackupAndRestore(backup, save_freq=4), _Crash(6)])
    resumed = build()
    resumed.fit(x, batch_size=8, epochs=3, shuffle=False, verbose=0,
                callbacks=[keras_gen.callbacks.BackupAndRestore(backup, save_freq=4)])
    assert int(keras.ops.convert_to_numpy(resumed.optimizer.iterations)) == 12
    full = build()
    full.fit(x, batch_size=8, epochs=3, shuffle=False, verbose=0)
    for a, b in zip(resumed.weights, full.weights):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b),
                                   rtol=0, atol=TOLERANCE[keras.backend.backend()])


# ------------------------------------------- backups at an epoch's end
def _boundary_autoencoder():
    keras.utils.set_random_seed(0)
    enc = keras.Sequential([keras.Input((4, 4, 1)), keras.layers.Flatten(), keras.layers.Dense(3)])
    dec = keras.Sequential([keras.Input((3,)), keras.layers.Dense(16, activation="sigmoid"),
                            keras.layers.Reshape((4, 4, 1))])
    model = keras_gen.AutoEncoder(enc, dec)
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    return model


@pytest.mark.parametrize("interrupt_at,backup_at", [(6, (0, 3)), (8, (1, 0))],
                         ids=["on_the_last_batch", "after_the_epoch_end_backup"])
def test_a_backup_due_on_an_epochs_last_batch_resumes_the_shuffled_order(
        tmp_path, interrupt_at, backup_at):
    """save_freq divides the steps per epoch (6 = 2 x 3) and the data is shuffled.

    On PyTorch the global generator moves after an epoch's last batch (Keras
    makes the next epoch's DataLoader iterator, which draws a seed from it):
    a backup taken at that batch's end held a state the next epoch never
    shuffled with, and the resumed run saw another order. The backup is
    written at the epoch's end instead (a kill on the last batch resumes from
    the one before: interrupt_at=6), and holds the state the next epoch
    shuffles with (interrupt_at=8: epoch 2 resumes from it).
    """
    x = np.random.default_rng(0).uniform(0, 1, (48, 4, 4, 1)).astype("float32")  # 6 steps/epoch
    backup = str(tmp_path / "backup")
    full = _boundary_autoencoder()
    keras.utils.set_random_seed(5)
    full.fit(x, batch_size=8, epochs=3, shuffle=True, verbose=0)
    model = _boundary_autoencoder()
    keras.utils.set_random_seed(5)
    with pytest.raises(KeyboardInterrupt):
        model.fit(x, batch_size=8, epochs=3, shuffle=True, verbose=0,
                  callbacks=[keras_gen.callbacks.BackupAndRestore(backup, save_freq=3),
                             _Crash(interrupt_at, KeyboardInterrupt)])
    with open(os.path.join(backup, "training_metadata.json")) as f:
        metadata = json.load(f)
    assert (metadata["epoch"], metadata["steps_done"]) == backup_at
    resumed = _boundary_autoencoder()
    keras.utils.set_random_seed(5)
    resumed.fit(x, batch_size=8, epochs=3, shuffle=True, verbose=0,
                callbacks=[keras_gen.callbacks.BackupAndRestore(backup, save_freq=3)])
    assert int(keras.ops.convert_to_numpy(resumed.optimizer.iterations)) == 18
    for a, b in zip(resumed.weights, full.weights):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b),
                                   rtol=0, atol=min(TOLERANCE[keras.backend.backend()], 1e-7))


def test_a_backup_of_another_number_of_steps_per_epoch_is_an_error(tmp_path):
    """Its position (4 batches into an epoch of 6) means nothing in an epoch of 3
    (batch_size 8 -> 16): the skipped batches were trained on, the backup never
    reloaded. Refused, naming both counts."""
    x = np.random.default_rng(0).uniform(0, 1, (48, 4, 4, 1)).astype("float32")
    backup = str(tmp_path / "backup")
    model = _boundary_autoencoder()
    with pytest.raises(KeyboardInterrupt):
        model.fit(x, batch_size=8, epochs=2, shuffle=False, verbose=0,
                  callbacks=[keras_gen.callbacks.BackupAndRestore(backup, save_freq=4),
                             _Crash(5, KeyboardInterrupt)])
    other = _boundary_autoencoder()
    with pytest.raises(ValueError, match=r"The backup in .*backup was written by a run of 6 "
                                         r"steps per epoch; this run has 3 \(a different "
                                         r"batch_size, steps_per_epoch or dataset\)"):
        other.fit(x, batch_size=16, epochs=2, shuffle=False, verbose=0,
                  callbacks=[keras_gen.callbacks.BackupAndRestore(backup, save_freq=4)])
    assert int(keras.ops.convert_to_numpy(other.optimizer.iterations)) == 0  # nothing trained
    assert os.path.exists(os.path.join(backup, "training_metadata.json"))  # kept
    same = _boundary_autoencoder()  # the same batch size resumes
    same.fit(x, batch_size=8, epochs=2, shuffle=False, verbose=0,
             callbacks=[keras_gen.callbacks.BackupAndRestore(backup, save_freq=4)])
    assert int(keras.ops.convert_to_numpy(same.optimizer.iterations)) == 12
    # a backup at an epoch's end holds no position inside one: another batch size resumes it
    shutil.rmtree(backup, ignore_errors=True)  # (the resumed run removed its files)
    with pytest.raises(KeyboardInterrupt):
        _boundary_autoencoder().fit(x, batch_size=8, epochs=2, shuffle=False, verbose=0,
                                    callbacks=[keras_gen.callbacks.BackupAndRestore(backup),
                                               _Crash(7, KeyboardInterrupt)])
    larger = _boundary_autoencoder()
    larger.fit(x, batch_size=16, epochs=2, shuffle=False, verbose=0,
               callbacks=[keras_gen.callbacks.BackupAndRestore(backup)])
    assert int(keras.ops.convert_to_numpy(larger.optimizer.iterations)) == 6 + 3
