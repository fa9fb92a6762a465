"""backend.input_gradient: a gradient w.r.t. the input, differentiable again, on every backend.

The network is D(x) = tanh(x K) w (K: (n, m), w: (m, 1)), whose input
gradient and the gradient of the WGAN-GP penalty w.r.t. K and w are worked
out by hand below in NumPy (float64), independently of any autodiff.
"""

import keras
import numpy as np
import pytest
from keras import ops

from keras_gen import backend
from keras_gen.models import GenerativeModel

N_IN, N_HIDDEN, BATCH = 3, 4, 5


def _weights():
    rng = np.random.default_rng(1)
    kernel = rng.normal(0.0, 0.8, (N_IN, N_HIDDEN))
    w = rng.normal(0.0, 0.8, (N_HIDDEN, 1))
    x = rng.normal(0.0, 1.0, (BATCH, N_IN))
    return kernel, w, x


def _network(kernel, w, batch_norm=False):
    layers = [keras.Input((N_IN,))]
    if batch_norm:
        layers.append(keras.layers.BatchNormalization(momentum=0.5, center=False, scale=False, name="bn"))
    layers += [
        keras.layers.Dense(N_HIDDEN, use_bias=False, activation="tanh", name="hidden",
                           kernel_initializer=keras.initializers.Constant(kernel.astype("float32"))),
        keras.layers.Dense(1, use_bias=False, name="out",
                           kernel_initializer=keras.initializers.Constant(w.astype("float32"))),
    ]
    net = keras.Sequential(layers)
    net.get_layer("hidden").kernel.assign(kernel.astype("float32"))
    net.get_layer("out").kernel.assign(w.astype("float32"))
    return net


def _closed_form(kernel, w, x):
    """Input gradient g (batch, n), GP = mean (||g|| - 1)^2, dGP/dK, dGP/dw."""
    h = np.tanh(x @ kernel)                      # (b, m)
    s = 1.0 - h**2                               # tanh'
    u = s * w[:, 0][None, :]                     # (b, m)
    g = u @ kernel.T                             # (b, n): dD/dx per example
    r = np.linalg.norm(g, axis=1)                # (b,)
    gp = np.mean((r - 1.0) ** 2)
    d_g = (2.0 / len(x)) * ((r - 1.0) / r)[:, None] * g   # dGP/dg
    d_u = d_g @ kernel                           # (b, m)
    d_kernel = d_g.T @ u                         # direct term of g = u K^T
    d_w = np.sum(d_u * s, axis=0)[:, None]       # u = s * w
    d_s = d_u * w[:, 0][None, :]
    d_pre = d_s * (-2.0 * h) * s                 # s = 1 - tanh(a)^2, a = x K
    d_kernel = d_kernel + x.T @ d_pre
    return g, gp, d_kernel, d_w


def _penalty(net, x):
    grad = backend.input_gradient(lambda t: net(t, training=True), x)
    norms = ops.sqrt(ops.sum(ops.square(grad), axis=-1))
    return ops.mean(ops.square(norms - 1.0))


@keras.saving.register_keras_serializable(package="keras_gen_tests")
class Penalised(GenerativeModel):
    """Minimises the gradient penalty of its network alone, with minimize()."""

    def __init__(self, net, **kwargs):
        super().__init__(**kwargs)
        self.net = net
        self.tracker = keras.metrics.Mean(name="penalty")
        self.metric_trackers = [self.tracker]

    def call(self, x):
        return self.net(x)

    def train_step(self, data):
        penalty = self.minimize(lambda: _penalty(self.net, data), self.net.trainable_variables)
        return self.update_metrics({"penalty": penalty})


def test_value_and_gradient_equal_the_closed_form():
    kernel, w, x = _weights()
    net = _network(kernel, w)
    g_expected, _, _, _ = _closed_form(kernel, w, x)
    value, grad = backend.value_and_input_gradient(net, ops.convert_to_tensor(x.astype("float32")))
    np.testing.assert_allclose(ops.convert_to_numpy(value), np.tanh(x @ kernel) @ w, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ops.convert_to_numpy(grad), g_expected, rtol=1e-4, atol=1e-6)
    only = backend.input_gradient(net, ops.convert_to_tensor(x.astype("float32")))
    np.testing.assert_allclose(ops.convert_to_numpy(only), g_expected, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("jit_compile", [False, "auto"])
def test_minimizing_the_penalty_follows_the_closed_form_gradient(jit_compile):
    kernel, w, x = _weights()
    model = Penalised(_network(kernel, w))
    lr = 0.1
    model.compile(optimizer=keras.optimizers.SGD(lr), jit_compile=jit_compile)
    history = model.fit(x.astype("float32"), batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
    _, gp, d_kernel, d_w = _closed_form(kernel, w, x)
    assert history.history["penalty"][0] == pytest.approx(gp, rel=1e-4)
    assert np.abs(d_kernel).max() > 1e-2 and np.abs(d_w).max() > 1e-2  # the step is visible
    np.testing.assert_allclose(
        ops.convert_to_numpy(model.net.get_layer("hidden").kernel), kernel - lr * d_kernel, rtol=1e-4, atol=1e-6
    )
    np.testing.assert_allclose(
        ops.convert_to_numpy(model.net.get_layer("out").kernel), w - lr * d_w, rtol=1e-4, atol=1e-6
    )


def test_writes_inside_the_inner_gradient_are_kept():
    # BatchNormalization in training mode writes its moving statistics inside
    # the inner gradient (a JAX trace): they must reach the variables (no
    # leaked tracer), once, as after any forward pass.
    kernel, w, x = _weights()
    model = Penalised(_network(kernel, w, batch_norm=True))
    model.compile(optimizer=keras.optimizers.SGD(0.01))
    model.fit(x.astype("float32"), batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
    bn = model.net.get_layer("bn")
    np.testing.assert_allclose(ops.convert_to_numpy(bn.moving_mean), 0.5 * x.mean(axis=0), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(ops.convert_to_numpy(bn.moving_variance), 0.5 + 0.5 * x.var(axis=0), rtol=1e-4)
    assert np.isfinite(ops.convert_to_numpy(model.net.get_layer("hidden").kernel)).all()


def test_input_without_effect_gives_zeros_and_bad_fn_is_refused():
    x = ops.ones((2, 3))
    grad = backend.input_gradient(lambda t: ops.zeros((2, 1)) + 1.0, x)
    np.testing.assert_array_equal(ops.convert_to_numpy(grad), np.zeros((2, 3)))
    with pytest.raises(TypeError, match="fn must be a function.*Received: fn=3"):
        backend.input_gradient(3, x)
