"""benchmarks/rgb_quality.py, reference_models' scaled tutorial DCGAN and the
independent extractors: small smoke tests of the pieces the 64x64 benchmark uses.

Sizes are tiny (16x16 and 32x32 images, a few steps); the benchmark's numbers
come from its own run. The tutorial reference is TensorFlow code, so its
training tests run on TensorFlow only; the rest runs on every backend.
"""

import importlib.util
import os
import sys

import keras
import numpy as np
import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BENCH = os.path.join(REPO, "benchmarks")

tensorflow_only = pytest.mark.skipif(keras.backend.backend() != "tensorflow",
                                     reason="the DCGAN tutorial reference is TensorFlow code")


def _load(name):
    if BENCH not in sys.path:
        sys.path.insert(0, BENCH)
    spec = importlib.util.spec_from_file_location(name, os.path.join(BENCH, f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def rgb():
    return _load("rgb_quality")


@pytest.fixture(scope="module")
def ref():
    return _load("reference_models")


@pytest.fixture(scope="module")
def ind():
    return _load("independent_extractors")


# ------------------------------------------------------- reference models
def test_tutorial_layout_scales_the_start_map(ref):
    assert ref.tutorial_layout((28, 28, 1)) == (7, 7, 2)  # the tutorial itself
    assert ref.tutorial_layout((64, 64, 3)) == (8, 8, 3)
    assert ref.tutorial_layout((32, 32, 3)) == (8, 8, 2)
    assert ref.tutorial_layout((16, 16, 3)) == (8, 8, 1)
    with pytest.raises(ValueError, match="image_shape"):
        ref.tutorial_layout((13, 13, 3))


def _shapes(model):
    return [tuple(layer.output.shape[1:]) for layer in model.layers
            if isinstance(layer, (keras.layers.Conv2DTranspose, keras.layers.Conv2D,
                                  keras.layers.Reshape))]


def test_tutorial_networks_at_28_and_64(ref):
    g, d = ref.tf_tutorial_dcgan(0)
    # The tutorial's generator and discriminator, layer for layer.
    assert _shapes(g) == [(7, 7, 256), (7, 7, 128), (14, 14, 64), (28, 28, 1)]
    assert _shapes(d) == [(14, 14, 64), (7, 7, 128)]
    assert sum(isinstance(layer, keras.layers.Dropout) for layer in d.layers) == 2
    g, d = ref.tf_tutorial_dcgan(0, (64, 64, 3))
    assert _shapes(g) == [(8, 8, 256), (8, 8, 128), (16, 16, 64), (32, 32, 32), (64, 64, 3)]
    assert _shapes(d) == [(32, 32, 64), (16, 16, 128), (8, 8, 256)]
    assert [layer.kernel_size for layer in g.layers if hasattr(layer, "kernel_size")] == [(5, 5)] * 4
    z = np.random.default_rng(0).standard_normal((2, 100)).astype("float32")
    x = keras.ops.convert_to_numpy(g(z))
    assert x.shape == (2, 64, 64, 3) and np.abs(x).max() <= 1.0
    assert tuple(d(x).shape) == (2, 1)


@tensorflow_only
def test_tutorial_dcgan_trains_in_pieces_with_either_optimizer(ref):
    with pytest.raises(ValueError, match="optimizer"):
        ref.TutorialDCGAN((32, 32, 3), optimizer="sgd")
    model = ref.TutorialDCGAN((16, 16, 3), optimizer="paper", seed=0)
    assert float(model.g_optimizer.learning_rate) == pytest.approx(2e-4)
    assert float(model.d_optimizer.beta_1) == pytest.approx(0.5)
    before = model.generator.get_weights()[0].copy()
    real = np.random.default_rng(0).uniform(-1, 1, (3, 8, 16, 16, 3)).astype("float32")
    assert model.train(real[:2]) == 2 and model.train(real[2:]) == 1
    assert model.steps == 3
    assert not np.allclose(before, model.generator.get_weights()[0])
    tutorial = ref.TutorialDCGAN((16, 16, 3), optimizer="tutorial")
    assert float(tutorial.g_optimizer.learning_rate) == pytest.approx(1e-4)
    assert float(tutorial.g_optimizer.beta_1) == pytest.approx(0.9)


# ------------------------------------------------------------ rgb_quality
def test_batch_indices_same_rows_however_chunked(rgb):
    whole = rgb.batch_indices(200, 0, 9, batch_size=64, seed=3)
    assert whole.shape == (9, 64)
    pieces = np.concatenate([rgb.batch_indices(200, 0, 4, 64, 3),
                             rgb.batch_indices(200, 4, 5, 64, 3)])
    np.testing.assert_array_equal(whole, pieces)
    # 3 whole batches per pass of 200 rows: each pass draws distinct rows.
    for p in range(3):
        rows = whole[3 * p:3 * p + 3].ravel()
        assert len(np.unique(rows)) == 192 and rows.min() >= 0 and rows.max() < 200
    assert not np.array_equal(whole[:3], whole[3:6])  # a fresh permutation per pass
    assert not np.array_equal(whole, rgb.batch_indices(200, 0, 9, 64, 4))
    with pytest.raises(ValueError, match="num_examples"):
        rgb.batch_indices(10, 0, 1, batch_size=64)


def test_step_timing_leaves_out_the_first_round(rgb):
    times = {"keras_gen": [(10, 50.0), (10, 2.0), (10, 4.0)],
             "reference": [(10, 90.0), (10, 4.0), (10, 4.0)]}
    t = rgb.step_timing(times)
    assert t["keras_gen_s_per_step"] == pytest.approx(6.0 / 20)
    assert t["reference_s_per_step"] == pytest.approx(8.0 / 20)
    assert t["ratio_median"] == pytest.approx(0.75)  # median of 0.5 and 1.0
    assert t["keras_gen_seconds"] == pytest.approx(56.0)


def test_coverage_shares(rgb):
    shapes = np.array([0, 0, 1, 2, 3, 3, 3, 1])
    colors = np.array([0, 1, 2, 3, 4, 4, 4, 4])
    c = rgb.coverage(shapes, colors)
    assert c["shapes"] == {"Circle": 0.25, "Square": 0.25, "Triangle": 0.125, "Star": 0.375}
    assert c["colors"]["Magenta"] == 0.5 and c["colors"]["Cyan"] == 0.0
    assert c["min_shape"] == 0.125 and c["min_color"] == 0.0 and not c["all_present"]
    assert rgb.coverage(np.arange(6) % 4, np.arange(6))["all_present"]


def _fake_results(ours, theirs, present=True):
    row = lambda fid: {"fid": fid, "kid": fid / 100, "kid_std": 0.001, "min_shape": 0.2,  # noqa: E731
                       "min_color": 0.1, "all_present": present,
                       "shapes": {}, "colors": {}}
    return {name: {"keras_gen": row(ours), "reference": row(theirs),
                   "reference_walltime": row(theirs * 2), "floor": row(0.01)}
            for name in ("package", "independent")}


def test_table_and_target(rgb):
    timing = {"steps": 100, "keras_gen_s_per_step": 0.2, "reference_s_per_step": 0.4,
              "reference_walltime_steps": 50, "ratio_median": 0.5}
    text = rgb.table(_fake_results(1.0, 4.0), timing)
    assert "| keras-gen DCGAN (options paper) | 100 | 0.200 | 1.000 |" in text
    assert "| tutorial DCGAN, keras-gen's wall time | 50 | 0.400 | 8.000 |" in text
    assert "FID ratio keras-gen / reference 0.25 (same steps), 0.12 (same wall time)" in text
    assert rgb.passes(_fake_results(1.0, 2.0))
    assert not rgb.passes(_fake_results(1.1, 2.0))
    assert not rgb.passes(_fake_results(1.0, 4.0, present=False))


def test_default_options_are_the_recipes_colour_defaults(rgb):
    """What the benchmark trains by default is what `dcgan_celeba.py --dataset shapes` trains."""
    from tests.recipes.test_vae_digits import load_recipe

    quality = _load("quality")
    options = quality.gan_options(rgb.RECIPE_OPTIONS)
    recipe = load_recipe("dcgan_celeba")
    args = recipe.parse_args(["--dataset", "shapes"])
    assert options["normalization"] is None and args.d_normalization == "none"
    assert options["minibatch_std"] is True and args.minibatch_std is True
    assert options["d_lr"] == pytest.approx(args.d_learning_rate) == pytest.approx(args.learning_rate)
    assert options["g_lr"] == pytest.approx(args.g_learning_rate)
    assert options["ema"] == pytest.approx(args.ema)
    assert options["lecam"] == pytest.approx(args.lecam) == pytest.approx(0.1)
    upsampling = options["g_upsampling"] or ("transpose", 4)  # None: dcgan_generator's defaults
    assert upsampling == (args.upsampling, recipe.UPSAMPLING_KERNEL[args.upsampling])
    assert (args.batch_size, args.beta_1) == (rgb.BATCH_SIZE, 0.5)
    assert args.latent_dim == options["latent_dim"] == 40
    assert (args.objective, args.r1_gamma, args.augment, args.spectral_norm) == ("standard", 0.0, "none", False)
    changed = {k for k in options if options[k] != quality.PAPER[k]}
    # The recipe saves the averaged generator with its BatchNormalization
    # statistics re-estimated (GAN.standing_statistics); so is it scored here.
    assert options["standing"] is True
    # one spread for the whole batch (groups of 4, `mbstd4`, measured no better; session 31)
    assert options["minibatch_std_group"] is None and args.minibatch_std_group == 0
    assert changed == {"normalization", "minibatch_std", "g_lr", "ema", "lecam", "standing", "latent_dim"}


def test_latent_size_follows_the_options(rgb):
    # z64 / z40 set keras-gen's z; without one the paper's LATENT_DIM.
    small = rgb.keras_gen_dcgan((16, 16, 3), seed=0, options="nonorm_mbstd+z40")
    assert small.latent_dim == 40 and small.generator.input_shape == (None, 40)
    default = rgb.keras_gen_dcgan((16, 16, 3), seed=0, options="nonorm_mbstd")
    assert default.latent_dim == rgb.LATENT_DIM == 100
    assert rgb.keras_gen_dcgan((16, 16, 3), 24, options="z40").latent_dim == 24  # explicit wins
    # sample reads the z size from the generator: 5 images in [0, 1], fixed by the seed
    images = rgb.sample(small.generator, num=5, seed=3)
    assert images.shape == (5, 16, 16, 3) and images.min() >= 0.0 and images.max() <= 1.0
    np.testing.assert_array_equal(images, rgb.sample(small.generator, num=5, seed=3))
    assert not np.array_equal(images, rgb.sample(small.generator, num=5, seed=4))


@tensorflow_only
def test_train_pair_tiny(rgb):
    import tensorflow as tf

    from keras_gen.data.shapes import load_shapes

    x = tf.constant(load_shapes("train", image_size=16, value_range=(-1, 1),
                                num_examples=64, with_labels=False))
    out = rgb.train_pair(x, steps=4, chunk=2, seed=0, num_samples=8, log=lambda *a: None)
    for key in ("keras_gen", "reference", "reference_walltime"):
        assert out[key].shape == (8, 16, 16, 3)
        assert 0.0 <= out[key].min() and out[key].max() <= 1.0
    t = out["timing"]
    assert t["steps"] == 4
    # Snapshots are taken every chunk (2 steps): the wall-time match is one of them.
    assert t["reference_walltime_steps"] >= 0 and t["reference_walltime_steps"] % 2 == 0
    assert t["keras_gen_s_per_step"] > 0 and t["reference_s_per_step"] > 0


# --------------------------------------------------- independent extractors
def test_shape_targets_by_hand(ind):
    f = {"shape": np.array([0.0, 1.0]), "center_x": np.array([0.3, 0.6]),
         "center_y": np.array([0.4, 0.5]), "radius": np.array([0.2, 0.15]),
         "background": np.array([1.0, 0.0]), "jitter_r": np.array([0.01, 0.0]),
         "jitter_g": np.array([0.0, -0.02]), "jitter_b": np.array([0.03, 0.0]),
         "gradient_angle": np.array([0.0, np.pi / 2]),
         "gradient_amplitude": np.array([0.05, 0.04]), "rotation": np.array([1.0, np.pi / 8])}
    t = ind.shape_targets(f)
    np.testing.assert_allclose(t[0], [0.3, 0.4, 0.2, 1, 0.01, 0, 0.03, 0.05, 0, 0.05, 0, 0],
                               atol=1e-7)  # a circle: no rotation target
    # A square rotated by pi/8: 4 * pi/8 = pi/2.
    np.testing.assert_allclose(t[1], [0.6, 0.5, 0.15, 0, 0, -0.02, 0, 0, 0.04, 0.04, 0, 1],
                               atol=1e-7)


def test_independent_shapes_extractor_tiny(ind):
    from keras_gen.data.shapes import load_shapes

    ex = ind.shapes_extractor(image_size=(16, 16), num_examples=64, epochs=1)
    assert ex is ind.shapes_extractor(image_size=(16, 16), num_examples=64, epochs=1)
    x = load_shapes("train", image_size=16, num_examples=64, seed=1, with_labels=False)
    f = np.asarray(ex.predict(x, verbose=0))
    assert f.shape == (64, ind.SHAPES_FEATURES)
    assert np.mean(np.square(f)) == pytest.approx(1.0, rel=1e-3)  # unit-scaled on its data
    assert set(ex.test_accuracy) == {"shape", "color", "factors_mse_standardised"}
    labels = ind.shapes_attributes(x[:10], ex)
    assert labels.shape == (10, 14) and set(np.unique(labels)) <= {0.0, 1.0}
    np.testing.assert_array_equal(labels[:, :4].sum(1), 1)
    np.testing.assert_array_equal(labels[:, 4:10].sum(1), 1)
    shapes, colors = ind.shapes_groups(x[:10], ex)
    assert shapes.shape == (10,) and 0 <= shapes.min() and shapes.max() < 4
    assert colors.shape == (10,) and 0 <= colors.min() and colors.max() < 6


def test_attributes_from_outputs_follow_the_dataset_rules(ind):
    from keras_gen.data.shapes import load_shapes
    from keras_gen.data.shapes import shape_factors

    _, y = load_shapes("test", image_size=8, num_examples=300)
    f = shape_factors("test", num_examples=300)
    targets = ind.shape_targets(f)
    mean, std = targets.mean(axis=0) + 0.1, targets.std(axis=0) + 0.2  # any affine scaling
    shape_logits = np.eye(4)[f["shape"].astype(int)] * 3.0 - 1.0
    color_logits = np.eye(6)[f["color"].astype(int)] * 2.0
    got = ind.attributes_from_outputs(shape_logits, color_logits, (targets - mean) / std, mean, std)
    np.testing.assert_array_equal(got, y)


def test_shifted_copies(ind):
    x = np.zeros((2, 5, 5, 1), "float32")
    x[:, 2, 2, 0] = 1.0  # one lit pixel in the centre
    out = ind.shifted_copies(x, copies=3, max_shift=2, seed=0)
    assert out.shape == (8, 5, 5, 1)
    np.testing.assert_array_equal(out[:2], x)
    for image in out[2:]:  # the pixel moved by at most 2 each way, never lost
        assert image.sum() == 1.0
        (r, c) = np.argwhere(image[..., 0])[0]
        assert abs(r - 2) <= 2 and abs(c - 2) <= 2
    assert len({tuple(np.argwhere(i[..., 0])[0]) for i in out[2:]}) > 1


def test_independent_digits_extractor_tiny(ind):
    from keras_gen.data import load_digits

    ex = ind.digits_extractor(image_size=(12, 12), epochs=1, num_examples=64)
    x, _ = load_digits("train", image_size=12)
    x = x[:64]
    f = np.asarray(ex.predict(x, verbose=0))
    assert f.shape == (len(x), 64)
    assert np.mean(np.square(f)) == pytest.approx(1.0, rel=1e-3)
    assert 0.0 <= ex.test_accuracy <= 1.0
    assert tuple(ex.classifier.output.shape[1:]) == (10,)


def test_alter_independent_tiny(tmp_path, monkeypatch):
    # A VAE from the recipe's smoke run, then the independent judge's table.
    from tests.recipes.test_vae_digits import load_recipe

    monkeypatch.chdir(tmp_path)
    load_recipe("alter_attributes").main(
        ["--smoke", "--image-size", "16", "--attribute", "Blue", "--verbose", "0",
         "--save-model", "vae.keras", "--no-deterministic"])
    bench = _load("alter_independent")
    result = bench.main(["--load-model", "vae.keras", "--attributes", "Blue", "Large",
                         "--num-altered", "12", "--train-examples", "300", "--test-examples",
                         "120", "--extractor-examples", "64", "--extractor-epochs", "1"])
    modes = ["vector", "vector+res", "vector+res transported", "perfect"]
    assert [(n, m) for n, m, _ in result["rows"]] == [(a, m) for a in ("Blue", "Large")
                                                      for m in modes]
    for _, _, shares in result["rows"]:
        assert all(0.0 <= shares[c] <= 1.0 for c in bench.COLUMNS)
    assert set(result["accuracy"]) == {(0, 1, 2, 3), (4, 5, 6, 7, 8, 9), (10,), (11,), (12,),
                                       (13,)}
    with pytest.raises(SystemExit):
        bench.main(["--load-model", "vae.keras", "--attributes", "Hat"])


def test_group_agreement_by_hand():
    from tests.recipes.test_vae_digits import load_recipe

    recipe = load_recipe("alter_attributes")
    labels = np.array([[1, 0, 1], [0, 1, 1], [1, 0, 0]], "float32")
    predicted = np.array([[1, 0, 1], [1, 0, 1], [1, 0, 1]], "float32")
    groups = {0: (0, 1), 1: (0, 1), 2: (2,)}
    agreement = recipe.group_agreement(predicted, labels, groups)
    assert agreement == {(0, 1): 2 / 3, (2,): 2 / 3}
    assert recipe.agreement_text(agreement, ["a", "b", "c"]) == "a..b 0.667, c 0.667"
