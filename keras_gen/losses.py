"""The seed's loss functions, as small named functions.

Every function takes batched tensors and returns one value per example
(shape ``(batch,)``); models average over the batch, which is the seed's
"expected value over the training data" estimated on a mini-batch.

Reference: shared/seed/unsupervised_learning.md ("Auto-Encoders",
"Variational Auto-Encoders", "Generative Adversarial Network").
"""

from keras import ops

RECONSTRUCTION_LOSSES = ("mse", "bce")


def _flatten(x):
    return ops.reshape(x, (ops.shape(x)[0], -1))


def mean_squared_error(x, x_hat):
    """Reconstruction MSE per example, averaged over the D data dimensions.

    Seed, "Auto-Encoders" and "Variational Auto-Encoders":

        L_rec = 1/D * sum_{d=1..D} (x^(d) - g_theta^(d)(z))^2

    (the AE section writes the normaliser as 1/N; it is the number of terms
    summed, D, as in the VAE section and in ``keras.losses.MeanSquaredError``).

    Args:
        x: data, shape ``(batch, ...)``.
        x_hat: reconstruction, same shape.

    Returns:
        Tensor of shape ``(batch,)``.
    """
    diff = _flatten(x) - _flatten(ops.cast(x_hat, x.dtype))
    return ops.mean(ops.square(diff), axis=-1)


def binary_crossentropy(x, x_hat, epsilon=1e-7):
    """Bernoulli reconstruction loss per example, averaged over dimensions.

        L_rec = -1/D * sum_d [x^(d) log g^(d) + (1 - x^(d)) log(1 - g^(d))]

    for data in [0, 1] and a decoder with a sigmoid output ``g``. Not in the
    seed (which uses MSE); offered because it is the usual choice for images
    in [0, 1] and gives a likelihood in nats when summed instead of averaged.

    Args:
        x: targets in [0, 1], shape ``(batch, ...)``.
        x_hat: probabilities in [0, 1], same shape.
        epsilon: float, clip so that log(0) never occurs. Defaults to 1e-7.

    Returns:
        Tensor of shape ``(batch,)``.
    """
    p = ops.clip(_flatten(ops.cast(x_hat, x.dtype)), epsilon, 1.0 - epsilon)
    t = _flatten(x)
    return -ops.mean(t * ops.log(p) + (1.0 - t) * ops.log(1.0 - p), axis=-1)


def reconstruction_loss(name):
    """The reconstruction loss function called ``name`` ("mse" or "bce")."""
    if name == "mse":
        return mean_squared_error
    if name == "bce":
        return binary_crossentropy
    raise ValueError(
        f"reconstruction must be one of {RECONSTRUCTION_LOSSES}. "
        f"Received: reconstruction={name!r}"
    )


def kl_divergence(z_mean, z_log_sigma):
    """KL(N(mu, sigma^2) || N(0, I)) per example, summed over latent dims.

    Seed, "Variational Auto-Encoders":

        D_KL = 1/2 * sum_{d=1..D} (mu_d^2 + sigma_d^2 - 2 log sigma_d - 1)

    with ``sigma = exp(z_log_sigma)``: the encoder's raw output is the log of
    the standard deviation.

    Args:
        z_mean: posterior means, shape ``(batch, latent_dim)``.
        z_log_sigma: log standard deviations, same shape.

    Returns:
        Tensor of shape ``(batch,)``, in nats.
    """
    z_mean = ops.cast(z_mean, "float32")
    z_log_sigma = ops.cast(z_log_sigma, "float32")
    terms = (
        ops.square(z_mean)
        + ops.exp(2.0 * z_log_sigma)
        - 2.0 * z_log_sigma
        - 1.0
    )
    return 0.5 * ops.sum(terms, axis=-1)
