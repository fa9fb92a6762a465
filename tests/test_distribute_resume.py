"""Several processes: only the chief writes; a killed worker, a restart, an exact resume.

The chief rule and the Watchdog are backend-independent logic, checked in
this process on JAX only, with ``keras_gen.backend.process_index`` patched
to say "process 1 of 2". The kill-and-resume check starts 2 real processes
(torchrun's variables on 127.0.0.1, ``tests.helpers.start_processes``) on
the backend of the run.
"""

import json
import os
import signal
import sys
import time

import keras
import numpy as np
import pytest

import keras_gen
from keras_gen import backend
from keras_gen.export import export
from tests import helpers

BACKEND = keras.backend.backend()
only_jax = pytest.mark.skipif(
    BACKEND != "jax", reason="backend-independent callback logic, checked on JAX only"
)


def _vae(seed=0):
    vae = keras_gen.VAE(
        helpers.tiny_encoder(variational=True), helpers.tiny_decoder(), seed=seed
    )
    vae.compile(optimizer="adam")
    return vae


def _data(n=32):
    return np.random.default_rng(0).random((n, 8, 8, 1), dtype=np.float32)


@pytest.fixture
def second_process(monkeypatch):
    """This process says it is process 1 of 2 (not the chief)."""
    monkeypatch.setattr(backend, "process_index", lambda: 1)
    monkeypatch.setattr(backend, "process_count", lambda: 2)


# ------------------------------------------------------------ chief rule
@only_jax
def test_backup_written_by_chief_restored_by_every_process(tmp_path, monkeypatch):
    backup_dir = tmp_path / "backup"
    x = _data()
    chief = _vae()
    chief.fit(x, batch_size=16, epochs=1, verbose=0, shuffle=False, callbacks=[
        keras_gen.callbacks.BackupAndRestore(str(backup_dir), delete_checkpoint=False)])
    assert sorted(os.listdir(backup_dir)) == ["latest.weights.h5", "training_metadata.json"]
    with open(backup_dir / "training_metadata.json") as f:
        assert json.load(f)["epoch"] == 1
    before = {name: os.path.getmtime(backup_dir / name) for name in os.listdir(backup_dir)}

    monkeypatch.setattr(backend, "process_index", lambda: 1)
    other = _vae(seed=5)  # other initial weights: the restore must replace them
    history = other.fit(x, batch_size=16, epochs=2, verbose=0, shuffle=False, callbacks=[
        keras_gen.callbacks.BackupAndRestore(str(backup_dir), save_freq=1)])
    # It resumed at epoch 2 of 2 from the chief's backup (2 steps + 2)...
    assert len(history.history["loss"]) == 1
    assert int(keras.ops.convert_to_numpy(other.optimizer.iterations)) == 4
    # ... and neither wrote a backup nor deleted the chief's at the end.
    assert {name: os.path.getmtime(backup_dir / name) for name in os.listdir(backup_dir)} == before


@only_jax
def test_sample_grid_and_export_write_in_chief_only(tmp_path, second_process, capsys):
    grid = keras_gen.callbacks.SampleGrid(str(tmp_path / "grids"), num_images=4)
    vae = _vae()
    vae.fit(_data(), batch_size=16, epochs=1, verbose=0, callbacks=[grid])
    assert grid.paths == [] and not (tmp_path / "grids").exists()
    assert keras_gen.export_for_mobile(vae, str(tmp_path / "out"), name="v") == {}
    assert export(vae, str(tmp_path / "d.tflite")) is None
    assert os.listdir(tmp_path) == []
    err = capsys.readouterr().err
    assert "export_for_mobile: skipped in process 1 of 2" in err
    assert "export: skipped in process 1 of 2; only the chief (process 0) writes" in err
    # The arguments are still checked in every process.
    with pytest.raises(ValueError, match="format"):
        export(vae, str(tmp_path / "d.bin"), format="zip")


# -------------------------------------------------------------- Watchdog
class _Stall(keras.callbacks.Callback):
    def __init__(self, at_batch, seconds):
        super().__init__()
        self.at_batch, self.seconds = at_batch, seconds

    def on_train_batch_end(self, batch, logs=None):
        if batch == self.at_batch:
            time.sleep(self.seconds)


class _Raise(keras.callbacks.Callback):
    def on_train_batch_end(self, batch, logs=None):
        raise KeyboardInterrupt  # not an Exception: fit does not catch it


def _recording(watchdog):
    calls = []
    watchdog._exit = calls.append
    return calls


@pytest.fixture(scope="module")
def dense():
    """A small compiled regression model and its data (one compiled step, reused)."""
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    x = np.zeros((32, 4), "float32")
    return model, x, np.zeros((32, 1), "float32")


@only_jax
def test_watchdog_ends_a_stalled_fit(dense, capsys):
    model, x, y = dense
    watchdog = keras_gen.callbacks.Watchdog(timeout=0.4, startup_timeout=30, exit_code=9)
    calls = _recording(watchdog)
    model.fit(x, y, batch_size=8, epochs=1, verbose=0, callbacks=[_Stall(1, 1.2), watchdog])
    assert calls == [9]
    assert "no training progress for 0.4 s (last: epoch 1, batch 1)" in watchdog.fired
    assert watchdog.fired in capsys.readouterr().err


@only_jax
def test_watchdog_quiet_when_fit_progresses_or_has_raised(dense):
    model, x, y = dense
    watchdog = keras_gen.callbacks.Watchdog(timeout=0.4, startup_timeout=30)
    calls = _recording(watchdog)
    # Slow steps (0.25 s), each within the timeout: no alarm.
    model.fit(x, y, batch_size=8, epochs=1, verbose=0,
              callbacks=[_Stall(0, 0.25), _Stall(2, 0.25), watchdog])
    with pytest.raises(KeyboardInterrupt):
        model.fit(x, y, batch_size=8, epochs=1, verbose=0, callbacks=[_Raise(), watchdog])
    time.sleep(1.0)  # fit raised: the watch ends with it, never firing later
    assert calls == [] and watchdog.fired is None
    assert watchdog._thread is None or not watchdog._thread.is_alive()


@only_jax
@pytest.mark.parametrize("kwargs, match", [
    ({"timeout": 0}, "timeout must be a finite number > 0"),
    ({"timeout": 1, "startup_timeout": -1}, "startup_timeout must be"),
    ({"timeout": 1, "exit_code": 256}, "exit_code must be an int between 1 and 255"),
])
def test_watchdog_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        keras_gen.callbacks.Watchdog(**kwargs)


# ------------------------------------------------- kill, restart, resume
# Each of 2 processes trains the same tiny VAE on the same 64 images, global
# batch 16: 4 steps per epoch, 2 epochs. The chief backs up every 2 steps.
# With KILL_AT=k, process 1 kills itself (SIGKILL, as `kill -9`) at the end
# of step k; process 0 must then stop by itself: the backend's collective
# fails, or the Watchdog (no progress for 4 s) ends it with status 75.
# With REFERENCE, the same processes then train the model again from the
# same seed, uninterrupted (another backup folder), and save its weights.
TRAIN = """
import json, os, signal, sys
import keras_gen
keras_gen.distribute.initialize()
import keras
import numpy as np
from tests import helpers

BACKUP, KILL_AT, REFERENCE = {backup!r}, {kill_at!r}, {reference!r}
rank = keras_gen.distribute.process_index()
x = np.random.default_rng(0).random((64, 8, 8, 1), dtype=np.float32)


class Kill(keras.callbacks.Callback):
    steps = 0

    def on_train_batch_end(self, batch, logs=None):
        Kill.steps += 1
        if KILL_AT is not None and rank == 1 and Kill.steps == KILL_AT:
            os.kill(os.getpid(), signal.SIGKILL)


def train(backup_dir, out):
    keras.utils.set_random_seed(0)
    with keras_gen.distribute.data_parallel():
        vae = keras_gen.VAE(helpers.tiny_encoder(variational=True), helpers.tiny_decoder(), seed=0)
        vae.compile(optimizer=keras.optimizers.Adam(1e-2))
    Kill.steps = 0
    callbacks = [
        keras_gen.callbacks.BackupAndRestore(backup_dir, save_freq=2),
        Kill(),
        keras_gen.callbacks.Watchdog(timeout=4, startup_timeout=60),
    ]
    vae.fit(x, batch_size=16, epochs=2, shuffle=False, verbose=0, callbacks=callbacks)
    if rank == 0:  # to a file: a full stdout pipe would block the process
        np.savez(out, *[keras.ops.convert_to_numpy(w) for w in vae.weights])
    return {{"steps_run": Kill.steps,
             "iterations": int(keras.ops.convert_to_numpy(vae.optimizer.iterations))}}


result = train(BACKUP, BACKUP + ".npz")
if REFERENCE:
    KILL_AT = None
    result["reference"] = train(BACKUP + "-reference", BACKUP + "-reference.npz")
result.update(rank=rank, processes=keras_gen.distribute.process_count())
print(json.dumps(result))
"""

# Seconds allowed for the survivor to stop once its peer is dead.
SURVIVOR_BOUND = 30


def _launch(tmp_path, kill_at=None, reference=False):
    from tests.test_distribute_tf_mp import free_port_span

    code = TRAIN.format(backup=str(tmp_path / "backup"), kill_at=kill_at, reference=reference)
    # The engines listen on MASTER_PORT + 1 (JAX) and + 1 + rank (TensorFlow).
    return helpers.start_processes(BACKEND, code, world_size=2, cwd=helpers.REPO,
                                   port=free_port_span(3))


def _wait_killed(procs, bound):
    """Wait for process 1 to die by SIGKILL, then for process 0 to stop; bounded."""
    start = time.monotonic()
    died = None
    try:
        while procs[0].poll() is None or procs[1].poll() is None:
            now = time.monotonic()
            if died is None and procs[1].poll() is not None:
                died = now
            if now - start > 150 or (died is not None and now - died > bound):
                raise AssertionError(
                    f"process 0 still running {now - (died or start):.0f} s after "
                    f"{'process 1 died' if died else 'the start'}")
            time.sleep(0.05)
        died = died or time.monotonic()
        stopped_after = time.monotonic() - died
    finally:
        outputs = []
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
            outputs.append(proc.communicate())
    return stopped_after, outputs


@pytest.mark.skipif(not hasattr(backend._impl, "initialize_processes"),
                    reason=f"no multi-process engine on {BACKEND} yet")
def test_killed_worker_stops_the_other_and_both_resume_from_the_backup(tmp_path):
    killed = _launch(tmp_path, kill_at=7)
    stopped_after, outputs = _wait_killed(killed, SURVIVOR_BOUND)
    tails = "\n".join(f"--- process {i} (exit {p.returncode}):\n{out[1][-2500:]}"
                      for i, (p, out) in enumerate(zip(killed, outputs)))
    assert killed[1].returncode == -signal.SIGKILL, tails
    assert killed[0].returncode != 0, tails  # it stopped by itself, failing
    print(f"{BACKEND}: process 0 stopped {stopped_after:.1f} s after process 1 died "
          f"(exit {killed[0].returncode})", file=sys.stderr)
    # The last backup is the one of step 6 (steps 2, 4, 6; step 7 killed
    # process 1, so step 8 never completed): epoch 2, 2 steps done.
    with open(tmp_path / "backup" / "training_metadata.json") as f:
        metadata = json.load(f)
    assert (metadata["epoch"], metadata["steps_done"], metadata["iterations"]) == (1, 2, 6), tails

    # Restart both: they resume at step 7 and end with the weights of the
    # uninterrupted run (the same processes train it again afterwards).
    resumed = helpers.wait_processes(_launch(tmp_path, reference=True), timeout=150)
    assert [r["processes"] for r in resumed] == [2, 2]
    assert [r["iterations"] for r in resumed] == [8, 8]
    assert [r["reference"]["iterations"] for r in resumed] == [8, 8]
    # Resumed mid-epoch: 2 batches of epoch 2 replayed to advance the data, 2 trained.
    assert [r["steps_run"] for r in resumed] == [4, 4]
    assert [r["reference"]["steps_run"] for r in resumed] == [8, 8]
    assert not (tmp_path / "backup").exists()  # the chief deleted it at the end
    with np.load(tmp_path / "backup.npz") as got, np.load(tmp_path / "backup-reference.npz") as want:
        assert len(got.files) == len(want.files) > 0
        for name in want.files:
            np.testing.assert_array_equal(got[name], want[name])


# ------------------------------------------------------ a recipe, 2 processes
@pytest.mark.skipif(BACKEND != "torch", reason="torchrun starts the recipe the same way on "
                    "every backend; run once, on torch")
def test_recipe_under_torchrun_writes_once(tmp_path):
    """README's command: torchrun --nproc-per-node 2 recipes/dcgan_celeba.py ... --distribute."""
    import subprocess

    from tests.test_distribute_tf_mp import free_port_span

    command = [
        sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2",
        "--master-port", str(free_port_span(3)),
        os.path.join(helpers.REPO, "recipes", "dcgan_celeba.py"),
        "--dataset", "digits", "--smoke", "--distribute", "--no-export", "--latent-dim", "8",
        "--verbose", "0",
    ]
    env = helpers._backend_env(BACKEND)
    proc = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=240)
    assert proc.returncode == 0, proc.stderr[-4000:]
    out = proc.stdout
    # One process speaks (the chief); it trained 2 epochs x 2 steps over both processes.
    assert out.count("Data-parallel over 2 processes") == 1, out
    assert out.count("Generator steps trained in all (this run and any it resumed): 4") == 1, out
    written = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file())
    assert written == [
        "outputs/dcgan_digits/epoch_001.png", "outputs/dcgan_digits/epoch_002.png",
        "saved_models/dcgan_digits.keras", "saved_models/dcgan_digits_generator.keras",
    ], written  # and no backup left: the chief deletes it after a finished run
