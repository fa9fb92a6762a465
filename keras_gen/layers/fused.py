"""Keras' BatchNormalization, Conv2D and Conv2DTranspose, computed with fused backend kernels.

Each layer is a subclass of the Keras layer of the same name with the same
arguments, configuration and weights (same names, shapes and order), so a
model can swap one for the other and load the other's weights. On PyTorch
each computes its function with one PyTorch op (``native_batch_norm``,
``conv2d``, ``conv_transpose2d`` with the exact padding) through
:mod:`keras_gen.backend`; on TensorFlow and JAX, and for arguments the fused
op does not cover, each runs Keras' own computation.
"""

import keras

from keras_gen import backend as _backend


@keras.saving.register_keras_serializable(package="keras_gen")
class BatchNormalization(keras.layers.BatchNormalization):
    """``keras.layers.BatchNormalization`` with one fused kernel per call on PyTorch.

    Same arguments, configuration, weights and function as
    ``keras.layers.BatchNormalization``. On PyTorch, for float32 or float64
    inputs without a mask, renorm or ``synchronized``, the training call
    normalizes with ``torch.native_batch_norm`` (output and batch moments in
    one pass, and one fused backward) and updates the moving statistics as
    Keras does (``moving = moving * momentum + batch * (1 - momentum)``, the
    biased batch variance); the inference call is one ``torch.batch_norm``.
    Everywhere else it is Keras' layer.

    Example:

    >>> import numpy as np
    >>> x = np.arange(8, dtype="float32").reshape(4, 2)
    >>> layer = BatchNormalization(momentum=0.5)
    >>> y = keras.ops.convert_to_numpy(layer(x, training=True))
    >>> [round(float(v), 3) for v in y[:, 0]]
    [-1.342, -0.447, 0.447, 1.342]
    >>> [round(float(v), 3) for v in keras.ops.convert_to_numpy(layer.moving_variance)]
    [3.0, 3.0]
    """

    def call(self, inputs, training=None, mask=None):
        train = bool(training and self.trainable)
        if mask is None and not self.renorm and not self.synchronized:
            result = _backend.fused_batch_normalization(
                inputs,
                self.gamma if self.scale else None,
                self.beta if self.center else None,
                self.moving_mean,
                self.moving_variance,
                self.axis,
                self.epsilon,
                train,
            )
            if result is not None:
                outputs, mean, variance = result
                if train:
                    momentum = self.momentum
                    self.moving_mean.assign(self.moving_mean * momentum + mean * (1.0 - momentum))
                    self.moving_variance.assign(self.moving_variance * momentum + variance * (1.0 - momentum))
                return keras.ops.cast(outputs, self.compute_dtype)
        return super().call(inputs, training=training, mask=mask)


@keras.saving.register_keras_serializable(package="keras_gen")
class Conv2D(keras.layers.Conv2D):
    """``keras.layers.Conv2D`` as one convolution call (bias included) on PyTorch.

    Same arguments, configuration, weights and function as
    ``keras.layers.Conv2D``. On PyTorch, for float inputs and "valid" or
    symmetric "same" padding, the convolution gets the padding itself (no
    padded copy of the input), the bias, and channels-last tensors as views
    (no contiguous copies); otherwise, on TensorFlow and JAX, and in a
    subclass that overrides ``convolution_op``, it is Keras' layer.

    Example:

    >>> import numpy as np
    >>> layer = Conv2D(2, 3, padding="same", kernel_initializer="ones")
    >>> tuple(layer(np.ones((1, 4, 4, 1), "float32")).shape)
    (1, 4, 4, 2)
    """

    def call(self, inputs):
        if type(self).convolution_op is not keras.layers.Conv2D.convolution_op:
            # A subclass's own convolution (Keras' hook, e.g. weight standardization).
            return super().call(inputs)
        outputs = _backend.fused_conv(
            inputs,
            self.kernel,
            self.bias if self.use_bias else None,
            self.strides,
            self.padding,
            self.dilation_rate,
            self.data_format,
            self.groups,
        )
        if outputs is None:
            return super().call(inputs)
        if self.activation is not None:
            return self.activation(outputs)
        return outputs


@keras.saving.register_keras_serializable(package="keras_gen")
class Conv2DTranspose(keras.layers.Conv2DTranspose):
    """``keras.layers.Conv2DTranspose`` as one transposed-convolution call on PyTorch.

    Same arguments, configuration, weights and function as
    ``keras.layers.Conv2DTranspose``. On PyTorch, for float inputs, Keras'
    output shape is given to ``conv_transpose2d`` as its padding and output
    padding (Keras' own PyTorch path computes the unpadded output and crops
    it: for kernel 4, stride 2, "same", (2H + 2)^2 outputs for (2H)^2 kept),
    with the bias and channels-last tensors as views. Otherwise, and on
    TensorFlow and JAX, it is Keras' layer.

    Example:

    >>> import numpy as np
    >>> layer = Conv2DTranspose(2, 4, strides=2, padding="same")
    >>> tuple(layer(np.ones((1, 4, 4, 3), "float32")).shape)
    (1, 8, 8, 2)
    """

    def call(self, inputs):
        outputs = _backend.fused_conv_transpose(
            inputs,
            self.kernel,
            self.bias if self.use_bias else None,
            self.strides,
            self.padding,
            self.output_padding,
            self.dilation_rate,
            self.data_format,
        )
        if outputs is None:
            return super().call(inputs)
        if self.activation is not None:
            return self.activation(outputs)
        return outputs


_FUSED = {
    keras.layers.BatchNormalization: BatchNormalization,
    keras.layers.Conv2D: Conv2D,
    keras.layers.Conv2DTranspose: Conv2DTranspose,
}
_PLAIN = {fast: plain for plain, fast in _FUSED.items()}


def _swap_layers(model, table):
    # Exactly Sequential or Functional: clone_model would turn a subclass
    # into its base class, its own methods silently lost.
    if type(model) is not keras.Sequential and type(model).__name__ != "Functional":
        raise TypeError(
            "model must be a Sequential or functional keras.Model (not a subclass: its own "
            f"code would be lost in the copy). Received: model={model!r}"
        )

    def clone(layer):
        config = layer.get_config()
        if isinstance(layer, keras.layers.Wrapper) and type(layer.layer) in table:
            # A wrapped layer (e.g. in SpectralNormalization) is swapped inside its wrapper.
            inner = table[type(layer.layer)].from_config(layer.layer.get_config())
            config = {**config, "layer": keras.saving.serialize_keras_object(inner)}
        cls = table.get(type(layer), type(layer))
        return cls.from_config(config)

    copy = keras.models.clone_model(model, clone_function=clone, recursive=True)
    copy.set_weights(model.get_weights())
    return copy


def with_fused_layers(model):
    """A copy of ``model`` whose Keras BatchNormalization, Conv2D and Conv2DTranspose are keras-gen's.

    Every layer of exactly those Keras classes (in nested Sequential and
    functional models and inside wrappers such as ``SpectralNormalization``
    included) is rebuilt as the :mod:`keras_gen.layers` class of the same
    name from its configuration; other layers are cloned as they are; all
    weights (moving statistics included) are copied. The copy computes the
    same function, faster on PyTorch.

    Args:
        model: a Sequential or functional ``keras.Model`` (e.g. from
            ``keras_gen.networks`` or loaded from a ``.keras`` file).

    Returns:
        The new model (``model`` is left as it is).

    Raises:
        TypeError: if ``model`` is not a Sequential or functional model
            (a subclass of either included).

    Example:

    >>> net = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(2, 3)])
    >>> type(with_fused_layers(net).layers[0]).__module__
    'keras_gen.layers.fused'
    """
    return _swap_layers(model, _FUSED)


def with_keras_layers(model):
    """The inverse of :func:`with_fused_layers`: keras-gen's three layers back to Keras' own.

    A model so converted saves to a ``.keras`` file that plain Keras loads
    without keras-gen installed.

    Args:
        model: a Sequential or functional ``keras.Model``.

    Returns:
        The new model, weights copied.

    Raises:
        TypeError: if ``model`` is not a Sequential or functional model
            (a subclass of either included).
    """
    return _swap_layers(model, _PLAIN)
