"""recipes/dcgan_celeba.py: TFDS smoke run, offline shapes and digits, resume, errors."""

import os
import zipfile

import keras
import numpy as np
import pytest
import tensorflow_datasets as tfds
from PIL import Image

import keras_gen
from tests.recipes.test_vae_digits import load_recipe


def n(v):
    return keras.ops.convert_to_numpy(v)


def test_smoke_over_mocked_celeba(tmp_path):
    recipe = load_recipe("dcgan_celeba")
    with tfds.testing.mock_data(num_examples=64):
        gan, history = recipe.main(
            ["--smoke", "--image-size", "32", "--latent-dim", "16", "--out-dir", str(tmp_path),
             "--generator-path", str(tmp_path / "g.keras"), "--verbose", "0", "--no-export"]
        )
    assert gan.image_shape == (32, 32, 3)
    assert len(history.history["d_loss"]) == 2
    grid = np.asarray(Image.open(tmp_path / "epoch_002.png"))
    assert grid.shape == (2 * (8 * 32 + 7 * 2), 2 * (8 * 32 + 7 * 2), 3)
    generator = keras.saving.load_model(tmp_path / "g.keras")
    z = np.random.default_rng(0).normal(size=(2, 16)).astype("float32")
    np.testing.assert_allclose(generator.predict(z, verbose=0), gan.generator.predict(z, verbose=0), rtol=1e-5, atol=1e-6)


def _interrupt_in_second_epoch(monkeypatch, main, argv):
    """Run the recipe with a KeyboardInterrupt after its first epoch's backup."""
    original = keras_gen.callbacks.SampleGrid.on_epoch_end

    def crash_in_second_epoch(self, epoch, logs=None):
        if epoch == 1:
            raise KeyboardInterrupt
        return original(self, epoch, logs)

    monkeypatch.setattr(keras_gen.callbacks.SampleGrid, "on_epoch_end", crash_in_second_epoch)
    with pytest.raises(KeyboardInterrupt):
        main(argv)
    monkeypatch.setattr(keras_gen.callbacks.SampleGrid, "on_epoch_end", original)


def test_interrupted_run_resumes_both_optimizers(tmp_path, monkeypatch):
    recipe = load_recipe("dcgan_celeba")
    args = ["--dataset", "digits", "--epochs", "3", "--steps-per-epoch", "2", "--batch-size", "16",
            "--latent-dim", "8", "--d-steps", "2", "--out-dir", str(tmp_path),
            "--generator-path", str(tmp_path / "g.keras"), "--verbose", "0", "--no-export"]
    _interrupt_in_second_epoch(monkeypatch, recipe.main, args)
    assert not (tmp_path / "g.keras").exists()
    gan, history = recipe.main(args)
    assert len(history.history["d_loss"]) == 2  # epochs 2 and 3 only
    assert int(n(gan.g_optimizer.iterations)) == 6
    assert int(n(gan.d_optimizer.iterations)) == 12
    assert (tmp_path / "g.keras").exists()


def test_unavailable_dataset_says_how_to_supply_it(tmp_path, monkeypatch, capsys):
    recipe = load_recipe("dcgan_celeba")

    def unavailable(*args, **kwargs):
        raise keras_gen.data.DatasetUnavailableError("celeb_a is not available here")

    monkeypatch.setattr(keras_gen.data, "load", unavailable)
    with pytest.raises(SystemExit) as info:
        recipe.main(["--out-dir", str(tmp_path)])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "celeb_a is not available here" in err and "--data-dir" in err


def test_help_lists_every_knob_with_defaults(capsys):
    recipe = load_recipe("dcgan_celeba")
    with pytest.raises(SystemExit):
        recipe.parse_args(["--help"])
    out = capsys.readouterr().out
    for flag in ("--dataset", "--data-dir", "--tfds-data-dir", "--image-size", "--epochs", "--steps-per-epoch",
                 "--batch-size", "--latent-dim", "--d-steps", "--generator-loss", "--label-smoothing",
                 "--learning-rate", "--beta-1", "--beta-2", "--seed", "--out-dir", "--checkpoint-dir", "--generator-path",
                 "--model-path", "--resume-from", "--smoke", "--d-normalization", "--minibatch-std",
                 "--augment", "--augment-policy", "--objective", "--r1-gamma", "--consistency", "--lecam", "--spectral-norm",
                 "--ema", "--d-learning-rate", "--g-learning-rate", "--upsampling"):
        assert flag in out
    assert "(default: celeb_a)" in out and "(default: 0.0002)" in out
    assert "shapes" in out


@pytest.mark.parametrize("argv, expected", [
    # colour images: D without normalization, minibatch std, G at 2x D's rate, EMA 0.99
    (["--dataset", "shapes"], ("none", True, 2e-4, 4e-4, 0.99, 1, "transpose")),
    (["--dataset", "cifar10", "--learning-rate", "1e-4"], ("none", True, 1e-4, 2e-4, 0.99, 1, "transpose")),
    (["--data-dir", "faces"], ("none", True, 2e-4, 4e-4, 0.99, 1, "transpose")),
    ([], ("none", True, 2e-4, 4e-4, 0.99, 1, "transpose")),  # celeb_a
    # grey images: the same D at twice the width, G at 4x D's rate
    (["--dataset", "digits"], ("none", True, 2e-4, 8e-4, 0.99, 2, "transpose")),
    (["--dataset", "fashion_mnist"], ("none", True, 2e-4, 8e-4, 0.99, 2, "transpose")),
    (["--data-dir", "scans", "--channels", "1"], ("none", True, 2e-4, 8e-4, 0.99, 2, "transpose")),
    # every default gives way to its flag
    (["--dataset", "shapes", "--d-normalization", "batch", "--no-minibatch-std",
      "--g-learning-rate", "2e-4", "--ema", "0", "--d-width", "3", "--upsampling", "resize"],
     ("batch", False, 2e-4, 2e-4, 0.0, 3, "resize")),
    (["--dataset", "digits", "--d-normalization", "layer", "--no-minibatch-std", "--ema", "0.9",
      "--d-learning-rate", "1e-4", "--learning-rate", "5e-5", "--d-width", "1",
      "--upsampling", "resize"], ("layer", False, 1e-4, 2e-4, 0.9, 1, "resize")),
])
def test_colour_and_grey_defaults(argv, expected):
    recipe = load_recipe("dcgan_celeba")
    args = recipe.parse_args(argv)
    line = recipe.settings_line(args)  # what the recipe prints before training
    group = 0  # the minibatch std over the whole batch on colour and grey images
    assert line.startswith(f"Settings: --d-normalization {expected[0]} "
                           f"{f'--minibatch-std --minibatch-std-group {group}' if expected[1] else '--no-minibatch-std'} "
                           f"--d-learning-rate {expected[2]:g} --g-learning-rate {expected[3]:g} "
                           f"--ema {expected[4]:g} --d-width {expected[5]} --upsampling {expected[6]}")
    d_lr = args.d_learning_rate if args.d_learning_rate is not None else args.learning_rate
    got = (args.d_normalization, args.minibatch_std, d_lr, args.g_learning_rate, args.ema,
           args.d_width, args.upsampling)
    assert got[:2] == expected[:2] and got[4:] == expected[4:]
    assert got[2:4] == pytest.approx(expected[2:4])


@pytest.mark.parametrize("argv, latent_dim", [
    (["--dataset", "digits"], 40), (["--dataset", "mnist"], 40),
    (["--data-dir", "scans", "--channels", "1"], 40),
    (["--dataset", "shapes"], 40), ([], 40), (["--dataset", "cifar10"], 40),  # colour
    (["--dataset", "digits", "--latent-dim", "100"], 100), (["--dataset", "shapes", "--latent-dim", "8"], 8),
])
def test_latent_size_defaults_to_40_on_grey_and_colour_images(argv, latent_dim):
    assert load_recipe("dcgan_celeba").parse_args(argv).latent_dim == latent_dim


@pytest.mark.parametrize("argv, betas", [
    (["--dataset", "shapes"], (0.5, 0.999)), (["--dataset", "digits"], (0.5, 0.999)),
    (["--dataset", "shapes", "--beta-1", "0"], (0.0, 0.999)),
    (["--dataset", "digits", "--beta-2", "0.9"], (0.5, 0.9)),
    (["--dataset", "shapes", "--beta-1", "0.9", "--beta-2", "0"], (0.9, 0.0)),
])
def test_adam_betas_are_the_papers_unless_given(argv, betas):
    args = load_recipe("dcgan_celeba").parse_args(argv)
    assert (args.beta_1, args.beta_2) == betas


@pytest.mark.parametrize("flag, value", [("--beta-1", "1"), ("--beta-1", "-0.1"), ("--beta-1", "nan"),
                                         ("--beta-2", "1.5"), ("--beta-2", "inf"), ("--beta-2", "-1")])
def test_bad_adam_betas_are_named(flag, value, capsys):
    with pytest.raises(SystemExit) as info:
        load_recipe("dcgan_celeba").parse_args(["--dataset", "shapes", flag, value])
    assert info.value.code == 2
    assert f"{flag} must be in [0, 1). Received: {flag}={float(value)}" in capsys.readouterr().err


def test_wgan_gp_leaves_out_the_grey_defaults_adaptive_augmentation(capsys):
    recipe = load_recipe("dcgan_celeba")
    assert recipe.parse_args(["--dataset", "digits", "--objective", "wgan-gp"]).augment == "none"
    assert recipe.parse_args(["--dataset", "digits"]).augment == "ada"
    assert recipe.parse_args(["--dataset", "digits", "--objective", "wgan-gp",
                              "--augment", "diffaugment"]).augment == "diffaugment"
    with pytest.raises(SystemExit) as info:
        recipe.parse_args(["--dataset", "digits", "--objective", "wgan-gp", "--augment", "ada"])
    assert info.value.code == 2
    assert "--augment ada does not apply to --objective wgan-gp" in capsys.readouterr().err


def test_settings_line_says_which_settings_are_defaults():
    recipe = load_recipe("dcgan_celeba")
    assert recipe.settings_line(recipe.parse_args(["--dataset", "shapes"])) == (
        "Settings: --d-normalization none --minibatch-std --minibatch-std-group 0 "
        "--d-learning-rate 0.0002 "
        "--g-learning-rate 0.0004 --ema 0.99 --d-width 1 --upsampling transpose --augment none "
        "--lecam 0.1 --latent-dim 40 (--augment, --d-normalization, --d-width, --ema, "
        "--g-learning-rate, --latent-dim, --lecam, --minibatch-std, --minibatch-std-group: "
        "the defaults for colour images)")
    assert recipe.settings_line(recipe.parse_args(["--dataset", "digits", "--ema", "0.9"])) == (
        "Settings: --d-normalization none --minibatch-std --minibatch-std-group 0 "
        "--d-learning-rate 0.0002 "
        "--g-learning-rate 0.0008 --ema 0.9 --d-width 2 --upsampling transpose --augment ada "
        "--augment-policy translation,cutout --lecam 0.1 --latent-dim 40 (--augment, "
        "--augment-policy, --d-normalization, --d-width, --g-learning-rate, --latent-dim, --lecam, "
        "--minibatch-std, --minibatch-std-group: the defaults for grey images)")
    assert recipe.settings_line(recipe.parse_args(
        ["--dataset", "shapes", "--d-normalization", "layer", "--no-minibatch-std",
         "--g-learning-rate", "1e-4", "--ema", "0", "--d-width", "1", "--upsampling", "resize",
         "--augment", "none", "--lecam", "0.5", "--latent-dim", "64"])) == (
        "Settings: --d-normalization layer --no-minibatch-std --d-learning-rate 0.0002 "
        "--g-learning-rate 0.0001 --ema 0 --d-width 1 --upsampling resize --augment none "
        "--lecam 0.5 --latent-dim 64")
    # the policy given, the kind left to the default
    assert recipe.settings_line(recipe.parse_args(
        ["--dataset", "digits", "--augment-policy", "cutout"])).endswith(
        "--augment ada --augment-policy cutout --lecam 0.1 --latent-dim 40 (--augment, "
        "--d-normalization, --d-width, --ema, --g-learning-rate, --latent-dim, --lecam, "
        "--minibatch-std, --minibatch-std-group: the defaults for grey images)")


@pytest.mark.parametrize("argv, augment, policy", [
    # grey images: ADA with translation and cutout; colour images: none
    (["--dataset", "digits"], "ada", "translation,cutout"),
    (["--dataset", "mnist"], "ada", "translation,cutout"),
    (["--data-dir", "scans", "--channels", "1"], "ada", "translation,cutout"),
    (["--dataset", "shapes"], "none", "color,translation,cutout"),
    ([], "none", "color,translation,cutout"),  # celeb_a
    # the flags win; a colour run asking for ADA gets the colour policy
    (["--dataset", "digits", "--augment", "none"], "none", "translation,cutout"),
    (["--dataset", "shapes", "--augment", "ada"], "ada", "color,translation,cutout"),
    (["--dataset", "digits", "--augment", "diffaugment", "--augment-policy", "translation"],
     "diffaugment", "translation"),
    # spaces dropped, as the layer's policy reads back (what --resume-from compares)
    (["--dataset", "digits", "--augment-policy", " cutout, translation"], "ada", "cutout,translation"),
])
def test_augmentation_defaults(argv, augment, policy):
    recipe = load_recipe("dcgan_celeba")
    args = recipe.parse_args(argv)
    assert (args.augment, args.augment_policy) == (augment, policy)


@pytest.mark.parametrize("argv", [
    ["--dataset", "digits", "--augment-policy", "bogus"],  # the grey default, ada, applies it
    ["--dataset", "shapes", "--augment", "ada", "--augment-policy", "cutout,cutout"],
    ["--dataset", "digits", "--augment", "diffaugment", "--augment-policy", ""],
])
def test_bad_augment_policy_is_a_usage_error(argv, capsys):
    recipe = load_recipe("dcgan_celeba")
    assert recipe.AUGMENT_TRANSFORMS == keras_gen.augment.POLICIES
    with pytest.raises(SystemExit) as info:
        recipe.parse_args(argv)
    assert info.value.code == 2
    policy = argv[argv.index("--augment-policy") + 1]
    assert ("--augment-policy must name one or more of color, translation, cutout, comma-separated, "
            f"each at most once. Received: --augment-policy={policy!r}") in capsys.readouterr().err
    # without augmentation the policy is not used, so not checked
    recipe.parse_args(["--dataset", "digits", "--augment", "none", "--augment-policy", "bogus"])


@pytest.mark.parametrize("argv, filters", [
    (["--dataset", "digits"], [128, 256]),  # twice the builder's (64, 128) at 28 px
    (["--dataset", "digits", "--d-width", "1"], [64, 128]),
    (["--dataset", "shapes", "--image-size", "32"], [64, 128, 256]),  # the builder's at 32 px
    (["--dataset", "shapes", "--image-size", "32", "--d-width", "3"], [192, 384, 768]),
])
def test_d_width_multiplies_the_builders_filters(argv, filters):
    recipe = load_recipe("dcgan_celeba")
    args = recipe.parse_args(argv)
    side = 28 if "digits" in argv else 32
    assert recipe.discriminator_filters(args, (side, side, 1)) == filters
    built = keras_gen.networks.dcgan_discriminator(
        (side, side, 1), filters=recipe.discriminator_filters(args, (side, side, 1)))
    assert recipe.saved_discriminator_filters(built) == filters
    wrapped = keras_gen.networks.dcgan_discriminator(
        (side, side, 1), filters=filters, normalization=None, spectral_norm=True)
    assert recipe.saved_discriminator_filters(wrapped) == filters  # read inside the wrappers


@pytest.mark.parametrize("value", ["0", "-2"])
def test_d_width_below_one_is_a_usage_error(value, capsys):
    recipe = load_recipe("dcgan_celeba")
    with pytest.raises(SystemExit) as info:
        recipe.parse_args(["--dataset", "digits", "--d-width", value])
    assert info.value.code == 2
    assert f"--d-width must be >= 1. Received: --d-width={value}" in capsys.readouterr().err


def test_relativistic_objective_and_consistency_flags(tmp_path):
    gan, history = load_recipe("dcgan_celeba").main(
        ["--dataset", "shapes", "--image-size", "16", "--batch-size", "8", "--steps-per-epoch", "2",
         "--epochs", "1", "--latent-dim", "8", "--verbose", "0", "--no-export",
         "--objective", "relativistic", "--consistency", "10",
         "--out-dir", str(tmp_path / "out"), "--model-path", str(tmp_path / "g.keras"),
         "--generator-path", str(tmp_path / "gen.keras")])
    assert gan.objective == "relativistic" and gan.consistency == 10.0
    assert history.history["cr"][0] > 0
    saved = keras.saving.load_model(tmp_path / "g.keras")
    assert (saved.objective, saved.consistency) == ("relativistic", 10.0)


def test_lecam_flag(tmp_path):
    gan, history = load_recipe("dcgan_celeba").main(
        ["--dataset", "shapes", "--image-size", "16", "--batch-size", "8", "--steps-per-epoch", "2",
         "--epochs", "1", "--latent-dim", "8", "--verbose", "0", "--no-export", "--lecam", "0.1",
         "--out-dir", str(tmp_path / "out"), "--model-path", str(tmp_path / "g.keras"),
         "--generator-path", str(tmp_path / "gen.keras")])
    assert gan.lecam == 0.1 and history.history["lc"][0] > 0
    saved = keras.saving.load_model(tmp_path / "g.keras")
    assert saved.lecam == 0.1
    np.testing.assert_array_equal(n(saved.lecam_anchors), n(gan.lecam_anchors))


@pytest.mark.parametrize("flag", ["--consistency", "--r1-gamma", "--lecam"])
@pytest.mark.parametrize("value", ["-1", "nan", "inf"])
def test_bad_penalty_weight_is_a_usage_error(flag, value, capsys):
    with pytest.raises(SystemExit) as info:
        load_recipe("dcgan_celeba").parse_args(["--dataset", "digits", flag, value])
    assert info.value.code == 2
    assert (f"{flag} must be a finite number >= 0. Received: {flag}={float(value)}"
            in capsys.readouterr().err)


@pytest.mark.parametrize("flag", ["--consistency", "--r1-gamma", "--lecam"])
@pytest.mark.parametrize("value", ["1e300", "1e-320", "1e-40"])
def test_penalty_weight_outside_float32_is_a_usage_error(flag, value, capsys):
    recipe = load_recipe("dcgan_celeba")
    with pytest.raises(SystemExit) as info:
        recipe.parse_args(["--dataset", "digits", flag, value])
    assert info.value.code == 2
    assert (f"{flag} must be 0 or between 1.17549e-38 and 3.40282e+38 (float32's range). "
            f"Received: {flag}={float(value)}") in capsys.readouterr().err
    # the bounds are float32's own
    assert np.float32(recipe.FLOAT32_MAX) == np.finfo(np.float32).max
    assert np.float32(recipe.FLOAT32_TINY) == np.finfo(np.float32).tiny
    assert recipe.parse_args(["--dataset", "digits", flag, "1e-37"]) is not None


def test_discriminator_flags_shape_the_discriminator(tmp_path):
    recipe = load_recipe("dcgan_celeba")
    gan, _ = recipe.main(["--dataset", "shapes", "--image-size", "16", "--batch-size", "8",
                          "--steps-per-epoch", "3", "--epochs", "1", "--latent-dim", "8", "--verbose", "0",
                          "--no-export", "--d-normalization", "layer", "--minibatch-std",
                          "--augment", "ada", "--augment-policy", "translation,cutout",
                          "--objective", "hinge", "--r1-gamma", "0.5", "--spectral-norm",
                          "--ema", "0.9", "--d-learning-rate", "4e-4", "--g-learning-rate", "1e-4",
                          "--out-dir", str(tmp_path / "out"), "--model-path", str(tmp_path / "g.keras"),
                          "--generator-path", str(tmp_path / "gen.keras")])
    kinds = [type(layer).__name__ for layer in gan.discriminator.layers]
    assert "MinibatchStdDev" in kinds and "LayerNormalization" in kinds
    assert "BatchNormalization" not in kinds
    assert "SpectralNormalization" in kinds
    assert isinstance(gan.augment, keras_gen.augment.AdaptiveAugment)
    assert list(gan.augment.policy) == ["translation", "cutout"]
    assert gan.objective == "hinge" and gan.r1_gamma == 0.5
    assert float(gan.d_optimizer.learning_rate) == pytest.approx(4e-4)
    assert float(gan.g_optimizer.learning_rate) == pytest.approx(1e-4)
    assert gan.g_optimizer.use_ema and gan.g_optimizer.ema_momentum == 0.9
    # The generator file holds G's moving average (what fit leaves in G); the
    # whole-GAN file G's own weights, which training continues from (Keras'
    # average equals the weights after the first step, so 3 steps).
    saved_g = keras.saving.load_model(tmp_path / "gen.keras")
    saved_gan = keras.saving.load_model(tmp_path / "g.keras")
    for ema, own, live in zip(saved_g.weights, saved_gan.generator.weights, gan.generator.weights):
        np.testing.assert_array_equal(n(ema), n(live))
    assert any(not np.array_equal(n(a), n(b))
               for a, b in zip(saved_g.trainable_weights, saved_gan.generator.trainable_weights))


# ------------------------------------------- shapes, whole-GAN file, resume
SHAPES = ["--dataset", "shapes", "--image-size", "16", "--batch-size", "8", "--steps-per-epoch", "2",
          "--latent-dim", "8", "--d-steps", "2", "--verbose", "0", "--no-export"]


def _run(recipe, work, tag, *extra, out="grids"):
    return recipe.main(SHAPES + ["--out-dir", str(work / out), "--checkpoint-dir", str(work / f"backup_{tag}"),
                                 "--model-path", str(work / f"{tag}.keras"),
                                 "--generator-path", str(work / f"{tag}_g.keras"), *extra])


def _state(gan):
    """Every number that decides how training goes on (weights, Adam slots and steps, RNG)."""
    return [n(v) for v in gan.weights + gan.d_optimizer.variables + gan.g_optimizer.variables]


@pytest.fixture(scope="module")
def shapes_runs(tmp_path_factory):
    """2 epochs saved; continued for 2 more from the file, interrupted in the
    second and started again (so it resumes from the backup); the same 4
    epochs in one run. Four recipe runs in all (each traces its own model),
    with adaptive augmentation, whose probability and random stream resume too."""
    work = tmp_path_factory.mktemp("dcgan_shapes")
    recipe = load_recipe("dcgan_celeba")
    ada = ("--augment", "ada")
    runs = {"first": _run(recipe, work, "first", "--epochs", "2", *ada)}
    original = keras_gen.callbacks.SampleGrid.on_epoch_end

    def crash_in_fourth_epoch(self, epoch, logs=None):
        if epoch == 3:  # after epoch 4 trained, before its backup
            raise KeyboardInterrupt
        return original(self, epoch, logs)

    continuation = ("--epochs", "2", "--resume-from", str(work / "first.keras"), *ada)
    keras_gen.callbacks.SampleGrid.on_epoch_end = crash_in_fourth_epoch
    try:
        with pytest.raises(KeyboardInterrupt):
            _run(recipe, work, "continued", *continuation)
    finally:
        keras_gen.callbacks.SampleGrid.on_epoch_end = original
    runs["backup_after_crash"] = sorted(os.listdir(work / "backup_continued"))
    runs["grids_after_crash"] = sorted(os.listdir(work / "grids"))
    runs["continued"] = _run(recipe, work, "continued", *continuation)
    runs["one_run"] = _run(recipe, work, "one_run", "--epochs", "4", *ada, out="grids_one_run")
    return work, runs


def test_shapes_trains_in_colour_and_saves_the_whole_gan(shapes_runs):
    work, runs = shapes_runs
    gan, history = runs["first"]
    assert gan.image_shape == (16, 16, 3)
    assert len(history.history["d_loss"]) == 2
    grid = np.asarray(Image.open(work / "grids" / "epoch_002.png"))
    assert grid.shape == (2 * (8 * 16 + 7 * 2), 2 * (8 * 16 + 7 * 2), 3)
    # Colour images get the colour defaults: D without normalization, with
    # minibatch std; G (the paper's 4x4 transposed convolutions) at twice
    # D's learning rate; an EMA of G.
    kinds = [type(layer).__name__ for layer in gan.discriminator.layers]
    assert "MinibatchStdDev" in kinds
    assert gan.discriminator.get_layer("minibatch_std").group_size is None  # the whole batch
    assert not {"BatchNormalization", "LayerNormalization"} & set(kinds)
    g_kinds = [type(layer).__name__ for layer in gan.generator.layers]
    assert "UpSampling2D" not in g_kinds and "Conv2DTranspose" in g_kinds
    assert gan.generator.get_layer("output_deconv").kernel_size == (4, 4)
    assert float(gan.d_optimizer.learning_rate) == pytest.approx(2e-4)
    assert float(gan.g_optimizer.learning_rate) == pytest.approx(4e-4)
    assert gan.g_optimizer.use_ema and gan.g_optimizer.ema_momentum == pytest.approx(0.99)
    # The whole GAN: both networks, both optimizers (2 epochs x 2 steps; 2 D-steps each).
    saved = keras.saving.load_model(work / "first.keras")
    assert isinstance(saved, keras_gen.GAN)
    assert int(n(saved.g_optimizer.iterations)) == 4
    assert int(n(saved.d_optimizer.iterations)) == 8
    same = [saved.discriminator.weights,
            saved.d_optimizer.variables, saved.g_optimizer.variables, [saved.seed_generator.state]]
    live = [gan.discriminator.weights,
            gan.d_optimizer.variables, gan.g_optimizer.variables, [gan.seed_generator.state]]
    for saved_part, live_part in zip(same, live):
        assert len(saved_part) == len(live_part)
        for a, b in zip(saved_part, live_part):
            np.testing.assert_array_equal(n(a), n(b))
    # fit ended by writing G's average into G; the whole-GAN file keeps G's
    # own weights, which a continued run trains on.
    assert any(not np.array_equal(n(a), n(b))
               for a, b in zip(saved.generator.trainable_weights, gan.generator.trainable_weights))
    with zipfile.ZipFile(work / "first.keras") as archive:  # the recipe's note: epochs trained
        assert b'"epochs": 2' in archive.comment
    # The generator alone, as before.
    generator = keras.saving.load_model(work / "first_g.keras")
    z = np.random.default_rng(0).normal(size=(2, 8)).astype("float32")
    np.testing.assert_array_equal(generator.predict(z, verbose=0), gan.generator.predict(z, verbose=0))
    # Its BatchNormalization statistics are the standing statistics of the
    # average (re-estimated for its weights), not the ones its own weights
    # collected in training, which the whole-GAN file keeps.
    saved.generator.set_weights(generator.get_weights())
    assert saved.standing_statistics() > 0
    for standing, kept in zip(saved.generator.non_trainable_weights, generator.non_trainable_weights):
        np.testing.assert_allclose(n(standing), n(kept), rtol=1e-5, atol=1e-6)
    own = keras.saving.load_model(work / "first.keras").generator.non_trainable_weights
    assert not any(np.allclose(n(a), n(b)) for a, b in zip(own, generator.non_trainable_weights))
    assert not (work / "backup_first").exists()  # deleted once the run succeeded


def test_resume_from_continues_as_one_run(shapes_runs):
    work, runs = shapes_runs
    gan, _ = runs["continued"]
    one_run, _ = runs["one_run"]
    # The continuation trained epoch 3 from the file (its grid numbered on)
    # before the interruption, and epoch 4 after it.
    assert runs["grids_after_crash"] == ["epoch_001.png", "epoch_002.png", "epoch_003.png"]
    assert sorted(os.listdir(work / "grids")) == [f"epoch_00{i}.png" for i in range(1, 5)]
    assert int(n(gan.g_optimizer.iterations)) == 8 and int(n(gan.d_optimizer.iterations)) == 16
    # Bit for bit the weights, Adam slots and steps, and latent RNG state of
    # 4 epochs in one run (measured identical on TensorFlow, JAX and PyTorch on CPU).
    for a, b in zip(_state(gan), _state(one_run)):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(n(gan.seed_generator.state), n(one_run.seed_generator.state))
    # ADA's probability and random stream
    assert isinstance(gan.augment, keras_gen.augment.AdaptiveAugment)
    assert float(n(gan.augment.probability)) == float(n(one_run.augment.probability))
    np.testing.assert_array_equal(n(gan.augment.seed_generator.state),
                                  n(one_run.augment.seed_generator.state))
    assert (work / "grids" / "epoch_004.png").read_bytes() == (work / "grids_one_run" / "epoch_004.png").read_bytes()
    saved = keras.saving.load_model(work / "continued.keras")
    assert int(n(saved.g_optimizer.iterations)) == 8
    with zipfile.ZipFile(work / "continued.keras") as archive:
        assert b'"epochs": 4' in archive.comment


def test_backup_of_an_interrupted_continuation_wins(shapes_runs):
    work, runs = shapes_runs
    assert "training_metadata.json" in runs["backup_after_crash"]
    _, history = runs["continued"]
    # Started again with the same --resume-from, it resumed from the backup
    # (after epoch 3), not from the file (after epoch 2): one epoch was left.
    assert len(history.history["d_loss"]) == 1
    assert not (work / "backup_continued").exists()


def _fails(capsys, argv):
    with pytest.raises(SystemExit) as info:
        load_recipe("dcgan_celeba").main(argv)
    assert info.value.code == 2
    return " ".join(capsys.readouterr().err.split())


@pytest.mark.parametrize("flag", ["--image-size", "--batch-size", "--latent-dim", "--d-steps", "--epochs"])
def test_non_positive_sizes_are_named_errors(flag, capsys):
    # --image-size 0 used to mean "the default size" and train at 64x64.
    err = _fails(capsys, SHAPES + [flag, "0"])
    assert f"{flag} must be >= 1. Received: {flag}=0" in err


@pytest.mark.parametrize("flag, value", [("--learning-rate", "0"), ("--d-learning-rate", "-1"),
                                         ("--g-learning-rate", "nan")])
def test_learning_rates_must_be_positive(flag, value, capsys):
    with pytest.raises(SystemExit) as info:
        load_recipe("dcgan_celeba").parse_args(["--dataset", "shapes", flag, value])
    assert info.value.code == 2
    assert f"{flag} must be > 0. Received: {flag}={float(value)}" in capsys.readouterr().err


@pytest.mark.parametrize("saved_flags", [["--ema", "0"], ["--d-normalization", "batch", "--no-minibatch-std"],
                                         ["--lecam", "0"]],
                         ids=["ema", "discriminator", "lecam"])
def test_a_backup_from_other_settings_is_a_clear_error(tmp_path, monkeypatch, capsys, saved_flags):
    """An interrupted run saved with other settings (e.g. the paper's, before colour
    images defaulted to these) and started again without them: exit 2 naming the
    backup folder; before, a traceback, or (EMA) a silently fresh G optimizer."""
    args = SHAPES + ["--epochs", "2", "--out-dir", str(tmp_path / "out"), "--model-path", str(tmp_path / "m.keras"),
                     "--generator-path", str(tmp_path / "g.keras"), "--checkpoint-dir", str(tmp_path / "backup")]
    _interrupt_in_second_epoch(monkeypatch, load_recipe("dcgan_celeba").main, args + saved_flags)
    assert (tmp_path / "backup").exists()
    err = _fails(capsys, args)  # the colour defaults
    assert (f"--checkpoint-dir {tmp_path / 'backup'} holds the backup of an interrupted run made with other "
            "networks or optimizer settings than this command line's") in err
    assert f"or delete {tmp_path / 'backup'} to start afresh" in err
    assert "--lecam on or off" in err and "add --lecam 0" in err
    assert not (tmp_path / "m.keras").exists()
    gan, history = load_recipe("dcgan_celeba").main(args + saved_flags)  # as it was: resumes
    assert len(history.history["d_loss"]) == 1 and int(n(gan.g_optimizer.iterations)) == 4


def _save_colour_gan(path, d_optimizer, g_optimizer, upsampling="transpose", augment=None,
                     consistency=0.0, lecam=0.1, minibatch_std_group=None, trained=False,
                     spectral_norm=False):
    """A compiled GAN of the recipe's colour networks for SHAPES, saved to ``path``
    (LeCam on, as the colour defaults have it); untrained, or ``trained`` one step (so
    that the file holds the optimizers' variables, their learning rates among them)."""
    kernel_size = 3 if upsampling == "resize" else 4
    gan = keras_gen.GAN(keras_gen.networks.dcgan_generator(8, (16, 16, 3), kernel_size=kernel_size,
                                                           upsampling=upsampling),
                        keras_gen.networks.dcgan_discriminator(
                            (16, 16, 3), normalization=None, minibatch_std=True,
                            minibatch_std_group=minibatch_std_group, spectral_norm=spectral_norm),
                        latent_dim=8,
                        augment=augment, consistency=consistency, lecam=lecam)
    gan.compile(d_optimizer=d_optimizer, g_optimizer=g_optimizer)
    if trained:
        x = np.random.default_rng(0).uniform(-1, 1, (4, 16, 16, 3)).astype("float32")
        gan.fit(x, batch_size=4, epochs=1, verbose=0)
    gan.save(path)


def test_resume_says_when_a_learning_rate_differs_from_the_files(tmp_path, capsys):
    # (with a resize-convolution generator: --upsampling resize resumes it)
    _save_colour_gan(tmp_path / "saved.keras", keras.optimizers.Adam(2e-4, beta_1=0.5),
                     keras.optimizers.Adam(1e-4, beta_1=0.5, use_ema=True, ema_momentum=0.99),
                     upsampling="resize", trained=True)
    gan, _ = load_recipe("dcgan_celeba").main(
        SHAPES + ["--epochs", "1", "--d-steps", "1", "--upsampling", "resize", "--beta-2", "0.99",
                  "--out-dir", str(tmp_path / "out"),
                  "--model-path", str(tmp_path / "m.keras"), "--generator-path", str(tmp_path / "g.keras"),
                  "--resume-from", str(tmp_path / "saved.keras")])
    out = capsys.readouterr().out
    assert (f"note: --resume-from {tmp_path / 'saved.keras'} trained G at learning rate 0.0001; this run "
            "uses 0.0004 (pass --g-learning-rate 0.0001 to keep it)") in out
    assert "trained D at learning rate" not in out
    assert "--objective" not in out  # the same objective: nothing to say
    # the file's Adam(beta_1=0.5) (beta_2 0.999) against this run's --beta-2 0.99: said, and used
    assert (f"note: --resume-from {tmp_path / 'saved.keras'} trained with Adam beta_1 0.5, beta_2 "
            "0.999; this run uses 0.5, 0.99 (pass --beta-1 0.5 --beta-2 0.999 to keep them)") in out
    for optimizer in (gan.d_optimizer, gan.g_optimizer):
        assert (float(optimizer.beta_1), float(optimizer.beta_2)) == pytest.approx((0.5, 0.99))
    assert "UpSampling2D" in [type(layer).__name__ for layer in gan.generator.layers]
    assert int(n(gan.g_optimizer.iterations)) > 0
    # ... and the command line's rates are the ones trained with and saved (loading the
    # file restored its 1e-4 over them)
    saved = keras.saving.load_model(tmp_path / "m.keras")
    for model in (gan, saved):
        assert float(n(model.g_optimizer.learning_rate)) == pytest.approx(4e-4)
        assert float(n(model.d_optimizer.learning_rate)) == pytest.approx(2e-4)



def test_resume_from_a_file_without_adam_says_so_and_trains(tmp_path, capsys):
    _save_colour_gan(tmp_path / "saved.keras", keras.optimizers.SGD(2e-4), keras.optimizers.SGD(4e-4))
    gan, _ = load_recipe("dcgan_celeba").main(
        SHAPES + ["--epochs", "1", "--d-steps", "1", "--ema", "0", "--out-dir", str(tmp_path / "out"),
                  "--model-path", str(tmp_path / "m.keras"), "--generator-path", str(tmp_path / "g.keras"),
                  "--resume-from", str(tmp_path / "saved.keras")])
    out = capsys.readouterr().out
    for player in ("G", "D"):
        assert (f"note: --resume-from {tmp_path / 'saved.keras'} trained {player} with SGD, not Adam; "
                f"this run's Adam starts {player} from fresh moments") in out
    assert "trained with Adam beta_1" not in out
    for optimizer in (gan.d_optimizer, gan.g_optimizer):
        assert isinstance(optimizer, keras.optimizers.Adam)
        assert (float(optimizer.beta_1), float(optimizer.beta_2)) == pytest.approx((0.5, 0.999))
    assert int(n(gan.g_optimizer.iterations)) > 0

def test_resume_names_a_minibatch_std_group_that_differs(tmp_path, capsys):
    """A colour run saved with the spread per group of 4 images is refused under the
    default (one spread for the batch), naming the flag, and resumes with it."""
    _save_colour_gan(tmp_path / "grouped.keras", keras.optimizers.Adam(2e-4, beta_1=0.5),
                     keras.optimizers.Adam(4e-4, beta_1=0.5, use_ema=True, ema_momentum=0.99),
                     minibatch_std_group=4)
    args = SHAPES + ["--epochs", "1", "--out-dir", str(tmp_path / "out"),
                     "--model-path", str(tmp_path / "m.keras"), "--generator-path", str(tmp_path / "g.keras"),
                     "--resume-from", str(tmp_path / "grouped.keras")]
    err = _fails(capsys, args)
    assert (f"--resume-from {tmp_path / 'grouped.keras'} was trained with other settings than this run's "
            "(file: --minibatch-std-group 4, this run: --minibatch-std-group 0 (the default for colour "
            "images))") in err
    err = _fails(capsys, args + ["--minibatch-std-group", "2"])
    assert "(file: --minibatch-std-group 4, this run: --minibatch-std-group 2)" in err
    gan, _ = load_recipe("dcgan_celeba").main(args + ["--minibatch-std-group", "4"])
    assert gan.discriminator.get_layer("minibatch_std").group_size == 4
    assert int(n(gan.g_optimizer.iterations)) == 2


def test_resume_says_when_the_objective_differs_from_the_files(tmp_path, capsys):
    """--objective hinge on a file trained with the cross-entropy GAN was taken without a word."""
    _save_colour_gan(tmp_path / "saved.keras", keras.optimizers.Adam(2e-4, beta_1=0.5),
                     keras.optimizers.Adam(4e-4, beta_1=0.5, use_ema=True, ema_momentum=0.99))
    gan, _ = load_recipe("dcgan_celeba").main(
        SHAPES + ["--epochs", "1", "--objective", "hinge", "--out-dir", str(tmp_path / "out"),
                  "--model-path", str(tmp_path / "m.keras"), "--generator-path", str(tmp_path / "g.keras"),
                  "--resume-from", str(tmp_path / "saved.keras")])
    out = capsys.readouterr().out
    assert (f"note: --resume-from {tmp_path / 'saved.keras'} trained with --objective standard; this "
            "run uses hinge (pass --objective standard to keep it)") in out
    assert gan.objective == "hinge"


def test_resume_names_spectral_norm_that_differs(tmp_path, capsys):
    """It was refused with a cut Keras message ("6 objects could not be loaded") naming no flag."""
    for saved_with, tag in ((False, "plain"), (True, "sn")):
        _save_colour_gan(tmp_path / f"{tag}.keras", keras.optimizers.Adam(2e-4, beta_1=0.5),
                         keras.optimizers.Adam(4e-4, beta_1=0.5, use_ema=True, ema_momentum=0.99),
                         spectral_norm=saved_with)
        args = SHAPES + ["--epochs", "1", "--out-dir", str(tmp_path / "out"),
                         "--model-path", str(tmp_path / "m.keras"), "--generator-path", str(tmp_path / "g.keras"),
                         "--resume-from", str(tmp_path / f"{tag}.keras")]
        err = _fails(capsys, args + ([] if saved_with else ["--spectral-norm"]))
        expected = ("file: --spectral-norm, this run: no --spectral-norm" if saved_with
                    else "file: no --spectral-norm, this run: --spectral-norm")
        assert f"was trained with other settings than this run's ({expected})" in err


@pytest.mark.parametrize("extra, message", [
    (["--minibatch-std-group", "-1"],
     "--minibatch-std-group must be >= 0 (0: the whole batch). Received: --minibatch-std-group=-1"),
    (["--minibatch-std-group", "4", "--no-minibatch-std"],
     "--minibatch-std-group applies only with the minibatch standard deviation channel. "
     "Received: --minibatch-std-group=4 with --no-minibatch-std"),
])
def test_bad_minibatch_std_group_is_named(extra, message, capsys):
    with pytest.raises(SystemExit) as info:
        load_recipe("dcgan_celeba").parse_args(["--dataset", "shapes"] + extra)
    assert info.value.code == 2
    assert message in capsys.readouterr().err


def test_bad_resume_from_is_a_clear_error(tmp_path, capsys):
    args = SHAPES + ["--epochs", "1", "--out-dir", str(tmp_path / "out"),
                     "--model-path", str(tmp_path / "m.keras"), "--generator-path", str(tmp_path / "g.keras")]
    missing = str(tmp_path / "nowhere.keras")
    err = _fails(capsys, args + ["--resume-from", missing])
    assert f"--resume-from {missing} does not exist" in err
    garbage = tmp_path / "garbage.keras"
    garbage.write_text("not a model")
    err = _fails(capsys, args + ["--resume-from", str(garbage)])
    assert (f"--resume-from {garbage} is not a complete .keras file (a .keras file is a zip "
            "archive; this one is truncated, empty or another format)") in err
    assert "File not found" not in err
    folder = tmp_path / "folder.keras"
    folder.mkdir()
    err = _fails(capsys, args + ["--resume-from", str(folder)])
    assert f"--resume-from {folder} is a folder" in err
    # A zip that Keras cannot read still gets Keras' reason.
    with zipfile.ZipFile(tmp_path / "empty_zip.keras", "w") as archive:
        archive.writestr("readme.txt", "no model here")
    err = _fails(capsys, args + ["--resume-from", str(tmp_path / "empty_zip.keras")])
    assert f"--resume-from {tmp_path / 'empty_zip.keras'} is not a Keras model file" in err
    # The generator alone (what --generator-path writes) cannot resume.
    generator = keras_gen.networks.dcgan_generator(8, (16, 16, 3))
    generator.save(tmp_path / "generator.keras")
    err = _fails(capsys, args + ["--resume-from", str(tmp_path / "generator.keras")])
    assert f"--resume-from {tmp_path / 'generator.keras'} holds a Functional, not a whole keras_gen.GAN" in err
    # A GAN of other images or another latent size.
    other = keras_gen.GAN(keras_gen.networks.dcgan_generator(4, (16, 16, 3)),
                          keras_gen.networks.dcgan_discriminator((16, 16, 3)), latent_dim=4)
    other.save(tmp_path / "other.keras")
    err = _fails(capsys, args + ["--resume-from", str(tmp_path / "other.keras")])
    assert (f"--resume-from {tmp_path / 'other.keras'} holds a GAN for images (16, 16, 3) with latent_dim=4, "
            "but this run trains on images (16, 16, 3) with --latent-dim 8") in err
    err = _fails(capsys, args[:2] + ["--image-size", "32"] + args[4:] + ["--latent-dim", "4", "--resume-from",
                                                                        str(tmp_path / "other.keras")])
    assert "this run trains on images (32, 32, 3) with --latent-dim 4" in err
    # Another latent size *and* other discriminator options: one message names them all.
    err = _fails(capsys, args + ["--d-normalization", "layer", "--resume-from",
                                 str(tmp_path / "other.keras")])
    assert ("but this run trains on images (16, 16, 3) with --latent-dim 8; pass the --dataset, "
            "--image-size and --latent-dim of the run that wrote it; it was also trained with other "
            "settings than this run's (file: --d-normalization batch, this run: --d-normalization "
            "layer") in err
    # The same images and latent size, but other discriminator options.
    err = _fails(capsys, args + ["--latent-dim", "4", "--d-normalization", "layer", "--minibatch-std",
                                 "--lecam", "0", "--resume-from", str(tmp_path / "other.keras")])
    assert (f"--resume-from {tmp_path / 'other.keras'} was trained with other settings than this run's "
            "(file: --d-normalization batch, this run: --d-normalization layer; file: --no-minibatch-std, "
            "this run: --minibatch-std). Pass the settings of the run that wrote it") in err
    # The same networks, but an EMA of G in one and not the other: G's optimizer
    # holds the average as state, so the run must ask for what the file has.
    _save_colour_gan(tmp_path / "plain.keras", keras.optimizers.Adam(2e-4), keras.optimizers.Adam(4e-4))
    err = _fails(capsys, args + ["--resume-from", str(tmp_path / "plain.keras")])  # colour default: EMA
    assert (f"--resume-from {tmp_path / 'plain.keras'} was trained with other settings than this run's "
            "(file: --ema 0, this run: --ema 0.99 (the default for colour images))") in err
    _save_colour_gan(tmp_path / "averaged.keras", keras.optimizers.Adam(2e-4),
                     keras.optimizers.Adam(4e-4, use_ema=True, ema_momentum=0.95))
    err = _fails(capsys, args + ["--ema", "0", "--resume-from", str(tmp_path / "averaged.keras")])
    assert (f"--resume-from {tmp_path / 'averaged.keras'} was trained with other settings than this run's "
            "(file: --ema 0.95, this run: --ema 0)") in err
    # A generator that upsamples otherwise than this run asks (resize-convolution
    # in the file; the default, the paper's transposed convolutions, here).
    _save_colour_gan(tmp_path / "resized.keras", keras.optimizers.Adam(2e-4),
                     keras.optimizers.Adam(4e-4, use_ema=True, ema_momentum=0.99),
                     upsampling="resize")
    err = _fails(capsys, args + ["--resume-from", str(tmp_path / "resized.keras")])
    assert (f"--resume-from {tmp_path / 'resized.keras'} was trained with other settings than this "
            "run's (file: --upsampling resize, this run: --upsampling transpose)") in err
    # Augmentation in this run and not in the file (ADA's probability and
    # random stream are part of the GAN's weights).
    err = _fails(capsys, args + ["--augment", "ada", "--resume-from", str(tmp_path / "resized.keras"),
                                 "--upsampling", "resize"])
    assert (f"--resume-from {tmp_path / 'resized.keras'} was trained with other settings than this "
            "run's (file: --augment none, this run: --augment ada --augment-policy "
            "color,translation,cutout). Pass the settings of the run that wrote it") in err
    # ADA in the file, none (the colour default) or another policy in this run.
    _save_colour_gan(tmp_path / "ada.keras", keras.optimizers.Adam(2e-4),
                     keras.optimizers.Adam(4e-4, use_ema=True, ema_momentum=0.99),
                     augment=keras_gen.augment.AdaptiveAugment("translation,cutout"))
    err = _fails(capsys, args + ["--resume-from", str(tmp_path / "ada.keras")])
    assert ("(file: --augment ada --augment-policy translation,cutout, this run: --augment none "
            "(the default for colour images))") in err
    err = _fails(capsys, args + ["--resume-from", str(tmp_path / "ada.keras"), "--augment", "ada",
                                 "--augment-policy", "cutout,translation"])
    assert ("(file: --augment ada --augment-policy translation,cutout, this run: --augment ada "
            "--augment-policy cutout,translation)") in err
    # The consistency term's transform keeps a random stream in the file too.
    _save_colour_gan(tmp_path / "bcr.keras", keras.optimizers.Adam(2e-4),
                     keras.optimizers.Adam(4e-4, use_ema=True, ema_momentum=0.99), consistency=10.0)
    err = _fails(capsys, args + ["--resume-from", str(tmp_path / "bcr.keras")])
    assert ("was trained with other settings than this run's (file: --consistency 10, this run: "
            "--consistency 0). Pass the settings of the run that wrote it") in err
    # So do LeCam's moving averages (a file from before LeCam was a colour default).
    _save_colour_gan(tmp_path / "lecam.keras", keras.optimizers.Adam(2e-4),
                     keras.optimizers.Adam(4e-4, use_ema=True, ema_momentum=0.99), lecam=0.0)
    err = _fails(capsys, args + ["--resume-from", str(tmp_path / "lecam.keras")])
    assert "(file: --lecam 0, this run: --lecam 0.1 (the default for colour images))" in err
    resumed = tmp_path / "resumed"  # (the end of this test checks that the failures wrote nothing)
    gan, _ = load_recipe("dcgan_celeba").main(args + [
        "--lecam", "0", "--resume-from", str(tmp_path / "lecam.keras"), "--out-dir", str(resumed),
        "--model-path", str(resumed / "m.keras"), "--generator-path", str(resumed / "g.keras")])
    assert gan.lecam == 0.0 and int(n(gan.g_optimizer.iterations)) > 0
    # A discriminator of another width than this run asks (the file's is the
    # builder's, (64, 128) at 16 px; --d-width 2 asks for twice it).
    err = _fails(capsys, args + ["--d-width", "2", "--resume-from", str(tmp_path / "plain.keras"),
                                 "--ema", "0"])
    assert (f"--resume-from {tmp_path / 'plain.keras'} was trained with other settings than this "
            "run's (file: --d-width 1 (filters [64, 128]), this run: --d-width 2 (filters "
            "[128, 256])). Pass the settings of the run that wrote it") in err
    # Filters that are no multiple of the builder's: named by the filters alone.
    odd = keras_gen.GAN(keras_gen.networks.dcgan_generator(8, (16, 16, 3)),
                        keras_gen.networks.dcgan_discriminator((16, 16, 3), filters=(48, 200),
                                                               normalization=None, minibatch_std=True),
                        latent_dim=8)
    odd.compile(d_optimizer=keras.optimizers.Adam(2e-4), g_optimizer=keras.optimizers.Adam(4e-4))
    odd.save(tmp_path / "odd.keras")
    err = _fails(capsys, args + ["--resume-from", str(tmp_path / "odd.keras"), "--ema", "0",
                                 "--lecam", "0"])
    assert (f"--resume-from {tmp_path / 'odd.keras'} was trained with other settings than this "
            "run's (file: (filters [48, 200]), this run: --d-width 1 (filters [64, 128]) (the "
            "default for colour images))") in err
    # Nothing was written.
    assert not (tmp_path / "m.keras").exists() and not (tmp_path / "out").exists()


def test_a_continuation_killed_while_writing_its_files_ends_where_it_would_have(tmp_path, monkeypatch):
    """The backup outlives fit until every file is written: a continuation whose
    --model-path (its own --resume-from file) was already overwritten when it was
    killed resumes to the same end, with G's own weights in the whole-GAN file and
    the average (with its standing statistics) in the generator file."""
    recipe = load_recipe("dcgan_celeba")
    from recipes import _common

    def run(tag, *extra):
        return recipe.main(SHAPES + ["--out-dir", str(tmp_path / f"out_{tag}"),
                                     "--checkpoint-dir", str(tmp_path / f"backup_{tag}"),
                                     "--model-path", str(tmp_path / f"{tag}.keras"),
                                     "--generator-path", str(tmp_path / f"{tag}_g.keras"), *extra])

    run("cont", "--epochs", "1")
    save = _common.save_keras

    def killed_at_the_generator_file(model, path, note=None):
        if path.endswith("cont_g.keras"):
            raise KeyboardInterrupt
        return save(model, path, note)

    monkeypatch.setattr(_common, "save_keras", killed_at_the_generator_file)
    continuation = ("--epochs", "1", "--resume-from", str(tmp_path / "cont.keras"))
    with pytest.raises(KeyboardInterrupt):
        run("cont", *continuation)
    monkeypatch.setattr(_common, "save_keras", save)
    assert b'"epochs": 2' in zipfile.ZipFile(tmp_path / "cont.keras").comment  # already overwritten
    assert "latest.weights.h5" in os.listdir(tmp_path / "backup_cont")  # kept until the files are written
    gan, history = run("cont", *continuation)  # the same command again
    assert len(history.history) == 0 or len(history.history.get("d_loss", [])) == 0  # nothing left to train
    assert not (tmp_path / "backup_cont").exists()
    run("one", "--epochs", "2")
    for name in ("cont.keras", "cont_g.keras"):
        with zipfile.ZipFile(tmp_path / name) as archive:
            assert archive.comment == zipfile.ZipFile(tmp_path / name.replace("cont", "one")).comment
        resumed = keras.saving.load_model(tmp_path / name)
        one = keras.saving.load_model(tmp_path / name.replace("cont", "one"))
        variables = (lambda m: m.weights + m.d_optimizer.variables + m.g_optimizer.variables
                     if isinstance(m, keras_gen.GAN) else m.weights)
        assert len(variables(resumed)) == len(variables(one))
        for a, b in zip(variables(resumed), variables(one)):
            np.testing.assert_array_equal(n(a), n(b))


@pytest.mark.parametrize("flag,value,message", [
    ("--model-path", "model", "--model-path must be a .keras file path. Received: --model-path='model'"),
    ("--generator-path", "g.h5", "--generator-path must be a .keras file path"),
])
def test_bad_output_paths_are_usage_errors_before_training(flag, value, message, capsys):
    err = _fails(capsys, SHAPES + ["--epochs", "1", flag, value])
    assert message in err


@pytest.mark.parametrize("flag,name", [("--out-dir", "x"), ("--checkpoint-dir", "x"),
                                       ("--model-path", "a.keras"),
                                       ("--generator-path", "g.keras")])
def test_an_output_under_a_file_is_a_usage_error_before_training(tmp_path, capsys, flag, name):
    # --out-dir used to end in a NotADirectoryError traceback (exit 1) at the first backup.
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    path = blocker / name
    err = _fails(capsys, SHAPES + ["--epochs", "1", flag, str(path)])
    assert f"{flag} cannot be written" in err and f"{blocker} is a file" in err
    assert f"Received: {flag}={path}" in err
    assert sorted(os.listdir(tmp_path)) == ["afile"]


def test_an_output_path_that_is_a_folder_is_a_usage_error(tmp_path, capsys):
    folder = tmp_path / "adir.keras"
    folder.mkdir()
    err = _fails(capsys, SHAPES + ["--epochs", "1", "--model-path", str(folder)])
    assert f"--model-path {folder} is a folder" in err
