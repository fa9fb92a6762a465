"""The training core: minimize(), several optimizers, state on every backend."""

import keras
import numpy as np
import pytest
from keras import ops

from keras_gen import backend
from keras_gen.models import GenerativeModel


@keras.saving.register_keras_serializable(package="keras_gen_tests")
class TwoPlayer(GenerativeModel):
    """Two linear players with their own optimizers, stepped one after the other."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.a = keras.layers.Dense(1, use_bias=False, kernel_initializer=keras.initializers.Constant(0.5))
        self.b = keras.layers.Dense(1, use_bias=False, kernel_initializer=keras.initializers.Constant(-0.3))
        self.loss_a_tracker = keras.metrics.Mean(name="loss_a")
        self.loss_b_tracker = keras.metrics.Mean(name="loss_b")
        self.metric_trackers = [self.loss_a_tracker, self.loss_b_tracker]
        self.build((None, 3))

    def build(self, input_shape):
        self.a.build(input_shape)
        self.b.build((None, 1))

    def call(self, x):
        return self.b(self.a(x))

    def compile(self, a_optimizer, b_optimizer, **kwargs):
        self.a_optimizer = keras.optimizers.get(a_optimizer)
        self.b_optimizer = keras.optimizers.get(b_optimizer)
        group = backend.OptimizerGroup(
            {"a_optimizer": self.a_optimizer, "b_optimizer": self.b_optimizer},
            {"a_optimizer": lambda: self.a.trainable_variables, "b_optimizer": lambda: self.b.trainable_variables},
        )
        super().compile(optimizer=group, **kwargs)

    def get_compile_config(self):
        return {
            "a_optimizer": keras.saving.serialize_keras_object(self.a_optimizer),
            "b_optimizer": keras.saving.serialize_keras_object(self.b_optimizer),
        }

    def train_step(self, data):
        x, y = data
        loss_a = self.minimize(lambda: ops.mean((self.a(x) - y) ** 2), self.a.trainable_variables, self.a_optimizer)
        loss_b = self.minimize(
            lambda: ops.mean((self.b(self.a(x)) - y) ** 2), self.b.trainable_variables, self.b_optimizer
        )
        return self.update_metrics({"loss_a": loss_a, "loss_b": loss_b})

    def test_step(self, data):
        x, y = data
        return self.update_metrics(
            {"loss_a": ops.mean((self.a(x) - y) ** 2), "loss_b": ops.mean((self(x) - y) ** 2)}
        )


def data(n=8):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 3)).astype("float32")
    y = (x @ np.array([[1.0], [-2.0], [0.5]], "float32")).astype("float32")
    return x, y


def numpy_reference(x, y, steps, lr):
    """The same two-player SGD written by hand in NumPy."""
    wa = np.full((3, 1), 0.5)
    wb = np.full((1, 1), -0.3)
    for _ in range(steps):
        wa = wa - lr * 2.0 / len(x) * x.T @ (x @ wa - y)
        h = x @ wa
        wb = wb - lr * 2.0 / len(x) * h.T @ (h @ wb - y)
    return wa, wb


def n(v):
    return keras.ops.convert_to_numpy(v)


def test_two_optimizers_match_a_hand_written_loop():
    x, y = data()
    model = TwoPlayer()
    model.compile(keras.optimizers.SGD(0.05), keras.optimizers.SGD(0.05))
    model.fit(x, y, batch_size=8, epochs=3, verbose=0)
    wa, wb = numpy_reference(x, y, steps=3, lr=0.05)
    np.testing.assert_allclose(n(model.a.kernel), wa, rtol=1e-5)
    np.testing.assert_allclose(n(model.b.kernel), wb, rtol=1e-5)


def test_every_optimizer_state_advances():
    x, y = data(32)
    model = TwoPlayer()
    model.compile(keras.optimizers.Adam(0.01), keras.optimizers.Adam(0.02))
    model.fit(x, y, batch_size=8, epochs=2, verbose=0)
    assert int(n(model.a_optimizer.iterations)) == 8
    assert int(n(model.b_optimizer.iterations)) == 8
    assert int(n(model.optimizer.iterations)) == 8
    # Adam moments of both players are non-zero: their state travelled.
    for opt in (model.a_optimizer, model.b_optimizer):
        moments = [n(v) for v in opt.variables if "momentum" in v.path]
        assert moments and all(np.abs(m).sum() > 0 for m in moments)


def test_metrics_are_batch_means():
    x, y = data(16)
    model = TwoPlayer()
    model.compile(keras.optimizers.SGD(0.0), keras.optimizers.SGD(0.0))
    logs = model.evaluate(x, y, batch_size=4, verbose=0, return_dict=True)
    expected = np.mean([np.mean((x[i : i + 4] @ np.full((3, 1), 0.5) - y[i : i + 4]) ** 2) for i in range(0, 16, 4)])
    np.testing.assert_allclose(logs["loss_a"], expected, rtol=1e-5)


def test_unregistered_optimizer_is_refused():
    x, y = data()
    model = TwoPlayer()
    model.compile(keras.optimizers.SGD(0.1), keras.optimizers.SGD(0.1))
    stranger = keras.optimizers.SGD(0.1)
    with pytest.raises(ValueError, match="registered with the model by `compile\\(\\)`.*Received: optimizer="):
        model.minimize(lambda: ops.mean(model(x)), model.a.trainable_variables, stranger)


def test_same_optimizer_twice_is_refused():
    opt = keras.optimizers.SGD(0.1)
    model = TwoPlayer()
    with pytest.raises(ValueError, match="own optimizer instance"):
        model.compile(opt, opt)


def test_optimizer_group_survives_save_load(tmp_path):
    x, y = data(16)
    model = TwoPlayer()
    model.compile(keras.optimizers.Adam(0.01), keras.optimizers.Adam(0.02))
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    model.save(tmp_path / "two.keras")
    loaded = keras.saving.load_model(tmp_path / "two.keras")
    assert int(n(loaded.a_optimizer.iterations)) == 2
    assert float(n(loaded.b_optimizer.learning_rate)) == pytest.approx(0.02)
    for a, b in zip(model.optimizer.variables, loaded.optimizer.variables):
        np.testing.assert_allclose(n(a), n(b))
    loaded.fit(x, y, batch_size=8, epochs=1, verbose=0)
    assert int(n(loaded.b_optimizer.iterations)) == 4


def test_backup_and_restore_resumes_both_optimizers(tmp_path):
    x, y = data(16)

    class Interrupt(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 2:
                raise RuntimeError("interrupted")

    def fresh():
        model = TwoPlayer()
        model.compile(keras.optimizers.Adam(0.01), keras.optimizers.Adam(0.02))
        return model

    backup = keras.callbacks.BackupAndRestore(str(tmp_path / "backup"))
    model = fresh()
    with pytest.raises(RuntimeError, match="interrupted"):
        model.fit(x, y, batch_size=8, epochs=4, verbose=0, shuffle=False, callbacks=[backup, Interrupt()])
    resumed = fresh()
    history = resumed.fit(x, y, batch_size=8, epochs=4, verbose=0, shuffle=False, callbacks=[backup])
    assert len(history.history["loss_a"]) == 2  # epochs 3 and 4 only
    assert int(n(resumed.a_optimizer.iterations)) == 8
    assert int(n(resumed.b_optimizer.iterations)) == 8

    straight = fresh()
    straight.fit(x, y, batch_size=8, epochs=4, verbose=0, shuffle=False)
    np.testing.assert_allclose(n(resumed.a.kernel), n(straight.a.kernel), rtol=1e-5)
