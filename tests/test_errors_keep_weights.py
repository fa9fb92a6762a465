"""An error inside fit / evaluate / predict leaves the model usable (JAX used to lose its
weights: Keras' loops detach them while they run), and per-example weights are refused."""

import keras
import numpy as np
import pytest

import keras_gen
from tests import helpers


def _ae():
    keras.utils.set_random_seed(0)
    ae = keras_gen.AutoEncoder(helpers.tiny_encoder(), helpers.tiny_decoder())
    ae.compile(optimizer=keras.optimizers.Adam(1e-2))
    return ae


def _weights(model):
    return [np.array(w) for w in model.get_weights()]


class _RaiseAt(keras.callbacks.Callback):
    def __init__(self, step):
        super().__init__()
        self.step, self.seen = step, 0

    def on_train_batch_end(self, batch, logs=None):
        self.seen += 1
        if self.seen == self.step:
            raise RuntimeError("stop here")


def test_an_error_inside_fit_keeps_the_steps_trained_so_far(images):
    ae = _ae()
    before = _weights(ae)
    with pytest.raises(RuntimeError, match="stop here"):
        ae.fit(images, batch_size=8, epochs=1, shuffle=False, verbose=0, callbacks=[_RaiseAt(3)])
    after = _weights(ae)  # raised "'NoneType' object is not callable" on JAX
    assert int(keras.ops.convert_to_numpy(ae.optimizer.iterations)) == 3
    assert any(not np.array_equal(a, b) for a, b in zip(before, after))  # three steps kept
    assert all(np.isfinite(a).all() for a in after)
    # the same three steps, uninterrupted
    other = _ae()
    other.fit(images[:24], batch_size=8, epochs=1, shuffle=False, verbose=0)
    for a, b in zip(after, _weights(other)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    # and so does the optimizer's state (Adam's moments: a fresh optimizer would restart them)
    assert len(ae.optimizer.variables) == len(other.optimizer.variables)
    for a, b in zip(ae.optimizer.variables, other.optimizer.variables):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b),
                                   rtol=1e-5, atol=1e-6, err_msg=a.path)
    ae.fit(images, batch_size=8, epochs=1, verbose=0)  # and it trains on
    assert ae.reconstruct(images[:2]).shape == images[:2].shape


def test_an_error_inside_predict_leaves_the_networks_usable(images):
    ae = _ae()
    ae.fit(images, batch_size=8, epochs=1, verbose=0)
    codes = ae.encode(images[:4])
    with pytest.raises(Exception):  # noqa: B017  (the backends word a shape error differently)
        ae.encode(np.zeros((2, 5, 5, 1), "float32"))
    np.testing.assert_array_equal(ae.encode(images[:4]), codes)
    with pytest.raises(Exception):  # noqa: B017
        keras_gen.backend.predict(ae.encoder, np.zeros((2, 5, 5, 1), "float32"), verbose=0)
    np.testing.assert_array_equal(ae.encode(images[:4]), codes)
    with pytest.raises(Exception):  # noqa: B017
        ae.predict(np.zeros((2, 5, 5, 1), "float32"), verbose=0)
    np.testing.assert_array_equal(ae.encode(images[:4]), codes)
    ae.fit(images, batch_size=8, epochs=1, verbose=0)


@pytest.mark.parametrize("method", ["fit", "evaluate"])
@pytest.mark.parametrize("name,value,shown", [
    ("sample_weight", np.zeros(32), "array of shape (32,)"),
    ("class_weight", {0: 1.0, 1: 2.0}, "{0: 1.0, 1: 2.0}"),
])
def test_per_example_weights_are_refused_by_name(images, method, name, value, shown):
    ae = _ae()
    before = _weights(ae)
    if method == "evaluate" and name == "class_weight":
        pytest.skip("evaluate takes no class_weight")
    labels = np.arange(len(images)) % 2
    with pytest.raises(ValueError, match=rf"keras-gen models do not support {name} .*"
                                         rf"Received: {name}={re_escape(shown)}"):
        getattr(ae, method)(images, labels, verbose=0, **{name: value})
    with pytest.raises(ValueError, match=rf"do not support {name}"):  # without a y too
        getattr(ae, method)(images, verbose=0, **{name: value})
    for a, b in zip(before, _weights(ae)):
        np.testing.assert_array_equal(a, b)


def re_escape(text):
    import re

    return re.escape(text)


class _RaiseInTraining(keras.layers.Layer):
    """Raises in a training call while ``armed`` (inference passes through)."""

    armed = True

    def call(self, x, training=None):
        if training and _RaiseInTraining.armed:
            raise RuntimeError("first step fails")
        return x


def test_an_error_in_the_first_step_of_a_fresh_model_keeps_every_variable(images):
    """The optimizer's variables are made inside that fit; JAX detached them too."""
    inputs = keras.Input(images.shape[1:])
    hidden = _RaiseInTraining()(keras.layers.Flatten()(inputs))
    encoder = keras.Model(inputs, keras.layers.Dense(2)(hidden))
    ae = keras_gen.AutoEncoder(encoder, helpers.tiny_decoder())
    ae.compile(optimizer=keras.optimizers.Adam(1e-2))
    _RaiseInTraining.armed = True
    try:
        with pytest.raises(RuntimeError, match="first step fails"):
            ae.fit(images, batch_size=8, epochs=1, verbose=0)
    finally:
        _RaiseInTraining.armed = False
    missing = [v.path for v in ae.variables + ae.optimizer.variables if getattr(v, "_value", 0) is None]
    assert missing == []
    history = ae.fit(images, batch_size=8, epochs=2, verbose=0, validation_data=(images[:8],))
    assert history.history["loss"][-1] < history.history["loss"][0]


@pytest.mark.skipif(keras.backend.backend() == "torch",
                    reason="PyTorch runs the step eagerly: no first trace to fail (its symbolic "
                           "build calls the metric first and does not raise)")
@pytest.mark.parametrize("policy", ["float32", "mixed_float16"])
def test_an_error_after_the_optimizer_step_of_the_first_trace_leaves_it_trainable(images, policy):
    """TensorFlow builds the optimizer inside the first traced step; a trace that failed after
    it (here in a metric) left Adam half-made, and every later fit failed in its update with
    "Incompatible shapes: [64] vs. [0]"."""
    calls = []

    def metric_failing_once(y_true, y_pred):
        calls.append(1)
        if len(calls) == 1:
            raise ValueError("the metric fails once")
        return keras.ops.mean(y_pred)

    keras.utils.set_random_seed(0)
    keras.mixed_precision.set_global_policy(policy)  # float16: a LossScaleOptimizer wraps Adam
    try:
        ae = keras_gen.AutoEncoder(helpers.tiny_encoder(), helpers.tiny_decoder())
    finally:
        keras.mixed_precision.set_global_policy("float32")
    ae.compile(optimizer=keras.optimizers.Adam(1e-2), metrics=[metric_failing_once])
    with pytest.raises(ValueError, match="the metric fails once"):
        ae.fit(images, batch_size=8, epochs=1, verbose=0)
    history = ae.fit(images, batch_size=8, epochs=2, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    slots = [v for v in ae.optimizer.variables if len(v.shape)]
    assert sorted(tuple(v.shape) for v in slots) == sorted(
        2 * [tuple(v.shape) for v in ae.trainable_variables if len(v.shape)])  # Adam's two moments


def test_validation_inside_fit_and_an_error_after_it(images):
    """fit's validation runs evaluate inside fit (nested guards)."""
    ae = _ae()
    with pytest.raises(RuntimeError, match="stop here"):
        ae.fit(images, batch_size=8, epochs=3, shuffle=False, verbose=0,
               validation_data=(images[:16],), callbacks=[_RaiseAt(10)])
    assert int(keras.ops.convert_to_numpy(ae.optimizer.iterations)) == 10
    assert all(np.isfinite(w).all() for w in _weights(ae))
    ae.fit(images, batch_size=8, epochs=1, verbose=0, validation_data=(images[:16],))


def test_sample_weights_in_validation_data_are_refused_before_training(images):
    ae = _ae()
    with pytest.raises(ValueError, match=r"do not support sample weights in validation_data"):
        ae.fit(images, epochs=1, verbose=0, validation_data=(images[:8], images[:8], np.ones(8)))
    assert int(keras.ops.convert_to_numpy(ae.optimizer.iterations)) == 0


@pytest.mark.parametrize("kwargs,error,match", [
    ({"batch_size": 0}, ValueError, r"batch_size must be a positive integer. Received: batch_size=0"),
    ({"batch_size": -5}, ValueError, r"Received: batch_size=-5"),
    ({"batch_size": True}, TypeError, r"Received: batch_size=True"),
    ({"epochs": -1}, ValueError, r"epochs must be an integer >= 0. Received: epochs=-1"),
    ({"epochs": 1.5}, TypeError, r"Received: epochs=1.5"),
])
def test_fit_loop_arguments_are_named_on_every_backend(images, kwargs, error, match):
    ae = _ae()
    with pytest.raises(error, match=match):
        ae.fit(images, verbose=0, **kwargs)
    assert int(keras.ops.convert_to_numpy(ae.optimizer.iterations)) == 0
    ae.fit(images, None, 8, 1, verbose=0)  # positional batch_size / epochs still work
    assert int(keras.ops.convert_to_numpy(ae.optimizer.iterations)) == 8
