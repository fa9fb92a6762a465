"""Fréchet Inception Distance and Kernel Inception Distance on any feature extractor.

Both compare a set of real and a set of generated images through the
features a fixed network extracts from them: FID fits a Gaussian to each
set of features and measures the Fréchet (2-Wasserstein) distance between
the two Gaussians (Heusel et al. 2017); KID is the unbiased estimate of the
squared maximum mean discrepancy with a cubic polynomial kernel (Binkowski
et al. 2018). Lower is better; both are 0 for identical distributions.

The extractor is chosen for the images' shape (``select_extractor``):
1-channel images default to a small classifier trained on the offline
digits (``digits_feature_extractor``), RGB images to the standard
Inception-v3 pool features (``inception_v3_extractor``, whose ImageNet
weights Keras downloads once, or a local copy); ``extractor="shapes"``
uses a classifier trained on the offline ``shapes`` attributes, which
needs no download. Numbers computed with different extractors, set sizes
or data are not comparable: report them beside the real-vs-real floor
(two real sets of the same size), as recipes/evaluate.py does.
"""

import warnings

import numpy as np

from keras_gen import _checks as checks
from keras_gen.metrics.extractors import extract_features


def _features(name, f):
    f = np.asarray(f, dtype="float64")
    if f.ndim != 2 or len(f) < 2:
        raise ValueError(
            f"{name} must be a 2-D array (n >= 2, features). Received: {name}.shape={f.shape}"
        )
    bad = ~np.isfinite(f).all(axis=1)
    if bad.any():
        rows = np.flatnonzero(bad)
        raise ValueError(
            f"{name} must be finite; {len(rows)} of {len(f)} rows hold NaN or Inf (rows "
            f"{rows[:5].tolist()}{' ...' if len(rows) > 5 else ''}): an extractor given "
            "non-finite images, or one that overflows on them"
        )
    return f


def _same_width(a, b):
    if a.shape[1] != b.shape[1]:
        raise ValueError(
            "real_features and fake_features must have the same number of features. Received: "
            f"real_features.shape={a.shape} and fake_features.shape={b.shape}"
        )


def frechet_distance(mu1, cov1, mu2, cov2):
    """Fréchet distance between N(mu1, cov1) and N(mu2, cov2).

        d^2 = |mu1 - mu2|^2 + Tr(cov1 + cov2 - 2 (cov1 cov2)^(1/2))

    The matrix square root is scipy's ``sqrtm``; a tiny imaginary part from
    round-off is dropped, and a singular product is regularised with 1e-6 I
    (as in the reference implementation).

    Example:

    >>> import numpy as np
    >>> round(frechet_distance(np.zeros(2), np.eye(2), np.ones(2), 4 * np.eye(2)), 6)
    4.0
    """
    from scipy import linalg

    mu1, mu2 = np.atleast_1d(mu1).astype("float64"), np.atleast_1d(mu2).astype("float64")
    cov1, cov2 = np.atleast_2d(cov1).astype("float64"), np.atleast_2d(cov2).astype("float64")
    if mu1.shape != mu2.shape or cov1.shape != cov2.shape:
        raise ValueError(
            "Both Gaussians must have the same dimension. Received: means "
            f"{mu1.shape} and {mu2.shape}, covariances {cov1.shape} and {cov2.shape}"
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scipy warns on singular products; handled below
        covmean = linalg.sqrtm(cov1 @ cov2)
    if not np.isfinite(covmean).all():
        offset = np.eye(len(cov1)) * 1e-6
        covmean = linalg.sqrtm((cov1 + offset) @ (cov2 + offset))
    covmean = np.real(covmean)
    diff = mu1 - mu2
    value = diff @ diff + np.trace(cov1) + np.trace(cov2) - 2.0 * np.trace(covmean)
    return float(max(value, 0.0))


def fid_from_features(real_features, fake_features):
    """FID between two sets of features ``(n, d)`` and ``(m, d)``."""
    a = _features("real_features", real_features)
    b = _features("fake_features", fake_features)
    return frechet_distance(
        a.mean(axis=0), np.cov(a, rowvar=False), b.mean(axis=0), np.cov(b, rowvar=False)
    )


def _polynomial_kernel(a, b):
    return (a @ b.T / a.shape[1] + 1.0) ** 3


def mmd2_unbiased(a, b):
    """Unbiased MMD^2 with k(x, y) = (x.y / d + 1)^3.

        MMD^2_u = 1/(m(m-1)) sum_{i != j} k(a_i, a_j) + 1/(n(n-1)) sum_{i != j} k(b_i, b_j)
                  - 2/(mn) sum_{i, j} k(a_i, b_j)

    The diagonal terms k(a_i, a_i) are left out, which is what makes its
    expectation equal the population MMD^2 (it can be negative).
    """
    m, n = len(a), len(b)
    k_aa = _polynomial_kernel(a, a)
    k_bb = _polynomial_kernel(b, b)
    k_ab = _polynomial_kernel(a, b)
    return float(
        (k_aa.sum() - np.trace(k_aa)) / (m * (m - 1))
        + (k_bb.sum() - np.trace(k_bb)) / (n * (n - 1))
        - 2.0 * k_ab.mean()
    )


def _kid_arguments(subsets, subset_size, seed):
    """KID's ``subsets``, ``subset_size`` and ``seed``, checked (named errors)."""
    return (checks.positive_int("subsets", subsets),
            checks.integer("subset_size", subset_size, minimum=2, allow_none=True),
            checks.seed("seed", seed))


def kid_from_features(real_features, fake_features, subsets=50, subset_size=None, seed=0):
    """KID between two feature sets: mean and std of MMD^2_u over random subsets.

    As in Binkowski et al. (2018): ``subsets`` times, draw ``subset_size``
    rows of each set without replacement and compute :func:`mmd2_unbiased`.

    Args:
        real_features: ``(n, d)``.
        fake_features: ``(m, d)``.
        subsets: int >= 1. Defaults to 50.
        subset_size: int >= 2, defaults to ``min(n, m, 2000) // 2`` (half the
            smaller set, so that the subsets differ).
        seed: int in ``[0, 2**31)``, seed of the subset draws (None: fresh
            entropy, a different draw each call).

    Returns:
        ``(mean, std)`` of the subset estimates.
    """
    subsets, subset_size, seed = _kid_arguments(subsets, subset_size, seed)
    a = _features("real_features", real_features)
    b = _features("fake_features", fake_features)
    _same_width(a, b)
    if subset_size is None and min(len(a), len(b)) < 4:
        raise ValueError(
            "KID's default subset_size (half the smaller set) needs at least 4 rows in each set. "
            f"Received: real_features.shape={a.shape} and fake_features.shape={b.shape}"
        )
    size = min(len(a), len(b), 2000) // 2 if subset_size is None else subset_size
    if not 2 <= size <= min(len(a), len(b)):
        raise ValueError(
            f"subset_size must be in [2, min(n_real, n_fake)] = [2, {min(len(a), len(b))}]. "
            f"Received: subset_size={subset_size!r}"
        )
    rng = np.random.default_rng(seed)
    values = [
        mmd2_unbiased(a[rng.choice(len(a), size, replace=False)],
                      b[rng.choice(len(b), size, replace=False)])
        for _ in range(subsets)
    ]
    return float(np.mean(values)), float(np.std(values))


def _both_features(real, fake, extractor, batch_size):
    from keras_gen.metrics.extractors import check_images
    from keras_gen.metrics.extractors import check_unit_range
    from keras_gen.metrics.extractors import is_builtin
    from keras_gen.metrics.extractors import select_extractor

    batch_size = checks.positive_int("batch_size", batch_size)
    real = check_images("real", real)
    fake = check_images("fake", fake)
    for name, images in (("real", real), ("fake", fake)):
        if len(images) < 2:
            raise ValueError(f"{name} must hold at least 2 images. Received: {name}.shape={images.shape}")
    if real.shape[1:] != fake.shape[1:]:
        raise ValueError(
            "real and fake must hold images of the same shape. Received: "
            f"real.shape={real.shape} and fake.shape={fake.shape}"
        )
    if extractor is None or isinstance(extractor, str) or is_builtin(extractor):
        for name, images in (("real", real), ("fake", fake)):
            check_unit_range(name, images)
    extractor = select_extractor(real.shape[1:], extractor)
    return (extract_features(extractor, real, batch_size),
            extract_features(extractor, fake, batch_size))


def fid(real, fake, extractor=None, batch_size=256):
    """FID between real and generated images, on ``extractor``'s features.

    Args:
        real: images ``(n, H, W, C)`` in [0, 1] (the built-in extractors'
            range; rescale GAN outputs from [-1, 1] first).
        fake: images ``(m, H, W, C)`` of the same shape and range.
        extractor: None (digits extractor for 1-channel images,
            Inception-v3 for RGB), ``"digits"``, ``"shapes"``,
            ``"inception_v3"``, or a ``keras.Model`` mapping images to
            feature vectors ``(batch, d)`` (an output of another rank, such
            as feature maps, is flattened to ``(batch, d)``); see
            :func:`keras_gen.metrics.select_extractor`.
        batch_size: ``predict`` batch size.

    Returns:
        float >= 0.

    Raises:
        ValueError: ``real`` or ``fake`` is not a batch of images, their
            image shapes differ, or the extractor does not fit them (the
            message names the extractors that do); with a built-in
            extractor (``None`` or a name), images outside [0, 1] or not
            finite. A ``keras.Model`` extractor gets the images as they
            are, in whatever range it expects.
        InceptionWeightsUnavailableError: RGB images with the default
            extractor while Inception-v3's weights cannot be downloaded.
    """
    return fid_from_features(*_both_features(real, fake, extractor, batch_size))


def kid(real, fake, extractor=None, subsets=50, subset_size=None, seed=0, batch_size=256):
    """KID (mean, std over subsets) between real and generated images.

    Arguments, extractor choice and errors as :func:`fid`; ``subsets``,
    ``subset_size`` and ``seed`` as :func:`kid_from_features`.
    """
    _kid_arguments(subsets, subset_size, seed)  # before the (slow) features
    a, b = _both_features(real, fake, extractor, batch_size)
    return kid_from_features(a, b, subsets=subsets, subset_size=subset_size, seed=seed)
