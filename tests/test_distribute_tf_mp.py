"""keras_gen.distribute on TensorFlow across processes: MultiWorkerMirroredStrategy.

Two processes are started on 127.0.0.1 with torchrun's variables
(``tests.helpers.start_processes``); ``keras_gen.distribute.initialize()``
derives their ``TF_CONFIG`` (worker i on MASTER_PORT + 1 + i) and creates
the strategy. Each trains an AutoEncoder (arrays, synchronized
BatchNormalization) and a GAN (a ``tf.data.Dataset``) under
``data_parallel()`` on the same data with the global batch size; the
result is compared with the same models trained in this (single) process
on the same global batches. The GAN's reference draws its latent vectors
as the two workers do: both replicas read the same (mirrored)
SeedGenerator state, so their halves of the batch share z.
"""

import json

import keras
import numpy as np
import pytest

from tests import helpers
from tests.test_distribute import MODELS

BACKEND = keras.backend.backend()

pytestmark = pytest.mark.skipif(
    BACKEND != "tensorflow",
    reason=f"exercises MultiWorkerMirroredStrategy; this run's backend is {BACKEND}",
)

# Run by each process and, with `scope` a null context, by this one for the
# reference.
STEPS = """
import tensorflow as tf

class SharedZGAN(keras_gen.GAN):
    # One process's equivalent of two workers' replicas: each draws its
    # half-batch of z from the same SeedGenerator state.
    def _latents(self, batch_size):
        half = keras.random.normal((batch_size // 2, self.latent_dim), seed=self.seed_generator)
        return ops.concatenate([half, half], axis=0)

def synced_encoder():
    # Under tf.distribute, BatchNormalization needs synchronized=True for
    # global-batch statistics (otherwise each replica keeps its own).
    inputs = keras.Input((8, 8, 1))
    h = keras.layers.Dense(32)(keras.layers.Flatten()(inputs))
    h = keras.layers.Activation("relu")(keras.layers.BatchNormalization(synchronized=True)(h))
    return keras.Model(inputs, keras.layers.Dense(2)(h))

def train(kind, gan_cls=None):
    keras.utils.set_random_seed(1)
    with scope():
        if kind == "ae":
            m = keras_gen.AutoEncoder(synced_encoder(), tiny_decoder())
            m.compile(optimizer=keras.optimizers.SGD(0.1))
            x = X_AE
            m.build((None,) + x.shape[1:])
        else:
            m, x = make("gan", cls=gan_cls, batch_norm=False)
    w0 = [w.tolist() for w in m.get_weights()]
    if kind == "ae":  # arrays, global batch 16, shuffled (the same order everywhere)
        h = m.fit(x, batch_size=16, epochs=1, shuffle=True, verbose=0).history
        ev = m.evaluate(x, batch_size=16, verbose=0)
        # 7 examples: the workers' shares differ in size (4 and 3); Keras
        # reduces the first batch across replicas to trace with it, which
        # aborted every worker ("Shape mismatch in the collective").
        ev7 = m.evaluate(x[:7], batch_size=16, verbose=0)
    else:  # a tf.data.Dataset of global batches
        h = m.fit(tf.data.Dataset.from_tensor_slices(x).batch(16), epochs=1, shuffle=False,
                  verbose=0).history
        ev = ev7 = None
    return {
        "w0": w0,
        "weights": [w.tolist() for w in m.get_weights()],
        "names": [v.path for v in m.weights],
        "seed": m.seed_generator.state.numpy().tolist() if kind == "gan" else None,
        "logs": h,
        "eval": ev,
        "eval7": ev7,
        "kind": type(m.trainable_variables[0].value).__name__,
    }
"""

PROCESS = (
    """
import keras_gen
count = keras_gen.distribute.initialize()  # first: the strategy starts TensorFlow
import os
from keras.src.utils import rng_utils
SEED_AT_START = rng_utils.get_random_seed()  # initialize's common seed
"""
    + MODELS
    + STEPS
    + """
scope = keras_gen.distribute.data_parallel
again = keras_gen.distribute.initialize()  # a second call is a no-op
out = {"count": count, "again": again, "rank": keras_gen.distribute.process_index(),
       "chief": keras_gen.distribute.is_chief(),
       "tf_config": json.loads(os.environ["TF_CONFIG"]), "seed_at_start": SEED_AT_START}
try:
    keras_gen.distribute.data_parallel(devices=1)
except ValueError as err:
    out["devices_error"] = str(err)
with scope() as engine:
    out["engine"] = [isinstance(engine, tf.distribute.MultiWorkerMirroredStrategy),
                     engine.num_replicas_in_sync]
    out["same"] = engine is keras_gen.distribute.data_parallel().engine
out["ae"] = train("ae")
out["gan"] = train("gan")
# The weights go through a file: a pipe holds only 64 KiB until read.
path = os.path.join(os.environ["KG_OUT"], f"rank{out['rank']}.json")
with open(path, "w") as f:
    json.dump(out, f)
print(json.dumps({"path": path}))
"""
)


free_port_span = helpers.free_port_span  # imported from here by other tests


def _reference():
    import contextlib

    space = {}
    exec(MODELS + STEPS, space)
    space["scope"] = contextlib.nullcontext
    return {"ae": space["train"]("ae"), "gan": space["train"]("gan", space["SharedZGAN"])}


def _arrays(weights):
    return [np.asarray(w, "float32") for w in weights]


def test_two_workers_train_as_one_on_the_global_batch(tmp_path):
    port = free_port_span(3)
    procs = helpers.start_processes("tensorflow", PROCESS, port=port,
                                    env={"KG_OUT": str(tmp_path)})
    ref = _reference()
    ranks = []
    for done in helpers.wait_processes(procs, timeout=180):
        with open(done["path"]) as f:
            ranks.append(json.load(f))
    workers = [f"127.0.0.1:{port + 1}", f"127.0.0.1:{port + 2}"]
    # Unseeded, the workers agreed on one seed (else each shuffles its own
    # way and takes its part of a different global batch, silently).
    assert ranks[0]["seed_at_start"] is not None
    assert ranks[0]["seed_at_start"] == ranks[1]["seed_at_start"]
    for rank, out in enumerate(ranks):
        assert out["count"] == out["again"] == 2 and out["rank"] == rank
        assert out["chief"] == (rank == 0)
        # The derived TF_CONFIG: worker i listens on MASTER_PORT + 1 + i.
        assert out["tf_config"] == {"cluster": {"worker": workers},
                                    "task": {"type": "worker", "index": rank}}
        # One strategy per process, one replica per worker.
        assert out["engine"] == [True, 2]
        assert out["same"]
        assert "devices must be None" in out["devices_error"]
        assert "Received: devices=1" in out["devices_error"]
    for kind in ("ae", "gan"):
        r0, r1, one = ranks[0][kind], ranks[1][kind], ref[kind]
        assert r0["kind"] == "MirroredVariable"
        for a, b in zip(_arrays(r0["w0"]), _arrays(one["w0"])):
            np.testing.assert_array_equal(a, b)
        # Both workers hold the same state, bit for bit: weights, the
        # synchronized BatchNorm's moving statistics, the SeedGenerator.
        for a, b in zip(_arrays(r0["weights"]), _arrays(r1["weights"])):
            np.testing.assert_array_equal(a, b)
        assert r0["seed"] == r1["seed"] == one["seed"]
        # ... equal to one process on the same global batches (the loss is
        # divided by the 2 replicas before the gradients are summed; the
        # BatchNorm statistics are the global batch's), up to float
        # reduction order.
        for name, a, b in zip(r0["names"], _arrays(r0["weights"]), _arrays(one["weights"])):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6, err_msg=f"{kind} {name}")
        # Logs are global-batch means, the same on both workers.
        assert r0["logs"] == r1["logs"]
        for key, values in one["logs"].items():
            assert r0["logs"][key] == pytest.approx(values, rel=1e-5, abs=1e-6), (kind, key)
    assert any("moving_mean" in n for n in ranks[0]["ae"]["names"])
    assert ranks[0]["ae"]["eval"] == pytest.approx(ref["ae"]["eval"], rel=1e-5)
    # An uneven batch runs; each worker's loss is its share's mean and the
    # logged value the mean of the two (4 and 3 examples), the same on both.
    assert ranks[0]["ae"]["eval7"] == ranks[1]["ae"]["eval7"]
    assert np.isfinite(ranks[0]["ae"]["eval7"]) and ranks[0]["ae"]["eval7"] > 0


def test_initialize_after_tensorflow_started_is_refused(monkeypatch):
    # TensorFlow refuses to configure collective ops once it has run an
    # operation, before any peer is contacted: a clear error, at once.
    import tensorflow as tf

    from keras_gen.backend import _tensorflow

    tf.constant(1.0) + 1.0  # TensorFlow has started (as in any test process)
    ports = [helpers.free_port(), helpers.free_port()]
    monkeypatch.setenv("TF_CONFIG", json.dumps({
        "cluster": {"worker": [f"127.0.0.1:{p}" for p in ports]},
        "task": {"type": "worker", "index": 0}}))
    monkeypatch.setattr(_tensorflow, "_MULTI_WORKER", [])
    with pytest.raises(RuntimeError, match="must be created before TensorFlow runs any operation") as info:
        _tensorflow.initialize_processes(_launch(rank=0, world_size=2))
    assert "call keras_gen.distribute.initialize() first" in str(info.value)
    assert _tensorflow._MULTI_WORKER == []


# ------------------------------------------------- TF_CONFIG, in this process
def _launch(rank=0, world_size=2, local_rank=None, port=29500):
    return {"world_size": world_size, "rank": rank,
            "local_rank": rank if local_rank is None else local_rank,
            "addr": "127.0.0.1", "port": port}


def test_worker_addresses_follow_the_master_port():
    from keras_gen.backend import _tensorflow

    assert _tensorflow.worker_addresses(_launch(rank=1, world_size=3), environ={}) == [
        "127.0.0.1:29501", "127.0.0.1:29502", "127.0.0.1:29503"]
    launch = dict(_launch(), addr="::1")
    assert _tensorflow.worker_addresses(launch, environ={})[0] == "[::1]:29501"


@pytest.mark.parametrize(
    "launch, environ, match",
    [
        (_launch(rank=2, world_size=4, local_rank=0), {}, "only for processes on one host"),
        (_launch(rank=0, world_size=4), {"LOCAL_WORLD_SIZE": "2"}, "LOCAL_WORLD_SIZE=2"),
        (_launch(port=65534), {}, "passes 65535"),
    ],
)
def test_several_hosts_without_tf_config_are_refused(launch, environ, match):
    from keras_gen.backend import _tensorflow

    with pytest.raises(ValueError, match=match) as info:
        _tensorflow.worker_addresses(launch, environ=environ)
    assert "Received:" in str(info.value)


@pytest.mark.parametrize(
    "tf_config, match",
    [
        ({"cluster": {"worker": ["a:1", "b:1", "c:1"]}, "task": {"type": "worker", "index": 0}},
         "describes process 0 of 3"),
        ({"cluster": {"worker": ["a:1", "b:1"]}, "task": {"type": "worker", "index": 1}},
         "describes process 1 of 2"),
        ({"cluster": {"worker": ["a:1"]}, "task": {"type": "ps", "index": 0}}, "a 'chief' or a 'worker'"),
        # A cluster without a task (one string for every process): worker RANK.
        ({"cluster": {"worker": ["a:1", "b:1", "c:1"]}}, "describes process 0 of 3"),
    ],
)
def test_a_tf_config_that_disagrees_with_the_launch_is_refused(monkeypatch, tf_config, match):
    from keras_gen.backend import _tensorflow

    monkeypatch.setenv("TF_CONFIG", json.dumps(tf_config))
    with pytest.raises(ValueError, match=match) as info:
        _tensorflow.initialize_processes(_launch(rank=0, world_size=2))
    assert "TF_CONFIG" in str(info.value)
    assert not _tensorflow._MULTI_WORKER  # refused before any strategy was made


def test_malformed_tf_config_is_refused(monkeypatch):
    from keras_gen.backend import _tensorflow

    monkeypatch.setenv("TF_CONFIG", "{not json")
    with pytest.raises(ValueError, match="TF_CONFIG must be JSON"):
        _tensorflow.initialize_processes(_launch())


def test_process_index_counts_a_chief_first(monkeypatch):
    from keras_gen import distribute

    cluster = {"chief": ["c:1"], "worker": ["w:1", "w:2"]}
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": cluster,
                                                "task": {"type": "worker", "index": 1}}))
    assert (distribute.process_index(), distribute.process_count()) == (2, 3)
    assert not distribute.is_chief()
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": cluster,
                                                "task": {"type": "chief", "index": 0}}))
    assert distribute.is_chief()
    monkeypatch.delenv("TF_CONFIG")
    assert (distribute.process_index(), distribute.process_count()) == (0, 1)


def test_several_processes_per_host_take_one_gpu_each():
    from keras_gen.backend import _tensorflow

    launch = _launch(rank=3, world_size=4, local_rank=1)
    assert _tensorflow.local_gpu(launch, 2, environ={"LOCAL_WORLD_SIZE": "2"}) == 1
    # One process per host, no GPU, or one visible GPU per process: unchanged.
    assert _tensorflow.local_gpu(launch, 2, environ={"LOCAL_WORLD_SIZE": "1"}) is None
    assert _tensorflow.local_gpu(launch, 0, environ={"LOCAL_WORLD_SIZE": "2"}) is None
    assert _tensorflow.local_gpu(launch, 1, environ={"LOCAL_WORLD_SIZE": "2"}) is None
