"""keras_gen.layers' BatchNormalization, Conv2D and Conv2DTranspose compute Keras' layers exactly.

Each fast layer is compared with the Keras layer of the same name holding the
same weights: outputs, the gradients with respect to the input (through
keras_gen.backend.value_and_input_gradient) and to the weights (one SGD step
of learning rate 1 by train_on_batch: the weights move by minus the
gradient), and BatchNormalization's moving statistics after a training step
against a NumPy closed form. On PyTorch the fused path must actually run for
the cases it covers (otherwise the comparison would be Keras against itself).
"""

import os

import keras
import numpy as np
import pytest
from keras import ops

import keras_gen
from keras_gen import backend
from keras_gen import layers as kg_layers

BACKEND = keras.backend.backend()
# On TensorFlow and JAX the fast layers run Keras' own computation (the fused
# functions return None there, asserted below), so the full comparison runs on
# PyTorch and one case per layer elsewhere.
FUSED = BACKEND == "torch"
KERAS_PATH = "Keras' own computation on this backend: one case per layer checks it"
RNG = np.random.default_rng(7)


def _np(x):
    return ops.convert_to_numpy(x)


def _twins(fast, plain, input_shape):
    """Sequential models [Input, fast] and [Input, plain] with the same (non-trivial) weights."""
    a = keras.Sequential([keras.Input(input_shape), fast])
    b = keras.Sequential([keras.Input(input_shape), plain])
    weights = [w + RNG.normal(size=w.shape).astype("float32") * 0.3 for w in b.get_weights()]
    b.set_weights(weights)
    a.set_weights(weights)
    return a, b


def _assert_same_function(a, b, x, training, atol=1e-5, gradients=True):
    """Same outputs, input gradients and one-SGD-step weights (the weight gradients)."""
    out_a, out_b = _np(a(x, training=training)), _np(b(x, training=training))
    np.testing.assert_allclose(out_a, out_b, rtol=1e-5, atol=atol)
    if not gradients:
        return
    r = RNG.normal(size=out_b.shape).astype("float32")
    r = ops.convert_to_tensor(r)
    _, g_a = backend.value_and_input_gradient(lambda t: ops.multiply(a(t, training=training), r),
                                              ops.convert_to_tensor(x))
    _, g_b = backend.value_and_input_gradient(lambda t: ops.multiply(b(t, training=training), r),
                                              ops.convert_to_tensor(x))
    np.testing.assert_allclose(_np(g_a), _np(g_b), rtol=1e-5, atol=atol)
    y = RNG.normal(size=out_b.shape).astype("float32")
    for m in (a, b):
        m.compile(optimizer=keras.optimizers.SGD(1.0), loss="mse")
        m.train_on_batch(x, y)
    for w_a, w_b in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_allclose(w_a, w_b, rtol=1e-5, atol=atol)


# (layer, kernel, strides, padding, input size, use_bias, output_padding, fused on PyTorch)
CONV_CASES = [
    ("Conv2D", 4, 2, "same", 8, False, None, True),  # the DCGAN discriminator's layers
    ("Conv2D", 3, 2, "same", 7, True, None, True),
    ("Conv2D", 3, 1, "same", 5, True, None, True),
    ("Conv2D", 4, 1, "same", 5, True, None, False),  # asymmetric "same": Keras' computation
    ("Conv2D", 4, 1, "valid", 4, False, None, True),  # the DCGAN discriminator's logit
    ("Conv2D", 3, 2, "valid", 6, True, None, True),
    ("Conv2DTranspose", 4, 2, "same", 4, False, None, True),  # the DCGAN generator's layers
    ("Conv2DTranspose", 4, 1, "valid", 1, False, None, True),  # the DCGAN generator's first layer
    ("Conv2DTranspose", 3, 2, "same", 5, True, None, True),  # one extra pixel cropped on the right
    ("Conv2DTranspose", 3, 2, "same", 4, True, 1, True),
    ("Conv2DTranspose", 3, 1, "same", 5, True, None, True),
    ("Conv2DTranspose", 4, 1, "same", 5, True, None, True),  # one pixel cropped on the right
    ("Conv2DTranspose", 3, 2, "valid", 3, True, None, True),
    ("Conv2DTranspose", 3, 2, "valid", 3, True, 1, False),  # zeros beyond the full output: Keras'

]


@pytest.mark.parametrize("name, k, s, padding, n, bias, out_pad, fused", CONV_CASES)
def test_convolutions_equal_keras(name, k, s, padding, n, bias, out_pad, fused):
    if not FUSED and CONV_CASES.index((name, k, s, padding, n, bias, out_pad, fused)) not in (0, 6):
        pytest.skip(KERAS_PATH)
    extra = {} if name == "Conv2D" else {"output_padding": out_pad}
    kwargs = dict(filters=3, kernel_size=k, strides=s, padding=padding, use_bias=bias, **extra)
    a, b = _twins(getattr(kg_layers, name)(**kwargs), getattr(keras.layers, name)(**kwargs), (n, n, 2))
    x = RNG.normal(size=(2, n, n, 2)).astype("float32")
    _assert_same_function(a, b, x, training=True, gradients=FUSED)
    # The fused path runs exactly where it should (on PyTorch; nowhere else).
    layer = a.layers[0]
    args = (ops.convert_to_tensor(x), layer.kernel, layer.bias if bias else None, layer.strides, padding)
    if name == "Conv2D":
        out = backend.fused_conv(*args, layer.dilation_rate, layer.data_format)
    else:
        out = backend.fused_conv_transpose(*args, layer.output_padding, layer.dilation_rate, layer.data_format)
    assert (out is not None) == (fused and BACKEND == "torch")


@pytest.mark.skipif(not FUSED, reason=KERAS_PATH)
@pytest.mark.parametrize("name", ["Conv2D", "Conv2DTranspose"])
def test_channels_first_convolutions_equal_keras(name):
    kwargs = dict(filters=3, kernel_size=4, strides=2, padding="same", data_format="channels_first")
    a, b = _twins(getattr(kg_layers, name)(**kwargs), getattr(keras.layers, name)(**kwargs), (2, 6, 6))
    _assert_same_function(a, b, RNG.normal(size=(2, 2, 6, 6)).astype("float32"), training=True)


def _np_batch_norm(x, axis, gamma, beta, mean, var, eps):
    shape = [1] * x.ndim
    shape[axis] = -1
    r = lambda v: np.reshape(v, shape)  # noqa: E731
    return (x - r(mean)) / np.sqrt(r(var) + eps) * r(gamma) + r(beta)


@pytest.mark.parametrize("shape, axis, center, scale", [
    ((4, 3, 5, 3), -1, True, True),  # NHWC, odd spatial size
    ((4, 3, 4, 5), 1, True, True),  # NCHW
    ((6, 4), -1, False, True),
    ((6, 3, 4), -1, True, False),
])
def test_batch_normalization_equals_keras_and_the_closed_form(shape, axis, center, scale):
    if not FUSED and shape != (4, 3, 5, 3):
        pytest.skip(KERAS_PATH)
    kwargs = dict(axis=axis, momentum=0.8, epsilon=1e-3, center=center, scale=scale)
    fast, plain = kg_layers.BatchNormalization(**kwargs), keras.layers.BatchNormalization(**kwargs)
    a, b = _twins(fast, plain, shape[1:])
    x = (RNG.normal(size=shape) * 2.0 + 0.5).astype("float32")
    before = {w.path.split("/")[-1]: _np(w) for w in fast.weights}
    # One training call: the output (batch moments) and the moving statistics, Keras' convention
    # (biased batch variance, moving = moving * momentum + batch * (1 - momentum)).
    y = _np(a(x, training=True))
    reduce = tuple(i for i in range(len(shape)) if i != axis % len(shape))
    mean, var = x.mean(axis=reduce), x.var(axis=reduce)
    gamma = before.get("gamma", np.ones_like(mean))
    beta = before.get("beta", np.zeros_like(mean))
    np.testing.assert_allclose(y, _np_batch_norm(x, axis, gamma, beta, mean, var, 1e-3), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(_np(fast.moving_mean), 0.8 * before["moving_mean"] + 0.2 * mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(_np(fast.moving_variance), 0.8 * before["moving_variance"] + 0.2 * var,
                               rtol=1e-5, atol=1e-6)
    # Inference uses the moving statistics.
    np.testing.assert_allclose(
        _np(a(x, training=False)),
        _np_batch_norm(x, axis, gamma, beta, _np(fast.moving_mean), _np(fast.moving_variance), 1e-3),
        rtol=1e-4, atol=1e-5)
    b(x, training=True)  # the same moving statistics in the Keras twin
    for training in (True, False):
        _assert_same_function(a, b, x, training=training, gradients=FUSED)
    np.testing.assert_allclose(_np(fast.moving_variance), _np(plain.moving_variance), rtol=1e-5)
    out = backend.fused_batch_normalization(ops.convert_to_tensor(x), fast.gamma if scale else None,
                                            fast.beta if center else None, fast.moving_mean,
                                            fast.moving_variance, axis, 1e-3, True)
    assert (out is not None) == (BACKEND == "torch")


def _network(lib):
    """A small conv/BN/transposed-conv network of layers from ``lib`` (keras.layers or keras_gen.layers)."""
    return keras.Sequential([
        keras.Input((4, 4, 2)),
        lib.Conv2D(4, 3, strides=2, padding="same", use_bias=False, name="conv"),
        lib.BatchNormalization(momentum=0.9, epsilon=1e-5, name="bn"),
        keras.layers.ReLU(name="relu"),
        lib.Conv2DTranspose(2, 4, strides=2, padding="same", name="deconv"),
    ], name="net")


def test_configs_weights_and_keras_files_are_interchangeable(tmp_path):
    fast, plain = _network(kg_layers), _network(keras.layers)
    for f, p in zip(fast.layers, plain.layers):
        assert f.get_config() == p.get_config()
    assert [(w.path, w.shape) for w in fast.weights] == [(w.path, w.shape) for w in plain.weights]
    x = RNG.normal(size=(3, 4, 4, 2)).astype("float32")
    fast(x, training=True)  # moves the moving statistics
    plain.set_weights(fast.get_weights())
    np.testing.assert_allclose(_np(plain(x)), _np(fast(x)), rtol=1e-5, atol=1e-6)
    path = os.path.join(tmp_path, "net.keras")
    fast.save(path)
    loaded = keras.saving.load_model(path)
    assert [type(layer) for layer in loaded.layers] == [type(layer) for layer in fast.layers]
    assert type(loaded.layers[1]) is kg_layers.BatchNormalization
    np.testing.assert_allclose(_np(loaded(x)), _np(fast(x)), rtol=1e-6, atol=1e-6)
    # A Keras network's weights file loads into the fast network and back.
    weights = os.path.join(tmp_path, "plain.weights.h5")
    plain.save_weights(weights)
    again = _network(kg_layers)
    again.load_weights(weights)
    np.testing.assert_allclose(_np(again(x)), _np(plain(x)), rtol=1e-5, atol=1e-6)


@pytest.mark.skipif(not FUSED, reason=KERAS_PATH)
def test_gan_fit_with_fast_layers_equals_fit_with_keras_layers():
    def nets(lib):
        keras.utils.set_random_seed(3)
        g = keras.Sequential([
            keras.Input((6,)), keras.layers.Reshape((1, 1, 6)),
            lib.Conv2DTranspose(8, 4, padding="valid", use_bias=False),  # 1 -> 4
            lib.BatchNormalization(momentum=0.9, epsilon=1e-5), keras.layers.ReLU(),
            lib.Conv2DTranspose(1, 4, strides=2, padding="same", use_bias=False),  # 4 -> 8
            keras.layers.Activation("tanh"),
        ])
        d = keras.Sequential([
            keras.Input((8, 8, 1)),
            lib.Conv2D(4, 4, strides=2, padding="same", use_bias=False),
            lib.BatchNormalization(momentum=0.9, epsilon=1e-5), keras.layers.LeakyReLU(0.2),
            lib.Conv2D(1, 4, padding="valid", use_bias=False), keras.layers.Flatten(),
        ])
        return g, d

    x = RNG.uniform(-1, 1, size=(8, 8, 8, 1)).astype("float32")
    weights = []
    for lib in (kg_layers, keras.layers):
        g, d = nets(lib)
        model = keras_gen.GAN(g, d, latent_dim=6, seed=5, reuse_fakes=True)
        model.compile(d_optimizer=keras.optimizers.Adam(2e-3, beta_1=0.5),
                      g_optimizer=keras.optimizers.Adam(2e-3, beta_1=0.5))
        model.fit(x, batch_size=4, epochs=1, verbose=0, shuffle=False)
        weights.append([_np(w) for w in g.weights + d.weights])
    assert not np.allclose(weights[0][0], nets(keras.layers)[0].get_weights()[0])  # it trained
    for w_fast, w_plain in zip(*weights):
        np.testing.assert_allclose(w_fast, w_plain, rtol=1e-4, atol=1e-5)


@pytest.mark.skipif(not FUSED, reason="clone_model is backend-independent; the outputs differ only on PyTorch")
def test_with_fused_layers_swaps_the_default_dcgan_layers_and_back():
    from keras_gen.networks import dcgan_generator

    g = dcgan_generator(8, (8, 8, 1), filters=(8, 4))
    z = RNG.normal(size=(3, 8)).astype("float32")
    g(z, training=True)  # non-trivial moving statistics
    fast = kg_layers.with_fused_layers(g)
    kinds = {type(layer) for layer in fast.layers}
    assert {kg_layers.BatchNormalization, kg_layers.Conv2DTranspose} <= kinds
    assert keras.layers.BatchNormalization not in kinds and keras.layers.Conv2DTranspose not in kinds
    np.testing.assert_allclose(_np(fast(z, training=False)), _np(g(z, training=False)), rtol=1e-5, atol=1e-6)
    back = kg_layers.with_keras_layers(fast)
    assert [type(layer) for layer in back.layers] == [type(layer) for layer in g.layers]
    np.testing.assert_allclose(_np(back(z, training=False)), _np(g(z, training=False)), rtol=1e-5, atol=1e-6)
    with pytest.raises(TypeError, match="model must be a Sequential or functional"):
        kg_layers.with_fused_layers(kg_layers.Conv2D(2, 3))


@pytest.mark.skipif(not FUSED, reason="torch.func transforms are PyTorch's")
def test_torch_func_transforms_go_through_the_fast_convolutions():
    # jacrev / jvp / forward-over-reverse (a Hessian-vector product) of a network with the fast
    # layers equal those of the Keras twin: the kernel's custom autograd.Function must support
    # torch.func (setup_context form, a jvp rule), as Keras' permuted kernel does.
    import torch

    def net(lib):
        keras.utils.set_random_seed(0)
        return keras.Sequential([
            keras.Input((6, 6, 2)),
            lib.Conv2D(3, 4, strides=2, padding="same"),
            lib.BatchNormalization(),
            lib.Conv2DTranspose(2, 4, strides=2, padding="same"),
        ])

    x = torch.tensor(RNG.normal(size=(2, 6, 6, 2)).astype("float32"))
    v = torch.tensor(RNG.normal(size=(2, 6, 6, 2)).astype("float32"))
    results = []
    for lib in (kg_layers, keras.layers):
        m = net(lib)
        f = lambda t: m(t, training=False)  # noqa: E731
        hvp = torch.func.jvp(torch.func.grad(lambda t: f(t).square().sum()), (x,), (v,))[1]
        results.append([torch.func.jacrev(f)(x), torch.func.jvp(f, (x,), (v,))[1], hvp])
    for fast, plain in zip(*results):
        np.testing.assert_allclose(_np(fast.detach()), _np(plain.detach()), rtol=1e-5, atol=1e-5)


@pytest.mark.skipif(not FUSED, reason="from TensorFlow the export runs in-process, where these are Keras' layers; "
                                      "JAX's export goes through the same TensorFlow child as PyTorch's")
def test_generator_with_fast_layers_exports_from_pytorch(tmp_path):
    # The export's TensorFlow child loads the .keras file written under PyTorch: it must find the
    # keras_gen classes, and the SavedModel must compute the generator (moving statistics included).
    from keras_gen import runtime

    g = keras.Sequential([
        keras.Input((4,)), keras.layers.Reshape((1, 1, 4)),
        kg_layers.Conv2DTranspose(4, 4, padding="valid", use_bias=False),
        kg_layers.BatchNormalization(momentum=0.5), keras.layers.ReLU(),
        kg_layers.Conv2DTranspose(2, 4, strides=2, padding="same"),
        kg_layers.Conv2D(1, 3, padding="same", activation="tanh"),
    ], name="generator")
    z = RNG.normal(size=(3, 4)).astype("float32")
    g(z, training=True)  # non-trivial moving statistics
    path = tmp_path / "generator"
    keras_gen.export(g, path, format="saved_model")
    np.testing.assert_allclose(runtime.load(path)(z), _np(g(z, training=False)), rtol=1e-5, atol=1e-6)


@pytest.mark.skipif(not FUSED, reason="clone_model is backend-independent; the outputs differ only on PyTorch")
def test_with_fused_layers_swaps_wrapped_layers_and_refuses_model_subclasses():
    from keras_gen.networks import dcgan_discriminator

    # dcgan_discriminator(spectral_norm=True) wraps its convolutions in SpectralNormalization:
    # the wrapped Conv2D are swapped too (and back), the function kept.
    d = dcgan_discriminator((8, 8, 1), filters=(4, 8), spectral_norm=True)
    x = RNG.normal(size=(2, 8, 8, 1)).astype("float32")
    d(x, training=True)  # moves the power-iteration vectors
    fast = kg_layers.with_fused_layers(d)
    inner = [layer.layer for layer in fast.layers if isinstance(layer, keras.layers.Wrapper)]
    assert inner and all(type(layer).__module__ == "keras_gen.layers.fused" for layer in inner
                         if isinstance(layer, keras.layers.Conv2D))
    assert any(type(layer) is kg_layers.Conv2D for layer in inner)
    np.testing.assert_allclose(_np(fast(x, training=False)), _np(d(x, training=False)), rtol=1e-5, atol=1e-6)
    back = kg_layers.with_keras_layers(fast)
    assert [type(layer.layer) for layer in back.layers if isinstance(layer, keras.layers.Wrapper)] == \
        [type(layer.layer) for layer in d.layers if isinstance(layer, keras.layers.Wrapper)]

    # A Sequential subclass would come back as a plain Sequential, its own code lost: refused.
    class Custom(keras.Sequential):
        pass

    custom = Custom([keras.Input((8, 8, 1)), keras.layers.Conv2D(2, 3)])
    with pytest.raises(TypeError, match="model must be a Sequential or functional .*Received: model="):
        kg_layers.with_fused_layers(custom)


@pytest.mark.skipif(not FUSED, reason=KERAS_PATH)
def test_a_subclass_overriding_convolution_op_keeps_its_convolution():
    # Keras' documented hook (e.g. weight standardization): Conv2D.call runs self.convolution_op.
    def standardized(base):
        class StandardizedConv2D(base):
            def convolution_op(self, inputs, kernel):
                mean, var = ops.moments(kernel, axes=[0, 1, 2], keepdims=True)
                return ops.conv(inputs, (kernel - mean) / ops.sqrt(var + 1e-10), padding="valid",
                                strides=list(self.strides), dilation_rate=self.dilation_rate,
                                data_format=self.data_format)
        return StandardizedConv2D(3, 3, use_bias=False)

    a, b = _twins(standardized(kg_layers.Conv2D), standardized(keras.layers.Conv2D), (6, 6, 2))
    _assert_same_function(a, b, RNG.normal(size=(2, 6, 6, 2)).astype("float32"), training=True)
