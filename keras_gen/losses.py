"""The source notes' loss functions, as small named functions.

Every function takes batched tensors and returns one value per example
(shape ``(batch,)``); models average over the batch, which is the source notes'
"expected value over the training data" estimated on a mini-batch.

Reference: ../shared/seed/unsupervised_learning.md ("Auto-Encoders",
"Variational Auto-Encoders", "Generative Adversarial Network").
"""

import math
import warnings

from keras import ops

from keras_gen import _checks as checks

RECONSTRUCTION_LOSSES = ("mse", "bce")


def _flatten(x):
    return ops.reshape(x, (ops.shape(x)[0], -1))


def mean_squared_error(x, x_hat):
    """Reconstruction MSE per example, averaged over the D data dimensions.

    Source notes, "Auto-Encoders" and "Variational Auto-Encoders":

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
    source notes (which use MSE); offered because it is the usual choice for images
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
    name = checks.choice("reconstruction", name, RECONSTRUCTION_LOSSES)
    if name == "mse":
        return mean_squared_error
    return binary_crossentropy


def kl_divergence(z_mean, z_log_sigma):
    """KL(N(mu, sigma^2) || N(0, I)) per example, summed over latent dims.

    Source notes, "Variational Auto-Encoders":

        D_KL = 1/2 * sum_{d=1..D} (mu_d^2 + sigma_d^2 - 2 log sigma_d - 1)

    with ``sigma = exp(z_log_sigma)``: the encoder's raw output is the log of
    the standard deviation.

    Args:
        z_mean: posterior means, shape ``(batch, latent_dim)``.
        z_log_sigma: log standard deviations, same shape.

    Returns:
        Tensor of shape ``(batch,)``, in nats.
    """
    return ops.sum(kl_per_dimension(z_mean, z_log_sigma), axis=-1)


def kl_per_dimension(z_mean, z_log_sigma):
    """1/2 (mu_d^2 + sigma_d^2 - 2 log sigma_d - 1) per example and dimension, float32.

    The terms of :func:`kl_divergence` before the sum over dimensions, shape
    ``(batch, latent_dim)``, in nats.
    """
    z_mean = ops.cast(z_mean, "float32")
    z_log_sigma = ops.cast(z_log_sigma, "float32")
    return 0.5 * (
        ops.square(z_mean) + ops.exp(2.0 * z_log_sigma) - 2.0 * z_log_sigma - 1.0
    )


def free_bits_kl(z_mean, z_log_sigma, free_bits):
    """The KL regulariser with a free-bits floor per latent dimension.

    Kingma et al. (2016), "Improved Variational Inference with Inverse
    Autoregressive Flow", section on free bits (a training aid; the source notes'
    L_reg is the plain KL of :func:`kl_divergence`):

        L_reg = sum_{d=1..D} max(b, mean_batch(KL_d)),
        KL_d = 1/2 * (mu_d^2 + sigma_d^2 - 2 log sigma_d - 1)

    A dimension whose batch-mean KL is under ``b`` nats adds the constant
    ``b`` (zero gradient), so collapsing it saves nothing.

    Args:
        z_mean: posterior means, shape ``(batch, latent_dim)``.
        z_log_sigma: log standard deviations, same shape.
        free_bits: float >= 0, ``b`` in nats per dimension.

    Returns:
        Scalar tensor, nats per example (already averaged over the batch).
    """
    return free_bits_floor(kl_per_dimension(z_mean, z_log_sigma), free_bits)


def free_bits_floor(kl_per_dim, free_bits):
    """:func:`free_bits_kl` from the terms of :func:`kl_per_dimension`.

    ``sum_d max(b, mean_batch(KL_d))`` for ``kl_per_dim`` of shape
    ``(batch, latent_dim)``; for callers that already hold the terms (the
    ``Sampling`` layer computes them once per step).
    """
    return ops.sum(ops.maximum(ops.mean(kl_per_dim, axis=0), free_bits))


def negative_elbo_from_losses(reconstruction, kl, reconstruction_name, dims):
    """Negative evidence lower bound, nats per example, from a VAE's loss terms.

    Takes the already computed mean reconstruction loss and KL (what a VAE
    step logs); ``keras_gen.metrics.monte_carlo_negative_elbo`` estimates the
    same bound for a model over a data set.

    ``-ELBO = E_q[-log p(x|z)] + KL(q(z|x) || N(0, I))``, with the decoder's
    likelihood implied by the reconstruction loss:

    * ``"bce"`` (Bernoulli decoder): ``-log p(x|z) = D * reconstruction``,
      since the reconstruction is the per-dimension mean BCE;
    * ``"mse"`` (Gaussian decoder of fixed variance s^2):
      ``-log p(x|z) = D * mse / (2 s^2) + D/2 log(2 pi s^2)``. The source notes'
      loss ``mse + lambda * KL`` is, up to that constant, the negative ELBO
      of the Gaussian decoder with ``s^2 = lambda * D / 2``; this function
      uses lambda = 1, i.e. ``s^2 = D / 2``:
      ``-ELBO = mse + KL + D/2 log(pi D)``.

    Either way the value does not depend on the training lambda, so it ranks
    models trained with different lambdas honestly.

    Args:
        reconstruction: mean reconstruction loss (per dimension).
        kl: KL divergence in nats (summed over latent dimensions).
        reconstruction_name: ``"bce"`` or ``"mse"``.
        dims: D, the number of data dimensions per example (int or scalar
            tensor).
    """
    dims = ops.cast(dims, "float32")
    if reconstruction_name == "bce":
        return dims * reconstruction + kl
    if reconstruction_name == "mse":
        return reconstruction + kl + 0.5 * dims * ops.log(math.pi * dims)
    reconstruction_loss(reconstruction_name)  # raises the named error


def negative_elbo(reconstruction, kl, reconstruction_name, dims):
    """Deprecated alias of :func:`negative_elbo_from_losses`."""
    warnings.warn(
        "keras_gen.losses.negative_elbo is deprecated; use "
        "keras_gen.losses.negative_elbo_from_losses (same arguments).",
        DeprecationWarning,
        stacklevel=2,
    )
    return negative_elbo_from_losses(reconstruction, kl, reconstruction_name, dims)


# ---------------------------------------------------------------- GANs
# The discriminator outputs logits l; D = sigmoid(l). The stable identities
# -log sigmoid(l) = softplus(-l) and -log(1 - sigmoid(l)) = softplus(l)
# keep every formula finite for any logit.

GENERATOR_LOSSES = ("non_saturating", "minimax")


def discriminator_loss(real_logits, fake_logits, label_smoothing=0.0):
    """The source notes' discriminator loss per example.

    Source notes, "Generative Adversarial Network":

        L_D = -log D(x) - log(1 - D(G(z)))

    i.e. binary cross-entropy with target 1 for real and 0 for fake. With
    one-sided label smoothing ``s`` (Salimans et al. 2016) the real target is
    ``1 - s``: ``-(1 - s) log D(x) - s log(1 - D(x)) - log(1 - D(G(z)))``.

    Args:
        real_logits: discriminator logits on real data, shape ``(batch, 1)``.
        fake_logits: logits on generated data, shape ``(batch, 1)``.
        label_smoothing: float in [0, 1), ``s``. Defaults to 0.

    Returns:
        Tensor of shape ``(batch,)``: the real term plus the fake term for
        each pair of examples.
    """
    real = _flatten(ops.cast(real_logits, "float32"))
    fake = _flatten(ops.cast(fake_logits, "float32"))
    real_term = (1.0 - label_smoothing) * ops.softplus(-real) + label_smoothing * ops.softplus(real)
    return ops.mean(real_term, axis=-1) + ops.mean(ops.softplus(fake), axis=-1)


def generator_loss_non_saturating(fake_logits):
    """Non-saturating generator loss ``-log D(G(z))`` per example.

    The source notes' "In practice" substitution for ``log(1 - D(G(z)))``: it gives
    strong gradients exactly when the discriminator rejects the fakes.
    """
    return ops.mean(ops.softplus(-_flatten(ops.cast(fake_logits, "float32"))), axis=-1)


def generator_loss_minimax(fake_logits):
    """The original minimax generator loss ``log(1 - D(G(z)))`` per example.

    The source notes' theta* = argmin E[log(1 - D(G(z)))]; it saturates (vanishing
    gradient) when D confidently rejects the fakes.
    """
    return -ops.mean(ops.softplus(_flatten(ops.cast(fake_logits, "float32"))), axis=-1)


def generator_loss(name):
    """The generator loss function called ``name``."""
    name = checks.choice("generator_loss", name, GENERATOR_LOSSES)
    if name == "non_saturating":
        return generator_loss_non_saturating
    return generator_loss_minimax


# ------------------------------------------------- other GAN objectives
# "standard": the source notes' cross-entropy game above. "hinge" (Lim & Ye
# 2017; Miyato et al. 2018) and "wgan-gp" (Gulrajani et al. 2017) treat the
# discriminator's output as an unbounded critic score, not a logit.
# "relativistic" (Jolicoeur-Martineau 2019, RaSGAN) keeps the logit but
# compares each real score with the mean fake score and vice versa.
OBJECTIVES = ("standard", "hinge", "wgan-gp", "relativistic")


def hinge_discriminator_loss(real_scores, fake_scores):
    """Hinge discriminator loss per example, ``relu(1 - D(x)) + relu(1 + D(G(z)))``.

    Averaged over the batch it is the hinge loss of Lim & Ye (2017), used
    with spectral normalisation by Miyato et al. (2018):
    ``E[max(0, 1 - D(x))] + E[max(0, 1 + D(G(z)))]``, with ``D`` the raw
    score (no sigmoid).

    Args:
        real_scores: discriminator outputs on real data, shape ``(batch, 1)``.
        fake_scores: outputs on generated data, shape ``(batch, 1)``.

    Returns:
        Tensor of shape ``(batch,)``.
    """
    real = _flatten(ops.cast(real_scores, "float32"))
    fake = _flatten(ops.cast(fake_scores, "float32"))
    return ops.mean(ops.relu(1.0 - real), axis=-1) + ops.mean(ops.relu(1.0 + fake), axis=-1)


def wasserstein_critic_loss(real_scores, fake_scores):
    """Wasserstein critic loss per example, ``D(G(z)) - D(x)``.

    Averaged over the batch, the negative of the critic's estimate of the
    Wasserstein-1 distance (Arjovsky et al. 2017), without the gradient
    penalty that WGAN-GP adds (:func:`gradient_penalty`).

    Args:
        real_scores: critic outputs on real data, shape ``(batch, 1)``.
        fake_scores: outputs on generated data, shape ``(batch, 1)``.

    Returns:
        Tensor of shape ``(batch,)``.
    """
    real = _flatten(ops.cast(real_scores, "float32"))
    fake = _flatten(ops.cast(fake_scores, "float32"))
    return ops.mean(fake, axis=-1) - ops.mean(real, axis=-1)


def critic_generator_loss(fake_scores):
    """Generator loss of the hinge and Wasserstein objectives, ``-D(G(z))`` per example."""
    return -ops.mean(_flatten(ops.cast(fake_scores, "float32")), axis=-1)


def _squared_norms(gradients):
    flat = _flatten(ops.cast(gradients, "float32"))
    return ops.sum(ops.square(flat), axis=-1)


def gradient_penalty(gradients):
    """WGAN-GP's penalty per example, ``(||g||_2 - 1)^2``.

    Gulrajani et al. (2017), "Improved Training of Wasserstein GANs": the
    critic's loss adds ``lambda * E[(||grad D(x_hat)||_2 - 1)^2]`` on random
    interpolates ``x_hat`` of real and generated examples.

    Args:
        gradients: the critic's input gradients, shape ``(batch, ...)``
            (e.g. from ``keras_gen.backend.input_gradient``).

    Returns:
        Tensor of shape ``(batch,)``.
    """
    # The 1e-12 keeps the square root differentiable at a zero gradient.
    return ops.square(ops.sqrt(_squared_norms(gradients) + 1e-12) - 1.0)


def r1_penalty(gradients):
    """The R1 penalty per example, ``||g||_2^2``, before its ``gamma / 2`` weight.

    Mescheder et al. (2018), "Which Training Methods for GANs do actually
    Converge?": the discriminator's loss adds
    ``gamma / 2 * E[||grad D(x)||^2]`` on real data.

    Args:
        gradients: the discriminator's input gradients on real examples,
            shape ``(batch, ...)``.

    Returns:
        Tensor of shape ``(batch,)``.
    """
    return _squared_norms(gradients)


def _relativistic_terms(real_logits, fake_logits):
    real = _flatten(ops.cast(real_logits, "float32"))
    fake = _flatten(ops.cast(fake_logits, "float32"))
    return real - ops.mean(fake), fake - ops.mean(real)


def relativistic_discriminator_loss(real_logits, fake_logits):
    """Relativistic average discriminator loss (RaSGAN) per example.

    Jolicoeur-Martineau (2019), "The relativistic discriminator: a key
    element missing from standard GAN": with ``C`` the logits and the means
    taken over the batch,
    ``-log sigmoid(C(x) - mean C(G(z))) - log(1 - sigmoid(C(G(z)) - mean C(x)))``:
    D says how much more real a real image looks than the average fake, and
    a fake than the average real image.

    Args:
        real_logits: discriminator logits on real data, shape ``(batch, 1)``.
        fake_logits: logits on generated data, shape ``(batch, 1)``, the
            same batch size.

    Returns:
        Tensor of shape ``(batch,)``; its mean is the batch loss. Every
        entry depends on the whole batch through the means.
    """
    real_gap, fake_gap = _relativistic_terms(real_logits, fake_logits)
    return ops.mean(ops.softplus(-real_gap), axis=-1) + ops.mean(ops.softplus(fake_gap), axis=-1)


def relativistic_generator_loss(real_logits, fake_logits):
    """Relativistic average generator loss (RaSGAN) per example.

    The discriminator's loss with real and fake swapped:
    ``-log sigmoid(C(G(z)) - mean C(x)) - log(1 - sigmoid(C(x) - mean C(G(z))))``,
    so the generator also learns from the real images' scores (through
    ``mean C(G(z))``).

    Returns:
        Tensor of shape ``(batch,)``; its mean is the batch loss.
    """
    real_gap, fake_gap = _relativistic_terms(real_logits, fake_logits)
    return ops.mean(ops.softplus(-fake_gap), axis=-1) + ops.mean(ops.softplus(real_gap), axis=-1)
