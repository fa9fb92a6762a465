"""Spectral normalisation that leaves the stored kernel alone (same on every backend)."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_gen")
class SpectralNormalization(keras.layers.SpectralNormalization):
    """``keras.layers.SpectralNormalization`` with the normalized kernel used functionally.

    Miyato et al. (2018), "Spectral Normalization for Generative Adversarial
    Networks": the wrapped layer computes with ``W / sigma(W)``, ``sigma``
    estimated by power iteration with a persistent vector ``u`` (one
    iteration per training call, ``u`` updated; in inference ``u`` is used
    as stored). Keras' layer writes ``W / sigma`` into the kernel variable
    in place at every training call; on PyTorch that in-place write breaks
    the backward pass as soon as the layer runs twice before it (a GAN's
    discriminator on the real and on the fake batch: "modified by an
    inplace operation"), and on JAX the write is dropped inside a
    differentiated step. This subclass never writes the kernel: each call
    runs the wrapped layer with the normalized kernel through
    ``stateless_call``, so the gradient reaches the kernel through
    ``sigma`` (as in the paper and ``torch.nn.utils.spectral_norm``) and
    the layer behaves the same on TensorFlow, JAX and PyTorch. Arguments,
    variables and saved files are those of ``keras.layers.SpectralNormalization``.

    Args:
        layer: a ``keras.layers.Layer`` with a ``kernel`` (or ``embeddings``).
        power_iterations: int > 0, power iterations per training call.
            Defaults to 1.
        **kwargs: base ``keras.layers.Wrapper`` arguments.

    Example:

    >>> import numpy as np, keras
    >>> from keras_gen.layers import SpectralNormalization
    >>> sn = SpectralNormalization(keras.layers.Dense(3))
    >>> tuple(sn(np.ones((2, 4), "float32"), training=True).shape)
    (2, 3)
    """

    def call(self, inputs, training=False):
        if training:
            new_u, kernel = ops.cond(
                ops.all(ops.equal(self.kernel.value, 0)),
                lambda: (self.vector_u.value, self.kernel.value),
                self.normalized_weights,
            )
            self.vector_u.assign(new_u)
        else:
            kernel = self._inference_kernel()
        trainable = [
            kernel if v is self.kernel else v.value for v in self.layer.trainable_variables
        ]
        non_trainable = [
            kernel if v is self.kernel else v.value for v in self.layer.non_trainable_variables
        ]
        output, _ = self.layer.stateless_call(trainable, non_trainable, inputs)
        return ops.cast(output, inputs.dtype)

    def _inference_kernel(self):
        """W / sigma with the stored u (no power-iteration update)."""
        weights = ops.reshape(self.kernel.value, [-1, self.kernel_shape[-1]])
        u = self.vector_u.value
        v = ops.matmul(u, ops.transpose(weights))
        v = v / ops.maximum(ops.norm(v), 1e-12)
        sigma = ops.matmul(ops.matmul(v, weights), ops.transpose(u))
        sigma = ops.where(ops.equal(sigma, 0), ops.ones_like(sigma), sigma)
        return ops.cast(ops.reshape(weights / sigma, self.kernel_shape), self.kernel.dtype)
