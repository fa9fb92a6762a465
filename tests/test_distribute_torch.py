"""keras_gen.distribute on PyTorch: data-parallel training across processes.

Two processes on 127.0.0.1 (``tests.helpers.start_processes``: torchrun's
variables, gloo on the CPU) run one script. Each process also trains the
same models alone (no engine) from the same initial weights on the same
global batches: the reference a one-process run gives. Plain SGD, so that
equal gradients show as equal weights.
"""

import keras
import pytest

import keras_gen
from keras_gen import distribute
from tests import helpers

BACKEND = keras.backend.backend()

pytestmark = pytest.mark.skipif(
    BACKEND != "torch",
    reason=f"exercises the torch.distributed engine; this run's backend is {BACKEND}",
)

CASE = """
import hashlib, json, random
import numpy as np
import torch
import keras
import keras_gen

count = keras_gen.distribute.initialize()
from tests.helpers import tiny_decoder, tiny_encoder

rank = keras_gen.distribute.process_index()
rng = np.random.default_rng(0)
X_AE = rng.uniform(0, 1, (37, 8, 8, 1)).astype("float32")    # batches 16, 16, 5: shares 3 / 2
X_GAN = rng.uniform(-1, 1, (33, 4, 4, 1)).astype("float32")  # last batch 1: rank 1 has none

def gan_nets():
    g = keras.Sequential([keras.Input((2,)), keras.layers.Dense(16, activation="tanh"),
                          keras.layers.Reshape((4, 4, 1))])
    d = keras.Sequential([keras.Input((4, 4, 1)), keras.layers.Flatten(),
                          keras.layers.Dense(8, activation="relu"), keras.layers.Dense(1)])
    return g, d

def make(kind, batch_norm=False):
    if kind == "ae":
        m = keras_gen.AutoEncoder(tiny_encoder(batch_norm=batch_norm), tiny_decoder())
        # A compiled metric sums over examples: exact on the uneven batch too.
        m.compile(optimizer=keras.optimizers.SGD(0.5), metrics=["mae"])
    elif kind == "vae":
        m = keras_gen.VAE(tiny_encoder(variational=True), tiny_decoder(), seed=3)
        m.compile(optimizer=keras.optimizers.SGD(0.5))
    else:
        m = keras_gen.GAN(*gan_nets(), latent_dim=2, d_steps=2, seed=5, reuse_fakes=True)
        m.compile(d_optimizer=keras.optimizers.SGD(0.2), g_optimizer=keras.optimizers.SGD(0.2))
    return m

def seed(s):  # keras.utils.set_random_seed without importing TensorFlow
    random.seed(s)
    np.random.seed(s)
    torch.manual_seed(s)

def fit(m, x, epochs):
    seed(7)  # the same shuffles (torch's global generator) for the reference and the engine
    h = m.fit(x, batch_size=16, epochs=epochs, shuffle=True, verbose=0).history
    return {k: [float(v) for v in vs] for k, vs in h.items()}

def digest(values):
    return hashlib.sha1(b"".join(np.asarray(v).tobytes() for v in values)).hexdigest()

def max_diff(a, b):
    return max(float(np.max(np.abs(u - v))) for u, v in zip(a, b))

out = {"count": count, "rank": rank, "chief": keras_gen.distribute.is_chief()}
for kind, x, epochs in (("ae", X_AE, 2), ("vae", X_AE, 1), ("gan", X_GAN, 2)):
    seed(1)
    ref = make(kind)
    w0 = ref.get_weights()
    h_ref = fit(ref, x, epochs)
    with keras_gen.distribute.data_parallel() as engine:
        m = make(kind)
    # Rank 1 starts from other weights: rank 0's are broadcast at the first step.
    m.set_weights([w + rank for w in w0])
    h = fit(m, x, epochs)   # after the `with` block, as user code does
    seeds = [v.numpy() for v in m.non_trainable_variables if "seed" in v.path]
    opt = [v.numpy() for o in keras_gen.backend.registered_optimizers(m) for v in o.variables]
    out[kind] = {
        "replicas": engine.num_replicas, "engine": type(engine).__name__,
        "max_diff": max_diff(ref.get_weights(), m.get_weights()),
        "logs": [h_ref, h],
        "weights": digest(m.get_weights()), "state": digest(seeds + opt), "n_seeds": len(seeds),
        "eval": [ref.evaluate(x, batch_size=16, verbose=0, return_dict=True),
                 m.evaluate(x, batch_size=16, verbose=0, return_dict=True)],
    }

# BatchNorm: after one step on one global batch the moving mean is the
# single-process one (the processes' weighted average of their shares' means
# is the global mean); after more steps the moving statistics stay equal on
# every rank (each rank normalises by its own share, as DDP without SyncBatchNorm).
seed(2)
ref = make("ae", batch_norm=True)
w0 = ref.get_weights()
ref.fit(X_AE[:16], batch_size=16, epochs=1, shuffle=False, verbose=0)
with keras_gen.distribute.data_parallel():
    m = make("ae", batch_norm=True)
m.set_weights(w0)
m.fit(X_AE[:16], batch_size=16, epochs=1, shuffle=False, verbose=0)
moving = lambda model: [v.numpy() for v in model.non_trainable_variables if "moving" in v.path]
means = lambda model: [v.numpy() for v in model.non_trainable_variables if "moving_mean" in v.path]
one_step = max_diff(means(ref), means(m))
m.fit(X_AE, batch_size=16, epochs=2, shuffle=True, verbose=0)
out["bn"] = {"one_step": one_step, "n_moving": len(moving(m)), "moving": digest(moving(m)),
             "weights": digest(m.get_weights())}

# Keras's Dropout without a seed draws from torch's global generator, more on
# rank 0 than on rank 1 on the 3 / 2 last batch; the engine puts the generator
# back after each step, so the next epochs' shuffles are still cut alike.
enc = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(),
                        keras.layers.Dense(32, activation="relu"), keras.layers.Dropout(0.3),
                        keras.layers.Dense(2)])
with keras_gen.distribute.data_parallel():
    m = keras_gen.AutoEncoder(enc, tiny_decoder())
    m.compile(optimizer=keras.optimizers.SGD(0.5))
seed(3)
try:
    m.fit(X_AE, batch_size=16, epochs=3, shuffle=True, verbose=0)
    out["dropout"] = digest(m.get_weights())
except ValueError as err:
    out["dropout"] = str(err)

# Each process must see the same global batches: rank 1's are in another order.
with keras_gen.distribute.data_parallel():
    m = make("ae")
try:
    m.fit(X_AE[::-1] if rank else X_AE, batch_size=16, epochs=1, shuffle=False, verbose=0)
    out["mismatch"] = None
except ValueError as err:
    out["mismatch"] = str(err)
try:
    keras_gen.distribute.data_parallel(devices=3)
    out["devices"] = None
except ValueError as err:
    out["devices"] = str(err)
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def runs():
    # One intra-op thread each: the networks are tiny and the processes share the CPU.
    procs = helpers.start_processes("torch", CASE, env={"OMP_NUM_THREADS": "1"})
    return helpers.wait_processes(procs, timeout=240)


def test_ranks_and_engine(runs):
    assert [r["rank"] for r in runs] == [0, 1]
    assert [r["count"] for r in runs] == [2, 2]
    assert [r["chief"] for r in runs] == [True, False]
    for r in runs:
        for kind in ("ae", "vae", "gan"):
            assert r[kind]["replicas"] == 2
            assert r[kind]["engine"] == "ProcessDataParallel"


@pytest.mark.parametrize("kind", ["ae", "vae", "gan"])
def test_training_equals_one_process_on_the_global_batches(runs, kind):
    for r in runs:
        # Gradients of each share's mean loss, weighted by the share and
        # summed over the processes: the global-batch gradient. Uneven last
        # batches included (3 / 2 examples; 1 / 0 for the GAN). The noise (z,
        # eps) is the global batch's, sliced. Tolerance: float reduction order.
        assert r[kind]["max_diff"] < 1e-5, (kind, r["rank"], r[kind]["max_diff"])
        h_ref, h = r[kind]["logs"]
        assert sorted(h) == sorted(h_ref) and ("mae" in h) == (kind == "ae")
        for key in h_ref:  # logged metrics: the global batch's, as alone
            assert h[key] == pytest.approx(h_ref[key], rel=1e-5, abs=1e-6), key
        ev_ref, ev = r[kind]["eval"]
        for key in ev_ref:
            assert ev[key] == pytest.approx(ev_ref[key], rel=1e-5, abs=1e-6), key
    first, second = runs
    # Bitwise the same on both ranks: weights (rank 1 started elsewhere),
    # SeedGenerator states and every optimizer variable; logs and evaluation.
    for key in ("weights", "state", "logs", "eval"):
        assert first[kind][key] == second[kind][key], key
    if kind != "ae":
        assert first[kind]["n_seeds"] >= 1


def test_batch_norm_statistics_stay_equal_across_ranks(runs):
    first, second = runs
    assert first["bn"]["n_moving"] == 2
    for r in runs:
        assert r["bn"]["one_step"] < 1e-6
    assert first["bn"]["moving"] == second["bn"]["moving"]
    assert first["bn"]["weights"] == second["bn"]["weights"]


def test_unseeded_dropout_keeps_the_shuffles_alike(runs):
    first, second = runs
    assert "differ" not in first["dropout"]
    assert first["dropout"] == second["dropout"]


def test_different_batches_and_devices_are_refused(runs):
    for r in runs:
        assert "processes' batches differ" in r["mismatch"]
        assert "devices must be None or 2" in r["devices"]
        assert "Received: devices=3" in r["devices"]


# -------------------------------------------------------- in this process
def test_bad_launch_is_refused(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "2")
    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")
    monkeypatch.setenv("MASTER_PORT", str(helpers.free_port()))
    with pytest.raises(ValueError, match="RANK must be an integer between 0 and 1"):
        distribute.initialize()


def test_one_process_trains_as_without_the_engine():
    import numpy as np

    x = np.random.default_rng(0).uniform(0, 1, (8, 8, 8, 1)).astype("float32")
    ref = keras_gen.AutoEncoder(helpers.tiny_encoder(), helpers.tiny_decoder())
    ref.compile(optimizer=keras.optimizers.SGD(0.1))
    scope = distribute.data_parallel()
    with scope as engine:
        m = keras_gen.AutoEncoder(helpers.tiny_encoder(), helpers.tiny_decoder())
        m.compile(optimizer=keras.optimizers.SGD(0.1))
    assert scope.num_replicas == engine.num_replicas == 1
    assert distribute.process_count() == 1 and distribute.is_chief()
    m.set_weights(ref.get_weights())
    h_ref = ref.fit(x, batch_size=4, epochs=1, shuffle=False, verbose=0).history
    h = m.fit(x, batch_size=4, epochs=1, shuffle=False, verbose=0).history
    assert h == h_ref
    for a, b in zip(ref.get_weights(), m.get_weights()):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="Received: devices=2"):
        distribute.data_parallel(devices=2)
