"""Reconstruction error of PCA at a bottleneck width: the baseline an AE must beat."""

import numpy as np

from keras_gen import _checks as checks


def _per_example_mse(x, x_hat):
    x = np.asarray(x, dtype="float64").reshape(len(x), -1)
    x_hat = np.asarray(x_hat, dtype="float64").reshape(len(x_hat), -1)
    return np.mean((x - x_hat) ** 2, axis=-1)


def pca_reconstruction_mse(x_train, x_test, n_components, return_model=False):
    """Test reconstruction MSE of PCA fitted on ``x_train`` with ``n_components``.

    Source notes, "Unsupervised Learning": the first use listed is "represent data
    to a lower dimension through PCA". PCA is the best *linear* encoder/
    decoder of a given width for squared error, so an auto-encoder with a
    bottleneck of ``latent_dim`` earns its non-linearity only if its test
    MSE is below PCA's with ``n_components = latent_dim``. The error is the
    same quantity as ``keras_gen.losses.mean_squared_error``: the mean over
    the D dimensions of each example, averaged over examples.

    Args:
        x_train: array ``(n, ...)`` PCA is fitted on (flattened per example).
        x_test: array ``(m, ...)`` of the same per-example shape.
        n_components: int > 0, the bottleneck width.
        return_model: bool, also return the fitted ``sklearn.decomposition.PCA``.

    Returns:
        float MSE (and the PCA model if asked).

    Example:

    >>> import numpy as np
    >>> x = np.random.default_rng(0).normal(size=(50, 4, 4, 1))
    >>> round(pca_reconstruction_mse(x, x, 16), 10)   # all components: exact
    0.0
    """
    from sklearn.decomposition import PCA

    n_components = checks.positive_int("n_components", n_components)
    x_train = np.asarray(x_train, dtype="float64")
    x_test = np.asarray(x_test, dtype="float64")
    flat_train = x_train.reshape(len(x_train), -1)
    flat_test = x_test.reshape(len(x_test), -1)
    if flat_train.shape[1] != flat_test.shape[1]:
        raise ValueError(
            "x_train and x_test must have the same per-example shape. Received: "
            f"{x_train.shape[1:]} and {x_test.shape[1:]}"
        )
    if n_components > min(flat_train.shape):
        raise ValueError(
            f"n_components must be at most min(n_train, D) = {min(flat_train.shape)}. "
            f"Received: n_components={n_components}"
        )
    pca = PCA(n_components=n_components, svd_solver="full").fit(flat_train)
    recon = pca.inverse_transform(pca.transform(flat_test))
    mse = float(np.mean(_per_example_mse(flat_test, recon)))
    return (mse, pca) if return_model else mse


def reconstruction_mse(model, x, batch_size=None, labels=None):
    """Test reconstruction MSE of an ``AutoEncoder`` or ``VAE`` (VAE: decodes the mean).

    The source notes' L_rec = 1/D sum_d (x^(d) - g(f(x))^(d))^2 averaged over
    examples, comparable with :func:`pca_reconstruction_mse`. ``labels``: the
    images' labels for a conditional model (``ConditionalVAE``), None
    otherwise.
    """
    if not callable(getattr(model, "reconstruct", None)):
        raise TypeError(
            "reconstruction_mse needs a model that reconstructs its input (an AutoEncoder or "
            f"a VAE). Received: model of type {type(model).__name__}"
        )
    if getattr(model, "condition_spec", None) is not None:
        reconstructed = model.reconstruct(x, labels=labels, batch_size=batch_size)
    elif labels is not None:
        raise ValueError(
            f"labels must be None: a {type(model).__name__} is unconditional and reconstructs "
            f"from the images alone. Received: labels={labels!r}"
        )
    else:
        reconstructed = model.reconstruct(x, batch_size=batch_size)
    return float(np.mean(_per_example_mse(x, reconstructed)))
