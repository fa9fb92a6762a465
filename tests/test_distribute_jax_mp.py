"""keras_gen.distribute on JAX across processes: jax.distributed + DataParallel.

Two processes are started on 127.0.0.1 with torchrun's variables
(``tests.helpers.start_processes``), one CPU device each, joined by
``keras_gen.distribute.initialize()`` (``jax.distributed.initialize``, gloo
CPU collectives). Each trains an AutoEncoder (arrays) and a GAN (a
``tf.data.Dataset``), both with BatchNormalization, under
``data_parallel()`` on the same data with the global batch size; the
result is compared with the same models trained in this (single) process
on the same global batches.
"""

import json

import keras
import numpy as np
import pytest

from tests import helpers
from tests.test_distribute import MODELS
from tests.test_distribute_tf_mp import free_port_span

BACKEND = keras.backend.backend()

pytestmark = pytest.mark.skipif(
    BACKEND != "jax",
    reason=f"exercises jax.distributed; this run's backend is {BACKEND}",
)

# Run by each process (and, with SINGLE = True, by this one for the reference).
STEPS = """
import tensorflow as tf

def train(kind, cls=None):
    keras.utils.set_random_seed(1)
    with scope() as engine:
        m, x = make(kind, cls=cls)
    w0 = [w.tolist() for w in m.get_weights()]
    if kind == "ae":  # arrays, global batch 16, shuffled (the same order everywhere)
        h = m.fit(x, batch_size=16, epochs=1, shuffle=True, verbose=0).history
        ev = m.evaluate(x, batch_size=16, verbose=0)
    else:  # a tf.data.Dataset of global batches
        data = tf.data.Dataset.from_tensor_slices(x).batch(16)
        h = m.fit(data, epochs=1, shuffle=False, verbose=0).history
        ev = None
    seed = m.sampling.seed_generator.state if kind == "vae" else getattr(m, "seed_generator", None)
    return {
        "w0": w0,
        "weights": [w.tolist() for w in m.get_weights()],
        "names": [v.path for v in m.weights],
        "seed": None if seed is None else np.asarray(seed.state.value).tolist(),
        "logs": h,
        "eval": ev,
        "sample": list(m.sample(4).shape) if kind == "gan" else None,
    }
"""

PROCESS = (
    """
import keras_gen
count = keras_gen.distribute.initialize()
"""
    + MODELS
    + STEPS
    + """
import jax
scope = keras_gen.distribute.data_parallel
again = keras_gen.distribute.initialize()  # a second call is a no-op
out = {"count": count, "again": again, "rank": keras_gen.distribute.process_index(),
       "chief": keras_gen.distribute.is_chief(), "devices": len(jax.devices()),
       "local": len(jax.local_devices())}
try:
    keras_gen.distribute.data_parallel(devices=1)
except ValueError as err:
    out["devices_error"] = str(err)
out["replicas"] = scope().num_replicas
SEEN = []

def probed(base):
    class Probed(base):
        def train_step(self, data):
            # Inside the jitted step: how the batch is laid out on the devices.
            jax.debug.inspect_array_sharding(keras.tree.flatten(data)[0], callback=SEEN.append)
            return super().train_step(data)
    return Probed

out["ae"] = train("ae", probed(keras_gen.AutoEncoder))
out["gan"] = train("gan", probed(keras_gen.GAN))
# Different data in each process (here another order; a user error): every
# process stops at the
# first step with the batch error, none trains on a mix of the copies.
keras.utils.set_random_seed(2)
with scope():
    bad, x = make("ae")
try:
    bad.fit(x if out["rank"] == 0 else x[::-1].copy(), batch_size=16, epochs=1,
            shuffle=False, verbose=0)
    out["mismatch"] = None
except Exception as err:
    out["mismatch"] = str(err)
out["batch_layouts"] = sorted({(len(s.device_set), s.is_fully_replicated, str(s.spec[0]))
                               for s in SEEN})
# The weights go through a file: a pipe holds only 64 KiB until read.
import os
path = os.path.join(os.environ["KG_OUT"], f"rank{out['rank']}.json")
with open(path, "w") as f:
    json.dump(out, f)
print(json.dumps({"path": path}))
"""
)


def _reference():
    import contextlib

    space = {}
    exec(MODELS + STEPS, space)
    space["scope"] = contextlib.nullcontext
    return {kind: space["train"](kind) for kind in ("ae", "gan")}


def _arrays(weights):
    return [np.asarray(w, "float32") for w in weights]


def test_two_processes_train_as_one_on_the_global_batch(tmp_path):
    procs = helpers.start_processes("jax", PROCESS, port=free_port_span(2),
                                    env={"KG_OUT": str(tmp_path)})
    ref = _reference()
    ranks = []
    for done in helpers.wait_processes(procs, timeout=180):
        with open(done["path"]) as f:
            ranks.append(json.load(f))
    for rank, out in enumerate(ranks):
        assert out["count"] == out["again"] == 2 and out["rank"] == rank
        assert out["chief"] == (rank == 0)
        # One CPU device per process; the mesh spans both processes.
        assert (out["devices"], out["local"], out["replicas"]) == (2, 1, 2)
        assert "devices must be None" in out["devices_error"]
        assert "Received: devices=1" in out["devices_error"]
    for kind in ("ae", "gan"):
        r0, r1, one = ranks[0][kind], ranks[1][kind], ref[kind]
        # Same seeds: the same initial weights in every process and here.
        for a, b in zip(_arrays(r0["w0"]), _arrays(one["w0"])):
            np.testing.assert_array_equal(a, b)
        # Both processes hold the same (replicated) state, bit for bit:
        # weights, BatchNorm moving statistics, SeedGenerator state.
        assert any("moving_mean" in n for n in r0["names"])
        for a, b in zip(_arrays(r0["weights"]), _arrays(r1["weights"])):
            np.testing.assert_array_equal(a, b)
        assert r0["seed"] == r1["seed"]
        # ... and equal the single-process run on the same global batches
        # (SPMD draws the whole batch's noise from the same state) up to
        # float reduction order.
        assert r0["seed"] == one["seed"]
        for name, a, b in zip(r0["names"], _arrays(r0["weights"]), _arrays(one["weights"])):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6, err_msg=f"{kind} {name}")
        # Logged losses are global-batch means, as in one process.
        assert r0["logs"] == r1["logs"]
        for key, values in one["logs"].items():
            assert r0["logs"][key] == pytest.approx(values, rel=1e-5, abs=1e-6), (kind, key)
    assert ranks[0]["ae"]["eval"] == pytest.approx(ref["ae"]["eval"], rel=1e-5)
    assert ranks[0]["gan"]["sample"] == [4, 4, 4, 1]
    # Each device computed on its slice of the batch: the steps saw it split
    # over the two processes' devices along the batch axis.
    for out in ranks:
        assert out["batch_layouts"] == [[2, False, "batch"]]
        # Different data in the two processes: both raised, at once.
        assert out["mismatch"] is not None
        assert "the processes' batches differ" in out["mismatch"]


def test_batch_fingerprint_tells_batches_apart():
    from keras_gen.backend import _jax

    x = np.arange(24, dtype="float32").reshape(4, 6) / 7
    labels = np.arange(4)
    same = _jax.batch_fingerprint([x, labels])
    assert np.array_equal(same, _jax.batch_fingerprint([x.copy(), labels.copy()]))
    # Another order, one value changed, other labels, NaN (equal to itself).
    for other in ([x[::-1], labels], [x + np.eye(4, 6, dtype="float32"), labels],
                  [x, labels[::-1]]):
        assert not np.array_equal(same, _jax.batch_fingerprint(other))
    nan = np.where(x > 1, np.nan, x)
    assert np.array_equal(_jax.batch_fingerprint([nan]), _jax.batch_fingerprint([nan.copy()]))
    with pytest.raises(ValueError, match="batches differ") as info:
        _jax._raise_if_batches_differ(np.array([[1, 2], [1, 3]]))
    assert "Received: batch fingerprints [[1, 2], [1, 3]]" in str(info.value)
    _jax._raise_if_batches_differ(np.array([[1, 2], [1, 2]]))  # equal: nothing


def test_initialize_after_jax_started_is_refused(monkeypatch):
    # JAX refuses jax.distributed.initialize once its backends have started,
    # before any peer is contacted: a clear error, at once.
    import jax

    from keras_gen.backend import _jax

    jax.numpy.zeros(1).block_until_ready()  # JAX has started (as in any test process)
    monkeypatch.setattr(_jax, "_LAUNCH", None)
    launch = {"world_size": 2, "rank": 0, "local_rank": 0, "addr": "127.0.0.1",
              "port": helpers.free_port()}
    with pytest.raises(RuntimeError, match="must run before JAX computes anything") as info:
        _jax.initialize_processes(launch)
    assert "Received: launch=" in str(info.value)
    assert _jax._LAUNCH is None and not jax.distributed.is_initialized()


def test_a_second_launch_is_refused(monkeypatch):
    from keras_gen.backend import _jax

    launch = {"world_size": 2, "rank": 1, "local_rank": 1, "addr": "127.0.0.1", "port": 29500}
    monkeypatch.setattr(_jax, "_LAUNCH", dict(launch))
    _jax.initialize_processes(dict(launch))  # the same launch: nothing to do
    with pytest.raises(ValueError, match="already joined another launch") as info:
        _jax.initialize_processes(dict(launch, port=29501))
    assert "Received: launch=" in str(info.value)


def test_coordinator_listens_above_the_launcher_port():
    from keras_gen.backend import _jax

    launch = {"world_size": 2, "rank": 1, "local_rank": 1, "addr": "10.0.0.5", "port": 29500}
    # torchrun's agent holds MASTER_PORT itself.
    assert _jax.coordinator_address(launch) == "10.0.0.5:29501"
    assert _jax.coordinator_address(dict(launch, addr="::1")) == "[::1]:29501"
    with pytest.raises(ValueError, match="MASTER_PORT=65535"):
        _jax.coordinator_address(dict(launch, port=65535))


def test_several_processes_per_host_take_one_accelerator_each():
    from keras_gen.backend import _jax

    launch = {"world_size": 4, "rank": 3, "local_rank": 1, "addr": "10.0.0.5", "port": 29500}
    # torchrun --nproc-per-node 2: process LOCAL_RANK takes GPU LOCAL_RANK.
    assert _jax.local_device_ids(launch, environ={"LOCAL_WORLD_SIZE": "2"}) == [1]
    # One process per host (or no LOCAL_WORLD_SIZE): every local GPU.
    assert _jax.local_device_ids(launch, environ={"LOCAL_WORLD_SIZE": "1"}) is None
    assert _jax.local_device_ids(launch, environ={}) is None
    # The user's own choice is JAX's to read.
    environ = {"LOCAL_WORLD_SIZE": "2", "JAX_LOCAL_DEVICE_IDS": "0,1"}
    assert _jax.local_device_ids(launch, environ=environ) is None


def test_an_uncaught_error_ends_a_joined_process_at_once(tmp_path):
    # A process that fails alone must not wait in jax.distributed's shutdown
    # barrier (an hour) while its peers wait for it in a collective: after
    # initialize, an uncaught exception prints its traceback and exits 1
    # without Python's normal exit (atexit, where the barrier runs).
    import os
    import subprocess
    import sys

    code = (
        "import atexit\n"
        "from keras_gen.backend import _jax\n"
        "atexit.register(lambda: print('normal exit ran', flush=True))\n"
        "_jax._exit_at_once_on_uncaught_errors()\n"
        "_jax._exit_at_once_on_uncaught_errors()  # once only\n"
        "raise OSError('disk full in process 1')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, cwd=str(tmp_path),
                          env=dict(os.environ, KERAS_BACKEND="jax",
                                   PYTHONPATH=helpers.REPO))
    assert done.returncode == 1
    assert "OSError: disk full in process 1" in done.stderr
    assert done.stderr.count("Traceback") == 1
    assert "normal exit ran" not in done.stdout
