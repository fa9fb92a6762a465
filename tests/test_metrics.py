"""keras_gen.metrics against hand-computed values: FID, KID, ELBO / IW-NLL, PCA."""

import math

import keras
import numpy as np
import pytest

import keras_gen
from keras_gen import metrics
from keras_gen.metrics.feature_distance import mmd2_unbiased
from tests import helpers


# -------------------------------------------------------------------- FID
def test_frechet_distance_of_diagonal_gaussians_hand_computed():
    # |mu1 - mu2|^2 + sum_d (sqrt(a_d) - sqrt(b_d))^2 for diagonal covariances.
    a, b = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 9.0])
    mu1, mu2 = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
    expected = 1.0 + 4.0 + (1 - 2) ** 2 + (2 - 1) ** 2 + 0.0
    assert metrics.frechet_distance(mu1, np.diag(a), mu2, np.diag(b)) == pytest.approx(expected)


def test_fid_of_a_set_with_itself_is_zero_and_grows_with_a_shift():
    f = np.random.default_rng(0).standard_normal((500, 6)) @ np.diag([1, 2, 3, 1, 1, 0.5])
    assert metrics.fid_from_features(f, f) == pytest.approx(0.0, abs=1e-8)
    shift = np.array([0.5, 0, 0, 0, 0, 0])
    values = [metrics.fid_from_features(f, f + s * shift) for s in (1, 2, 4)]
    # A shift c of the features moves only the mean: FID = |c|^2 exactly.
    np.testing.assert_allclose(values, [0.25, 1.0, 4.0], rtol=1e-6)


def test_fid_and_kid_on_a_keras_extractor():
    # A linear extractor f(x) = W^T flatten(x): adding s to every pixel
    # shifts the features by s * W^T 1, so FID = s^2 |W^T 1|^2.
    rng = np.random.default_rng(0)
    w = rng.standard_normal((16, 4)).astype("float32")
    inputs = keras.Input((4, 4, 1))
    dense = keras.layers.Dense(4, use_bias=False)
    extractor = keras.Model(inputs, dense(keras.layers.Flatten()(inputs)))
    dense.set_weights([w])
    x = rng.uniform(size=(200, 4, 4, 1)).astype("float32")
    assert metrics.fid(x, x, extractor=extractor) == pytest.approx(0.0, abs=1e-6)
    shift_norm2 = float(np.sum(w.sum(axis=0) ** 2))
    for s in (0.1, 0.3):
        assert metrics.fid(x, x + s, extractor=extractor) == pytest.approx(s**2 * shift_norm2, rel=1e-3)
    near, _ = metrics.kid(x, x + 0.1, extractor=extractor, subsets=5)
    far, _ = metrics.kid(x, x + 0.3, extractor=extractor, subsets=5)
    assert far > near
    with pytest.raises(ValueError, match="extractor must be None, one of 'digits', 'shapes'"):
        metrics.fid(x, x, extractor="inception")
    with pytest.raises(TypeError, match="extractor must be a keras.Model"):
        metrics.extract_features("inception", x)


# -------------------------------------------------------------------- KID
def _polynomial_mmd2_biased(a, b):
    k = lambda u, v: (u @ v.T / u.shape[1] + 1.0) ** 3  # noqa: E731
    return k(a, a).mean() + k(b, b).mean() - 2 * k(a, b).mean()


def test_kid_estimator_is_unbiased_in_expectation():
    # 1-D features, k(x, y) = (x y + 1)^3, X ~ N(0, 1), Y ~ N(1, 1):
    # E k(x, x') = 3 + 1 = 4; E k(y, y') = (E y^3)^2 + 3 (E y^2)^2 + 3 (E y)^2 + 1
    # = 16 + 12 + 3 + 1 = 32; E k(x, y) = 3 E y^2 + 1 = 7.  MMD^2 = 4 + 32 - 14 = 22.
    rng = np.random.default_rng(0)
    reps, m = 3000, 10
    unbiased, biased = [], []
    for _ in range(reps):
        a, b = rng.standard_normal((m, 1)), rng.standard_normal((m, 1)) + 1.0
        unbiased.append(mmd2_unbiased(a, b))
        biased.append(_polynomial_mmd2_biased(a, b))
    mean, se = np.mean(unbiased), np.std(unbiased) / math.sqrt(reps)
    assert abs(mean - 22.0) < 4 * se, (mean, se)
    assert np.mean(biased) - 22.0 > 10 * se  # the V-statistic is biased upwards
    # Same distribution: population MMD^2 = 0.
    same = [mmd2_unbiased(rng.standard_normal((m, 2)), rng.standard_normal((m, 2))) for _ in range(reps)]
    assert abs(np.mean(same)) < 4 * np.std(same) / math.sqrt(reps)


def test_kid_from_features_subsets_and_errors():
    rng = np.random.default_rng(1)
    f = rng.standard_normal((100, 3))
    mean, std = metrics.kid_from_features(f, f + 1.0, subsets=8, subset_size=40)
    assert mean > 0 and std > 0
    with pytest.raises(ValueError, match="subset_size must be in"):
        metrics.kid_from_features(f, f, subset_size=500)
    # features of other widths, too few rows for the default subset size
    with pytest.raises(ValueError, match=r"the same number of features. Received: "
                                         r"real_features.shape=\(100, 3\) and fake_features.shape=\(100, 2\)"):
        metrics.kid_from_features(f, f[:, :2])
    with pytest.raises(ValueError, match=r"default subset_size .* at least 4 rows .*"
                                         r"fake_features.shape=\(3, 3\)"):
        metrics.kid_from_features(f, f[:3])
    assert np.isfinite(metrics.kid_from_features(f, f[:3], subset_size=2)[0])


@pytest.mark.parametrize("function", ["fid_from_features", "kid_from_features"])
def test_non_finite_features_are_named_not_a_scipy_error_or_nan(function):
    f = np.random.default_rng(1).standard_normal((50, 3))
    bad = f.copy()
    bad[[4, 7], 1] = np.nan
    bad[9, 0] = np.inf
    with pytest.raises(ValueError, match=r"fake_features must be finite; 3 of 50 rows hold NaN or "
                                         r"Inf \(rows \[4, 7, 9\]\)"):
        getattr(metrics, function)(f, bad)


def test_fid_of_a_nan_extractor_and_bad_sizes_are_named():
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(20, 4, 4, 1)).astype("float32")
    inputs = keras.Input((4, 4, 1))
    log = keras.Model(inputs, keras.layers.Flatten()(keras.ops.log(inputs - 0.5)))  # NaN below 0.5
    with pytest.raises(ValueError, match="real_features must be finite"):
        metrics.fid(x, x, extractor=log)
    linear = keras.Model(inputs, keras.layers.Flatten()(inputs))
    for size in (0, -5):
        with pytest.raises(ValueError, match=f"batch_size must be a positive integer. Received: batch_size={size}"):
            metrics.fid(x, x, extractor=linear, batch_size=size)
    with pytest.raises(ValueError, match=r"fake must hold at least 2 images. Received: fake.shape=\(0, 4, 4, 1\)"):
        metrics.kid(x, x[:0], extractor=linear)
    assert metrics.fid(x, x, extractor=linear) == pytest.approx(0.0, abs=1e-6)  # still usable


# ------------------------------------------------- ELBO and IW-NLL bounds
D, S2 = 4, 2.0  # 2x2x1 images; the "mse" decoder's variance is D / 2.


def _linear_gaussian_vae(perturb=False):
    """A VAE whose p(x) is known: z ~ N(0, I), x | z ~ N(W z + b, (D/2) I).

    W has orthogonal columns, so the exact posterior is diagonal:
    Sigma = (I + W^T W / s^2)^-1, mu = Sigma W^T (x - b) / s^2; the encoder
    computes exactly that (or a perturbed version), and
    p(x) = N(b, W W^T + s^2 I).
    """
    w = np.array([[1.5, 0.0], [1.5, 0.0], [0.0, 2.0], [0.0, -2.0]])
    b = np.array([0.1, -0.2, 0.3, 0.0])
    sigma = np.linalg.inv(np.eye(2) + w.T @ w / S2)
    kernel = w @ sigma / S2  # mu = (x - b) @ kernel
    log_sigma = 0.5 * np.log(np.diag(sigma))
    mean_bias = -b @ kernel
    if perturb:
        mean_bias = mean_bias + np.array([0.4, -0.3])
        log_sigma = log_sigma + 0.4
    inputs = keras.Input((2, 2, 1))
    flat = keras.layers.Flatten()(inputs)
    mean_layer, sigma_layer = keras.layers.Dense(2), keras.layers.Dense(2)
    encoder = keras.Model(inputs, [mean_layer(flat), sigma_layer(flat)])
    mean_layer.set_weights([kernel.astype("float32"), mean_bias.astype("float32")])
    sigma_layer.set_weights([np.zeros((4, 2), "float32"), log_sigma.astype("float32")])
    z_in = keras.Input((2,))
    out_layer = keras.layers.Dense(4)
    decoder = keras.Model(z_in, keras.layers.Reshape((2, 2, 1))(out_layer(z_in)))
    out_layer.set_weights([w.T.astype("float32"), b.astype("float32")])
    cov = w @ w.T + S2 * np.eye(D)
    return keras_gen.VAE(encoder, decoder, reconstruction="mse", seed=0), b, cov


def _exact_nll(x, b, cov):
    diff = x.reshape(len(x), -1) - b
    quad = np.einsum("ni,ij,nj->n", diff, np.linalg.inv(cov), diff)
    return 0.5 * (D * math.log(2 * math.pi) + np.linalg.slogdet(cov)[1] + quad)


@pytest.fixture(scope="module")
def gaussian_data():
    return np.random.default_rng(0).normal(0.0, 1.5, size=(40, 2, 2, 1)).astype("float32")


def test_exact_posterior_makes_every_bound_exact(gaussian_data):
    vae, b, cov = _linear_gaussian_vae()
    exact = _exact_nll(gaussian_data, b, cov)
    # With q(z|x) = p(z|x) every importance weight equals p(x): IW is exact for any k.
    iw = metrics.importance_weighted_nll(vae, gaussian_data, k=3, per_example=True)
    np.testing.assert_allclose(iw, exact, rtol=1e-4, atol=1e-4)
    # The ELBO is exact in expectation; its Monte-Carlo estimate is close.
    elbo = metrics.monte_carlo_negative_elbo(vae, gaussian_data, samples=400, per_example=True)
    np.testing.assert_allclose(elbo, exact, rtol=0, atol=0.25)
    assert np.mean(elbo) == pytest.approx(np.mean(exact), abs=0.03)


def test_iw_bound_is_above_elbo_and_tightens_with_k(gaussian_data):
    vae, b, cov = _linear_gaussian_vae(perturb=True)
    exact = float(np.mean(_exact_nll(gaussian_data, b, cov)))
    neg_elbo = metrics.monte_carlo_negative_elbo(vae, gaussian_data, samples=200)
    iw = {
        k: np.mean([metrics.importance_weighted_nll(vae, gaussian_data, k=k, seed=s) for s in range(4)])
        for k in (1, 10, 200)
    }
    # In log-likelihood: log p(x) >= L_200 >= L_10 >= L_1 = ELBO, i.e. the NLL
    # estimates decrease with k towards the exact -log p(x) (up to Monte-Carlo noise).
    assert iw[1] > iw[10] > iw[200] > exact - 0.02
    assert neg_elbo - exact > 0.5  # a perturbed posterior leaves a real gap
    assert iw[200] - exact < 0.05 * (neg_elbo - exact)
    assert iw[10] - exact < 0.2 * (neg_elbo - exact)
    # k = 1 is the ELBO in expectation: average many single-sample estimates.
    k1 = np.mean([metrics.importance_weighted_nll(vae, gaussian_data, k=1, seed=s) for s in range(20)])
    assert k1 == pytest.approx(neg_elbo, abs=0.15)


@pytest.fixture(scope="module")
def bce_vae():
    keras.utils.set_random_seed(2)
    vae = keras_gen.VAE(helpers.tiny_encoder(latent_dim=2, variational=True),
                        helpers.tiny_decoder(2), reconstruction="bce", kl_weight=1 / 64, seed=0)
    vae.compile(optimizer=keras.optimizers.Adam(1e-2))
    return vae


def test_bce_elbo_matches_the_training_bound(bce_vae, images):
    # The training bound's Bernoulli likelihood over a set, by hand with NumPy on
    # one fixed draw: -ELBO = D * mean BCE(x, g(z)) + KL, z = mu + sigma * eps.
    x = images[:32]
    z_mean, z_log_sigma = (np.asarray(t, "float64") for t in bce_vae.posterior(x))
    eps = np.random.default_rng([0, 0]).standard_normal((32, 1, 2))[:, 0]
    z = z_mean + np.exp(z_log_sigma) * eps
    p = np.clip(np.asarray(bce_vae.decode(z.astype("float32")), "float64"), 1e-7, 1 - 1e-7)
    t = np.asarray(x, "float64")
    bce = -np.mean((t * np.log(p) + (1 - t) * np.log(1 - p)).reshape(32, -1), axis=-1)
    kl = 0.5 * np.sum(z_mean**2 + np.exp(2 * z_log_sigma) - 2 * z_log_sigma - 1, axis=-1)
    expected = np.mean(64 * bce + kl)
    got = metrics.monte_carlo_negative_elbo(bce_vae, x, samples=1, seed=0)
    assert got == pytest.approx(expected, rel=1e-4)
    with pytest.warns(DeprecationWarning, match="use keras_gen.metrics.monte_carlo_negative_elbo"):
        assert metrics.negative_elbo(bce_vae, x, samples=1, seed=0) == got
    iw = [metrics.importance_weighted_nll(bce_vae, x, k=k) for k in (1, 5, 50)]
    assert iw[2] <= iw[1] <= iw[0] + 1e-3
    assert iw[2] <= metrics.monte_carlo_negative_elbo(bce_vae, x, samples=20)


def test_likelihood_errors(bce_vae, images):
    ae = keras_gen.AutoEncoder(helpers.tiny_encoder(), helpers.tiny_decoder())
    with pytest.raises(TypeError, match="need a keras_gen.VAE"):
        metrics.monte_carlo_negative_elbo(ae, images)
    with pytest.raises(ValueError, match="k must be an integer >= 1. Received: k=0"):
        metrics.importance_weighted_nll(bce_vae, images, k=0)
    # the images are checked as fit checks them (uint8 gave a different number per backend)
    bad = images[:4].copy()
    bad[1, 0, 0, 0] = np.nan
    for function in (metrics.importance_weighted_nll, metrics.monte_carlo_negative_elbo,
                     metrics.reconstruction_mse):
        with pytest.raises((TypeError, ValueError), match="uint8"):
            function(bce_vae, (images[:4] * 255).astype("uint8"))
        with pytest.raises(ValueError, match="non-finite|NaN"):
            function(bce_vae, bad)
        with pytest.raises(ValueError, match="x is empty"):
            function(bce_vae, images[:0])
        if function is not metrics.reconstruction_mse:  # a bound needs x in the decoder's range
            with pytest.raises(ValueError, match=r"outside|range"):
                function(bce_vae, images[:4] * 3)
    gan = keras_gen.GAN(keras.Sequential([keras.Input((2,)), keras.layers.Dense(64, activation="tanh"),
                                          keras.layers.Reshape((8, 8, 1))]),
                        keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(),
                                          keras.layers.Dense(1)]), latent_dim=2)
    with pytest.raises(TypeError, match="reconstruction_mse needs a model that reconstructs .* GAN"):
        metrics.reconstruction_mse(gan, images)


# -------------------------------------------------------------------- PCA
def test_pca_baseline_hand_computed():
    # Two orthogonal zero-mean directions: u with variance 9, v with variance 1.
    # One component keeps u, so each example loses v^2 = 1 over D = 2 values: MSE 0.5.
    x = np.array([[3.0, 1.0], [-3.0, 1.0], [3.0, -1.0], [-3.0, -1.0]]).reshape(4, 1, 2, 1)
    assert metrics.pca_reconstruction_mse(x, x, 1) == pytest.approx(0.5)
    assert metrics.pca_reconstruction_mse(x, x, 2) == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(ValueError, match="n_components must be a positive integer"):
        metrics.pca_reconstruction_mse(x, x, 0)


def test_reconstruction_mse_is_the_source_notes_loss(images):
    ae = keras_gen.AutoEncoder(helpers.tiny_encoder(), helpers.tiny_decoder())
    recon = ae.reconstruct(images)
    expected = np.mean((np.asarray(images, "float64") - np.asarray(recon, "float64")) ** 2)
    assert metrics.reconstruction_mse(ae, images) == pytest.approx(float(expected), rel=1e-5)


# ------------------------------------------------- the default extractor
def test_digits_feature_extractor_is_cached_scaled_and_classifies():
    extractor = metrics.digits_feature_extractor(image_size=8, epochs=3)
    assert metrics.digits_feature_extractor(image_size=(8, 8), epochs=3) is extractor
    x, _ = keras_gen.data.load_digits("train", image_size=8)
    f = metrics.extract_features(extractor, x)
    assert f.shape == (len(x), 64)
    assert np.mean(f**2) == pytest.approx(1.0, rel=1e-3)
    assert extractor.test_accuracy > 0.5


@pytest.mark.parametrize("name", ["likelihood", "feature_distance", "pca"])
def test_docstring_examples(name):
    import doctest
    import importlib

    module = importlib.import_module(f"keras_gen.metrics.{name}")
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
