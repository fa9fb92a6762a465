"""keras_gen.distribute: data-parallel training on two virtual CPU devices.

The device count must be fixed before the backend initialises, so every
multi-device case runs in a fresh subprocess of its own backend (the
running one): JAX with ``--xla_force_host_platform_device_count=2``,
TensorFlow with the CPU split into two logical devices. Each compares a
model trained data-parallel with the same model trained on one device from
the same initial weights and seeds, on the same global batches.
"""

import doctest
import math

import keras
import pytest

import keras_gen
from keras_gen import distribute
from tests import helpers

BACKEND = keras.backend.backend()


def only(backend):
    return pytest.mark.skipif(
        BACKEND != backend,
        reason=f"exercises the {backend} engine; this run's backend is {BACKEND}",
    )


# Shared by the subprocesses: small models with BatchNorm, SeedGenerators
# and (for the GAN) an OptimizerGroup, and plain SGD so that equal gradients
# show as equal weights (Adam would amplify float round-off in near-zero
# gradients).
MODELS = """
import json
import numpy as np
import keras
from keras import ops
import keras_gen
from tests.helpers import tiny_decoder, tiny_encoder

rng = np.random.default_rng(0)
X_AE = rng.uniform(0, 1, (48, 8, 8, 1)).astype("float32")
X_GAN = rng.uniform(-1, 1, (48, 4, 4, 1)).astype("float32")

def gan_nets(batch_norm):
    g = [keras.Input((2,)), keras.layers.Dense(16)]
    if batch_norm:
        g.append(keras.layers.BatchNormalization())
    g += [keras.layers.Activation("tanh"), keras.layers.Reshape((4, 4, 1))]
    d = keras.Sequential([keras.Input((4, 4, 1)), keras.layers.Flatten(),
                          keras.layers.Dense(8, activation="relu"), keras.layers.Dense(1)])
    return keras.Sequential(g), d

def make(kind, cls=None, batch_norm=True, lr=0.1):
    if kind == "ae":
        m = (cls or keras_gen.AutoEncoder)(tiny_encoder(batch_norm=batch_norm), tiny_decoder())
    elif kind == "vae":
        m = (cls or keras_gen.VAE)(tiny_encoder(variational=True, batch_norm=batch_norm),
                                   tiny_decoder(), seed=3)
    else:
        g, d = gan_nets(batch_norm)
        m = (cls or keras_gen.GAN)(g, d, latent_dim=2, d_steps=2, seed=5)
    if kind == "gan":
        m.compile(d_optimizer=keras.optimizers.SGD(lr), g_optimizer=keras.optimizers.SGD(lr))
    else:
        m.compile(optimizer=keras.optimizers.SGD(lr))
    x = X_GAN if kind == "gan" else X_AE
    if not m.built:
        m.build((None,) + x.shape[1:])
    return m, x

def fit(m, x, epochs=1):
    return m.fit(x, batch_size=16, epochs=epochs, shuffle=False, verbose=0).history

def max_diff(a, b):
    return max(float(np.max(np.abs(u - v))) for u, v in zip(a.get_weights(), b.get_weights()))


def uneven(m, x):
    # fit on 21 examples in batches of 4: a last batch of 1 cannot split over 2
    # devices; as arrays, as a tf.data.Dataset (its last batch gave one
    # mirrored replica an empty batch: a NaN loss), and whole batches only.
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices(x[:21])
    out = {}
    for key, data, kwargs in (("array", x[:21], {"batch_size": 4}), ("dataset", ds.batch(4), {}),
                              ("dataset_even", ds.batch(4, drop_remainder=True), {})):
        try:
            m.fit(data, epochs=1, verbose=0, **kwargs)
            out[key] = "no error"
        except ValueError as error:
            out[key] = str(error)
    try:  # evaluate takes fit's rule (JAX raised an IndivisibleError)
        m.evaluate(x[:21], batch_size=4, verbose=0)
        out["evaluate"] = "no error"
    except ValueError as error:
        out["evaluate"] = str(error)
    return out

def subclassed_vae():
    # Networks that declare no input shape: fit builds the model from the
    # first batch, after the `with` block; its variables must still be the
    # distribution's (they were one device's / not mirrored).
    from tests.helpers import SubclassedDecoder, SubclassedEncoder

    with keras_gen.distribute.data_parallel():
        m = keras_gen.VAE(SubclassedEncoder(), SubclassedDecoder(), seed=3)
        m.compile(optimizer=keras.optimizers.SGD(0.1))
    assert not m.built
    return m

def built_outside():
    # The networks before the `with` block, the GAN inside it; or the whole
    # GAN before it and fit inside it: refused with the networks' names, not
    # the backend's error from inside the step.
    def nets():
        g = keras.Sequential([keras.Input((2,)), keras.layers.Dense(16),
                              keras.layers.Reshape((4, 4, 1))], name="outside_g")
        d = keras.Sequential([keras.Input((4, 4, 1)), keras.layers.Flatten(),
                              keras.layers.Dense(1)], name="outside_d")
        return g, d

    def gan(g, d):
        m = keras_gen.GAN(g, d, latent_dim=2)
        m.compile(d_optimizer=keras.optimizers.SGD(0.1), g_optimizer=keras.optimizers.SGD(0.1))
        return m

    def outcome(fit):
        try:
            fit()
        except ValueError as error:
            return f"ValueError: {error}"
        return "no error"

    g, d = nets()
    with keras_gen.distribute.data_parallel():
        m = gan(g, d)
    networks_outside = outcome(lambda: m.fit(X_GAN, batch_size=16, epochs=1, verbose=0))
    m = gan(*nets())

    def fit_inside():
        with keras_gen.distribute.data_parallel():
            m.fit(X_GAN, batch_size=16, epochs=1, verbose=0)

    return [networks_outside, outcome(fit_inside)]
"""

JAX_CASE = (
    """
import os
os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"
import jax
"""
    + MODELS
    + """
SEEN = []

def probed(base):
    class Probed(base):
        def train_step(self, data):
            # Called inside the jitted step: the sharding of the input batch.
            jax.debug.inspect_array_sharding(keras.tree.flatten(data)[0], callback=SEEN.append)
            return super().train_step(data)
    return Probed

out = {"devices": len(jax.devices())}
for kind, base in (("vae", keras_gen.VAE), ("gan", keras_gen.GAN)):
    keras.utils.set_random_seed(1)
    ref, x = make(kind)
    w0 = ref.get_weights()
    h_ref = fit(ref, x)
    scope = keras_gen.distribute.data_parallel()
    with scope as engine:
        assert isinstance(engine, keras.distribution.DataParallel)
        m, _ = make(kind, cls=probed(base))
    m.set_weights(w0)
    del SEEN[:]
    h = fit(m, x)  # after the `with` block, as user code does
    state = m.variables + m.optimizer.variables + m.metrics_variables
    seed_states = [m.sampling.seed_generator.state] if kind == "vae" else [m.seed_generator.state]
    bn = [v for v in m.non_trainable_variables if "moving" in v.path]
    assert bn and all(any(v is s for s in state) for v in seed_states + bn)
    layouts = [(v.path, len(v.value.sharding.device_set), v.value.sharding.is_fully_replicated)
               for v in state]
    batch = SEEN[0]
    out[kind] = {
        "replicas": scope.num_replicas,
        "max_diff": max_diff(ref, m),
        "logs": [h_ref, h],
        "eval": [ref.evaluate(x, batch_size=16, verbose=0), m.evaluate(x, batch_size=16, verbose=0)],
        "bad_layouts": [l for l in layouts if l[1:] != (2, True)],
        "n_state": len(state),
        "member_vars": sum(len(o.variables) for o in keras_gen.backend.registered_optimizers(m)),
        "batch_devices": len(batch.device_set),
        "batch_replicated": batch.is_fully_replicated,
        "batch_spec0": str(batch.spec[0]),
        "infer": list(m.sample(4).shape),
    }
out["outside"] = built_outside()
out["uneven"] = uneven(m, x)
sub = subclassed_vae()
out["subclassed"] = {
    "loss": fit(sub, X_AE)["loss"],
    "bad_layouts": [v.path for v in sub.variables if len(v.value.sharding.device_set) != 2]}
print(json.dumps(out))
"""
)

TF_CASE = (
    """
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(
    cpu, [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()])
"""
    + MODELS
    + """
class SharedZGAN(keras_gen.GAN):
    # The single-device equivalent of two mirrored replicas: each replica
    # draws its half-batch of z from the same SeedGenerator state.
    def _latents(self, batch_size):
        half = keras.random.normal((batch_size // 2, self.latent_dim), seed=self.seed_generator)
        return ops.concatenate([half, half], axis=0)

out = {}
# Deterministic computations match one device: the AutoEncoder, and the GAN
# given the replicas' z.
for kind, ref_cls in (("ae", None), ("gan", SharedZGAN)):
    keras.utils.set_random_seed(1)
    ref, x = make(kind, cls=ref_cls, batch_norm=False)
    w0 = ref.get_weights()
    h_ref = fit(ref, x)
    with keras_gen.distribute.data_parallel() as engine:
        m, _ = make(kind, batch_norm=False)
    m.set_weights(w0)
    h = fit(m, x)
    out[kind] = {"replicas": engine.num_replicas_in_sync, "max_diff": max_diff(ref, m),
                 "logs": [h_ref, h], "kind": type(m.trainable_variables[0].value).__name__}
    if kind == "ae":
        out[kind]["eval"] = [ref.evaluate(x, batch_size=16, verbose=0),
                             m.evaluate(x, batch_size=16, verbose=0)]

# The VAE (BatchNorm, sampling noise): the loss falls and every mirrored
# variable, optimizer slot and seed state is identical on both replicas.
# BatchNorm must be synchronized=True for that under tf.distribute: Keras
# otherwise keeps each replica's own moving statistics.
def synced_encoder():
    inputs = keras.Input((8, 8, 1))
    h = keras.layers.Dense(32)(keras.layers.Flatten()(inputs))
    h = keras.layers.Activation("relu")(keras.layers.BatchNormalization(synchronized=True)(h))
    return keras.Model(inputs, [keras.layers.Dense(2)(h), keras.layers.Dense(2)(h)])

with keras_gen.distribute.data_parallel():
    m = keras_gen.VAE(synced_encoder(), tiny_decoder(), seed=3)
    m.compile(optimizer=keras.optimizers.Adam(1e-2))
x = X_AE
h = fit(m, x, epochs=6)
unsynced, mirrored = [], 0
for v in m.variables + m.optimizer.variables:
    parts = getattr(v.value, "values", None)
    if parts is None or type(v.value).__name__ == "SyncOnReadVariable":
        continue
    mirrored += 1
    first = parts[0].numpy()
    if len(parts) != 2 or any(not np.array_equal(first, p.numpy()) for p in parts[1:]):
        unsynced.append(v.path)
out["vae"] = {"loss": h["loss"], "unsynced": unsynced, "mirrored": mirrored,
              "n_vars": len(m.variables + m.optimizer.variables),
              "sample": list(m.sample(4).shape)}
out["outside"] = built_outside()
out["uneven"] = uneven(m, x)
sub = subclassed_vae()
out["subclassed"] = {"loss": fit(sub, X_AE)["loss"],
                     "kinds": sorted({type(v.value).__name__ for v in sub.trainable_variables})}
print(json.dumps(out))
"""
)


def _close(a, b, rtol=1e-5, atol=1e-6):
    for key in a:
        assert b[key] == pytest.approx(a[key], rel=rtol, abs=atol), key


@only("jax")
def test_jax_data_parallel_matches_one_device():
    out = helpers.run_in_backend("jax", JAX_CASE, timeout=300)
    assert out["devices"] == 2
    for kind in ("vae", "gan"):
        r = out[kind]
        assert r["replicas"] == 2
        # SPMD draws the global batch's noise, so the weights after 3 steps
        # equal the single-device run up to float reduction order.
        assert r["max_diff"] < 1e-5, (kind, r["max_diff"])
        # Logs are the global-batch means, the same as on one device.
        _close(*r["logs"])
        assert r["eval"][1] == pytest.approx(r["eval"][0], rel=1e-5)
        # Every variable (weights, BatchNorm statistics, SeedGenerator state,
        # every optimizer's slots, metric totals) is replicated on both devices.
        assert r["bad_layouts"] == []
        assert r["member_vars"] > 0
        # The jitted step ran with the batch split across both devices.
        assert r["batch_devices"] == 2
        assert not r["batch_replicated"]
        assert r["batch_spec0"] == "batch"
        assert r["infer"][0] == 4
    assert_refused_outside(out["outside"])
    assert_uneven_refused(out["uneven"])
    assert out["subclassed"]["bad_layouts"] == [] and all(map(math.isfinite, out["subclassed"]["loss"]))


@only("tensorflow")
def test_tensorflow_mirrored_matches_one_device():
    out = helpers.run_in_backend("tensorflow", TF_CASE, timeout=300)
    for kind in ("ae", "gan"):
        r = out[kind]
        assert r["replicas"] == 2
        assert r["kind"] == "MirroredVariable"
        # Loss divided by the replica count before the gradients are summed:
        # the update of the global-batch mean (without it, twice the step).
        assert r["max_diff"] < 1e-5, (kind, r["max_diff"])
        # The logged losses are global means, not per-replica sums.
        _close(*r["logs"])
    assert out["ae"]["eval"][1] == pytest.approx(out["ae"]["eval"][0], rel=1e-5)
    vae = out["vae"]
    helpers.assert_loss_falls(vae["loss"])
    assert vae["mirrored"] > 10
    assert vae["unsynced"] == []
    assert vae["sample"][0] == 4
    assert_refused_outside(out["outside"])
    assert_uneven_refused(out["uneven"])
    assert out["subclassed"]["kinds"] == ["MirroredVariable"]
    assert all(map(math.isfinite, out["subclassed"]["loss"]))


def assert_uneven_refused(out):
    # Arrays: TensorFlow failed inside AddN, JAX with an IndivisibleError, at the last batch
    message = out["array"]
    assert message.startswith("x must come in batches that split evenly over the 2 devices"), message
    assert "leave a last batch of 1" in message and "pass x[:20]" in message, message
    # A dataset: TensorFlow trained to a NaN loss, JAX raised an IndivisibleError
    assert out["dataset"].startswith(
        "x must come in batches that split evenly over the 2 devices of the data-parallel engine: "
        "the tf.data.Dataset x has a batch of 1 examples. Batch it by a multiple of 2 with "
        "drop_remainder=True"), out["dataset"]
    assert out["dataset_even"] == "no error"
    assert out["evaluate"].startswith("x must come in batches that split evenly over the 2 devices")
    assert "leave a last batch of 1" in out["evaluate"], out["evaluate"]


def assert_refused_outside(messages):
    # 4 = the networks' kernels and biases; the GAN built outside adds its
    # latent SeedGenerator's state.
    assert len(messages) == 2
    for message, count in zip(messages, (4, 5)):
        assert message.startswith("ValueError: GAN.fit(): the variables of 'outside_g', 'outside_d' "
                                  "were created outside keras_gen.distribute.data_parallel()"), message
        assert f"Received: {count} variables outside the engine" in message, message


# ---------------------------------------------------------------- errors
@only("torch")
def test_torch_alone_is_one_replica():
    # Across processes: tests/test_distribute_torch.py.
    with distribute.data_parallel() as engine:
        assert engine.num_replicas == 1


@pytest.mark.parametrize(
    "devices, match",
    [
        (0, "number of devices between 1 and"),
        (99, "number of devices between 1 and"),
        (True, "positive int"),
        ("cpu:0", "positive int"),
        ([], "positive int"),
        (["cpu:7"], "Unknown device 'cpu:7'"),
        (["tpu0"], "Unknown device 'tpu0'"),
        (["cpu:0", "/device:CPU:0"], "listed twice"),
    ],
)
def test_bad_devices_are_refused(devices, match):
    with pytest.raises(ValueError, match=match) as info:
        distribute.data_parallel(devices=devices)
    assert "Received: devices=" in str(info.value)


def test_data_parallel_before_initialize_in_a_launched_process_is_refused(monkeypatch):
    # Started by a launcher but not joined: training alone would be silent
    # (one check in keras_gen.backend.data_parallel for every backend).
    for name, value in (("WORLD_SIZE", "2"), ("RANK", "1"), ("MASTER_ADDR", "127.0.0.1"),
                        ("MASTER_PORT", "29500")):
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(RuntimeError, match=r"call keras_gen.distribute.initialize\(\) first") as info:
        distribute.data_parallel()
    assert "Received: WORLD_SIZE=2" in str(info.value)


def test_docstring_example_runs():
    result = doctest.testmod(distribute, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0


def test_exported():
    assert keras_gen.distribute.data_parallel is distribute.data_parallel
    assert "distribute" in keras_gen.__all__
