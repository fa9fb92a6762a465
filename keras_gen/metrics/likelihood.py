"""A VAE's negative ELBO and importance-weighted NLL, in nats per example.

The decoder likelihood p(x|z) is the one implied by the VAE's
``reconstruction`` loss, exactly as in ``keras_gen.losses.negative_elbo_from_losses``:

* ``"bce"``: Bernoulli, ``-log p(x|z) = D * BCE(x, g(z))`` (BCE averaged over
  the D dimensions, probabilities clipped to [1e-7, 1 - 1e-7]);
* ``"mse"``: Gaussian of variance s^2 = D/2 (the lambda = 1 reading of the
  source notes' ``mse + lambda * KL``), ``-log p(x|z) = MSE(x, g(z)) + D/2 log(pi D)``.

The prior is N(0, I) and the posterior q(z|x) = N(mu, sigma^2) with
``[mu, log sigma] = encoder(x)`` (source notes, "Variational Auto-Encoders").
"""

import math
import warnings

import numpy as np

from keras import ops

from keras_gen import _checks as checks
from keras_gen import backend
from keras_gen.models import base
from keras_gen import losses

_LOG_2PI = math.log(2.0 * math.pi)


def _check_vae(model):
    """TypeError unless ``model`` has a posterior q(z|x) (``posterior``: a VAE)."""
    if not callable(getattr(model, "posterior", None)):
        raise TypeError(
            "The likelihood bounds need a keras_gen.VAE (an encoder q(z|x) and a "
            f"decoder p(x|z)). Received: model of type {type(model).__name__}"
        )


def _neg_log_likelihood(model, x, x_hat):
    """-log p(x|z) per row, nats (float64)."""
    dims = float(np.prod(x.shape[1:]))
    per_dim = ops.convert_to_numpy(model.reconstruction_fn(x, x_hat)).astype("float64")
    if model.reconstruction == "bce":
        return dims * per_dim
    return per_dim + 0.5 * dims * math.log(math.pi * dims)


def _conditions(model, labels, n):
    """The float32 ``(n, k)`` condition of a conditional VAE for ``labels``; None otherwise."""
    if getattr(model, "condition_spec", None) is None:
        if labels is not None:
            raise ValueError(
                f"labels must be None: a {type(model).__name__} is unconditional. "
                f"Received: labels={labels!r}"
            )
        return None
    return model.condition_vectors(labels, n)


def _terms(model, x, samples, seed, batch_size, condition=None):
    """(-log p(x|z_i), log p(z_i) - log q(z_i|x), KL) for ``samples`` draws per example.

    ``condition``: a conditional VAE's ``(n, k)`` condition of ``x``, or None.
    """
    x = np.asarray(x, dtype="float32")
    n = len(x)
    if condition is None:
        z_mean, z_log_sigma = model.posterior(x, batch_size=batch_size)
    else:
        z_mean, z_log_sigma = model.posterior(x, batch_size=batch_size, condition=condition)
    z_mean, z_log_sigma = np.asarray(z_mean, "float64"), np.asarray(z_log_sigma, "float64")
    rng = np.random.default_rng(seed)
    eps = rng.standard_normal((n, samples, z_mean.shape[-1]))
    z = z_mean[:, None, :] + np.exp(z_log_sigma)[:, None, :] * eps
    # log p(z) - log q(z|x); the 2 pi terms cancel.
    log_prior_minus_q = np.sum(-0.5 * z**2 + 0.5 * eps**2 + z_log_sigma[:, None, :], axis=-1)
    z = z.reshape(n * samples, -1).astype("float32")
    if condition is None:
        x_hat = backend.predict(model.decoding_network, z, batch_size=batch_size or 256, verbose=0)
    else:
        x_hat = model.decode(z, condition=np.repeat(condition, samples, axis=0),
                             batch_size=batch_size or 256)
    x_rep = np.repeat(x, samples, axis=0)
    nll = _neg_log_likelihood(model, x_rep, x_hat).reshape(n, samples)
    kl = ops.convert_to_numpy(losses.kl_divergence(z_mean, z_log_sigma)).astype("float64")
    return nll, log_prior_minus_q, kl


def _chunks(n, size):
    for start in range(0, n, size):
        yield slice(start, min(start + size, n))


def log_importance_weights(model, x, k=100, seed=0, batch_size=None, chunk=64, labels=None):
    """log w_i = log p(x|z_i) + log p(z_i) - log q(z_i|x), z_i ~ q(z|x); shape ``(n, k)``.

    ``labels``: for a ``keras_gen.ConditionalVAE``, the labels of ``x`` (one
    per image, or one for all); the bound is then of log p(x|labels).
    """
    _check_vae(model)
    k = checks.integer("k", k, minimum=1)
    seed = checks.seed("seed", seed, allow_none=False)
    x = base.image_input(model, x, in_range=True).astype("float32")  # as fit checks it
    condition = _conditions(model, labels, len(x))
    out = []
    for i, part in enumerate(_chunks(len(x), chunk)):
        cond = None if condition is None else condition[part]
        nll, log_ratio, _ = _terms(model, x[part], k, [seed, i], batch_size, cond)
        out.append(-nll + log_ratio)
    return np.concatenate(out)


def importance_weighted_nll(model, x, k=100, seed=0, batch_size=None, per_example=False,
                            labels=None):
    """Importance-weighted estimate of -log p(x) (Burda et al. 2016), nats per example.

        log p(x) >= L_k = E[ log (1/k) sum_{i=1..k} p(x|z_i) p(z_i) / q(z_i|x) ],
        z_i ~ q(z|x)

    L_1 is the ELBO, L_k never decreases with k, and L_k -> log p(x) as
    k -> infinity, so ``-L_k`` is an upper bound on the negative
    log-likelihood that tightens with k and sits below the negative ELBO
    (:func:`monte_carlo_negative_elbo`). Computed with a log-sum-exp per example. With
    ``k=1`` its expectation equals the negative ELBO. The likelihood of
    the decoder is the one the VAE was trained with (module docstring);
    for ``"mse"`` the number is a density of continuous data and can be
    negative.

    Args:
        model: a trained ``keras_gen.VAE``.
        x: data ``(n, ...)`` (in [0, 1] for ``"bce"``).
        k: int >= 1, importance samples per example. Defaults to 100.
        seed: int, seed of the posterior draws (NumPy; the same on every backend).
        batch_size: decoder ``predict`` batch size.
        per_example: bool, return the ``(n,)`` values instead of their mean.
        labels: for a ``keras_gen.ConditionalVAE``, the labels of ``x`` (class
            ids ``(n,)`` or vectors ``(n, k)``, or one for all): the bound
            is then on -log p(x | labels). Must be None for a plain VAE.

    Returns:
        float (or array ``(n,)``), nats.

    Example:

    >>> import numpy as np, keras_gen
    >>> enc = keras_gen.networks.dense_encoder((4, 4, 1), 2, hidden_units=(8,), variational=True)
    >>> dec = keras_gen.networks.dense_decoder(2, (4, 4, 1), hidden_units=(8,))
    >>> vae = keras_gen.VAE(enc, dec, reconstruction="bce", seed=0)
    >>> x = np.random.default_rng(0).uniform(size=(8, 4, 4, 1)).astype("float32")
    >>> bool(importance_weighted_nll(vae, x, k=50) <= monte_carlo_negative_elbo(vae, x, samples=50))
    True
    """
    log_w = log_importance_weights(model, x, k, seed, batch_size, labels=labels)
    top = log_w.max(axis=1, keepdims=True)
    log_mean_w = top[:, 0] + np.log(np.mean(np.exp(log_w - top), axis=1))
    values = -log_mean_w
    return values if per_example else float(np.mean(values))


def monte_carlo_negative_elbo(model, x, samples=1, seed=0, batch_size=None, per_example=False,
                              labels=None):
    """A VAE's negative evidence lower bound -ELBO over data ``x``, nats per example.

        -ELBO = E_{z ~ q(z|x)}[-log p(x|z)] + KL(q(z|x) || N(0, I))

    (source notes, "Variational Auto-Encoders": the reconstruction term and the KL
    regulariser, here with lambda = 1 and the decoder likelihood of the
    module docstring). The expectation is a Monte-Carlo mean over
    ``samples`` draws of z = mu + sigma * eps; the KL is the closed form
    (``keras_gen.losses.kl_divergence``), as in training. This is the
    quantity the VAE logs as ``neg_elbo``, evaluated over a whole set.

    Args:
        model: a trained ``keras_gen.VAE``.
        x: data ``(n, ...)``.
        samples: int >= 1, draws of z per example. Defaults to 1.
        seed: int, seed of the draws.
        batch_size: decoder ``predict`` batch size.
        per_example: bool, return the ``(n,)`` values instead of their mean.
        labels: for a ``keras_gen.ConditionalVAE``, the labels of ``x``; the
            bound is then the conditional one. Must be None for a plain VAE.

    Returns:
        float (or array ``(n,)``), nats.
    """
    _check_vae(model)
    samples = checks.integer("samples", samples, minimum=1)
    seed = checks.seed("seed", seed, allow_none=False)
    x = base.image_input(model, x, in_range=True).astype("float32")  # as fit checks it
    condition = _conditions(model, labels, len(x))
    out = []
    for i, part in enumerate(_chunks(len(x), 64)):
        cond = None if condition is None else condition[part]
        nll, _, kl = _terms(model, x[part], samples, [seed, i], batch_size, cond)
        out.append(nll.mean(axis=1) + kl)
    values = np.concatenate(out)
    return values if per_example else float(np.mean(values))


def negative_elbo(model, x, samples=1, seed=0, batch_size=None, per_example=False, labels=None):
    """Deprecated alias of :func:`monte_carlo_negative_elbo`."""
    warnings.warn(
        "keras_gen.metrics.negative_elbo is deprecated; use "
        "keras_gen.metrics.monte_carlo_negative_elbo (same arguments).",
        DeprecationWarning,
        stacklevel=2,
    )
    return monte_carlo_negative_elbo(model, x, samples, seed, batch_size, per_example, labels=labels)
