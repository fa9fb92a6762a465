"""benchmarks/quality.py's DCGAN training options and rgb_quality's keras-gen-only run.

Tiny networks (16x16 images) and a few steps; the benchmarks' numbers come
from their own runs. Building from options is backend-independent, so it is
checked on TensorFlow only (the benchmarks' backend).
"""

import json

import keras
import numpy as np
import pytest

from tests.benchmarks.test_rgb_quality import _load

tensorflow_only = pytest.mark.skipif(keras.backend.backend() != "tensorflow",
                                     reason="the benchmarks run on TensorFlow; building from "
                                            "options does not depend on the backend")


@pytest.fixture(scope="module")
def quality():
    return _load("quality")


@pytest.fixture(scope="module")
def rgb():
    return _load("rgb_quality")


def test_gan_options_merge_left_to_right(quality):
    paper = quality.gan_options("paper")
    assert paper == quality.PAPER
    both = quality.gan_options("ttur+ema+nonorm_mbstd")
    assert (both["d_lr"], both["g_lr"], both["ema"]) == (4e-4, 1e-4, quality.GAN_EMA_MOMENTUM)
    assert both["normalization"] is None and both["minibatch_std"] is True
    assert both["augment"] is None and both["r1_gamma"] is None
    # The option sets differ from the paper's settings only in what they name.
    assert quality.gan_options("ema") == dict(quality.PAPER, ema=quality.GAN_EMA_MOMENTUM)
    # Session 9's screen: later entries win (ema995 replaces ema's momentum).
    wider = quality.gan_options("nonorm_mbstd+g8+ema+d_wider")
    assert (wider["d_lr"], wider["g_lr"], wider["d_filters"]) == (2e-4, 8e-4, (192, 384))
    assert quality.gan_options("g8+ema+g12+ema995")["g_lr"] == 1.2e-3
    assert quality.gan_options("g8+ema+g12+ema995")["ema"] == 0.995
    with pytest.raises(ValueError, match=r"Received: name='ema\+nope'"):
        quality.gan_options("ema+nope")


@tensorflow_only
def test_keras_gen_dcgan_follows_the_options(quality):
    options = quality.gan_options("ttur+ema+nonorm_mbstd")
    gan = quality.keras_gen_dcgan(options, seed=0, shape=(16, 16, 1), latent_dim=4)
    names = [layer.name for layer in gan.discriminator.layers]
    assert "minibatch_std" in names and not any("bn" in n for n in names)
    assert float(gan.d_optimizer.learning_rate) == pytest.approx(4e-4)
    assert float(gan.g_optimizer.learning_rate) == pytest.approx(1e-4)
    assert gan.g_optimizer.use_ema and not gan.d_optimizer.use_ema
    assert gan.g_optimizer.ema_momentum == quality.GAN_EMA_MOMENTUM
    plain = quality.keras_gen_dcgan(quality.PAPER, seed=0, shape=(16, 16, 1), latent_dim=4)
    assert any("bn" in layer.name for layer in plain.discriminator.layers)
    assert not plain.g_optimizer.use_ema
    wide = quality.keras_gen_dcgan(quality.gan_options("g_wide+d_wide"), seed=0,
                                   shape=(16, 16, 1), latent_dim=4)
    assert wide.generator.get_layer("reshape").output.shape[-1] == 256
    assert [wide.discriminator.get_layer(f"conv_{i}").filters for i in (1, 2)] == [128, 256]
    # Session 12's screen: Adam's betas and one-sided label smoothing.
    assert (plain.g_optimizer.beta_1, plain.g_optimizer.beta_2) == (0.5, 0.999)
    assert plain.label_smoothing == 0.0
    tuned = quality.keras_gen_dcgan(quality.gan_options("beta0+ls"), seed=0, shape=(16, 16, 1),
                                    latent_dim=4)
    for optimizer in (tuned.d_optimizer, tuned.g_optimizer):
        assert (optimizer.beta_1, optimizer.beta_2) == (0.0, 0.99)
    assert tuned.label_smoothing == pytest.approx(0.1)
    # Session 13: resize-convolution in G.
    assert plain.generator.get_layer("output_deconv").__class__.__name__ == "Conv2DTranspose"
    resized = quality.keras_gen_dcgan(quality.gan_options("resize3"), seed=0, shape=(16, 16, 1),
                                      latent_dim=4)
    layer = resized.generator.get_layer("output_deconv")
    assert layer.__class__.__name__ == "Conv2D" and layer.kernel_size == (3, 3)
    assert resized.generator.get_layer("output_deconv_resize").size == (2, 2)
    # Session 14: top-k training, D's learning rate 1e-4, two D steps per G step.
    assert (plain.top_k, plain.top_k_steps, plain.d_steps) == (None, 0, 1)
    screened = quality.keras_gen_dcgan(quality.gan_options("topk+d1+d2"), seed=0,
                                       shape=(16, 16, 1), latent_dim=4)
    assert (screened.top_k, screened.top_k_steps, screened.d_steps) == (0.5, 1500, 2)
    assert float(screened.d_optimizer.learning_rate) == pytest.approx(1e-4)
    # Session 22: G's kernel 5, Adam beta_2 0.99, the tutorial's generator.
    assert plain.generator.get_layer("output_deconv").kernel_size == (4, 4)
    screened = quality.keras_gen_dcgan(quality.gan_options("g_k5+b2_99"), seed=0,
                                       shape=(16, 16, 1), latent_dim=4)
    assert screened.generator.get_layer("output_deconv").kernel_size == (5, 5)
    for optimizer in (screened.d_optimizer, screened.g_optimizer):
        assert (optimizer.beta_1, optimizer.beta_2) == (0.5, 0.99)
    tutorial = quality.keras_gen_dcgan(quality.gan_options("g_tut"), seed=0, shape=(28, 28, 1),
                                       latent_dim=4)
    convolutions = [layer for layer in tutorial.generator.layers
                    if isinstance(layer, keras.layers.Conv2DTranspose)]
    assert [(c.filters, c.kernel_size, c.strides) for c in convolutions] == [
        (128, (5, 5), (1, 1)), (64, (5, 5), (2, 2)), (1, (5, 5), (2, 2))]
    codes = np.random.default_rng(0).standard_normal((3, 4)).astype("float32")
    images = keras.ops.convert_to_numpy(tutorial.generator(codes, training=False))
    assert images.shape == (3, 28, 28, 1) and np.all(np.abs(images) <= 1.0)
    assert tutorial.latent_dim == 4 and tutorial.generator.name == "tutorial_generator"
    with pytest.raises(ValueError, match="do not apply to the tutorial's generator"):
        quality.keras_gen_dcgan(quality.gan_options("g_tut+g_k5"), seed=0, shape=(28, 28, 1),
                                latent_dim=4)


@tensorflow_only
def test_train_keras_gen_alone_and_reuse_a_reference_run(rgb, tmp_path):
    import tensorflow as tf

    from keras_gen.data.shapes import load_shapes

    x = tf.constant(load_shapes("train", image_size=16, value_range=(-1, 1),
                                num_examples=64, with_labels=False))
    out = rgb.train_keras_gen(x, steps=4, chunk=2, seed=0, options="ema", num_samples=8,
                              log=lambda *a: None)
    assert out["keras_gen"].shape == (8, 16, 16, 3)
    assert out["timing"]["options"] == "ema" and out["timing"]["keras_gen_s_per_step"] > 0
    # An earlier run's reference samples and timing are taken as they are.
    ref = np.full((8, 16, 16, 3), 0.25, "float32")
    np.savez(tmp_path / "samples_seed0.npz", keras_gen=ref, reference=ref,
             reference_walltime=ref * 2)
    (tmp_path / "timing_seed0.json").write_text(json.dumps(
        {"steps": 4, "seed": 0, "reference_s_per_step": 0.5, "reference_seconds": 2.0,
         "reference_walltime_steps": 2, "keras_gen_s_per_step": 9.0}))
    got = rgb.reference_run(str(tmp_path), seed=0, steps=4)
    np.testing.assert_array_equal(got["reference_walltime"], ref * 2)
    assert got["reference_timing"] == {"reference_s_per_step": 0.5, "reference_seconds": 2.0,
                                       "reference_walltime_steps": 2}
    with pytest.raises(ValueError, match="reference_from must hold a run of 5 steps"):
        rgb.reference_run(str(tmp_path), seed=0, steps=5)


@tensorflow_only
def test_learning_rate_schedules_reach_zero_at_the_run_end(quality):
    # Closed forms: linear (1 - t/T), cosine (1 + cos(pi t/T))/2, hold-then-linear.
    total = 10
    for decay, expected in (
            ("linear", lambda t: 1.0 - t / total),
            ("cosine", lambda t: 0.5 * (1.0 + np.cos(np.pi * t / total))),
            ("linear_half", lambda t: min(1.0, (total - t) / (total / 2)))):
        schedule = quality.learning_rate(8e-4, decay, total)
        got = [float(keras.ops.convert_to_numpy(schedule(t))) for t in (0, 3, 5, 7, 10, 12)]
        want = [8e-4 * max(expected(min(t, total)), 0.0) for t in (0, 3, 5, 7, 10, 12)]
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-9)
    assert quality.learning_rate(2e-4, None, None) == 2e-4
    assert quality.gan_options("g8+decay")["lr_decay"] == "linear"
    with pytest.raises(ValueError, match="Received: total_steps=None"):
        quality.learning_rate(2e-4, "linear", None)
    with pytest.raises(ValueError, match="Received: lr_decay='step'"):
        quality.learning_rate(2e-4, "step", 10)


@tensorflow_only
def test_decay_composes_with_ema_and_the_checkpoints(quality):
    import tensorflow as tf

    options = quality.gan_options("nonorm_mbstd+g8+ema+decay")
    with pytest.raises(ValueError, match="total_steps"):
        quality.keras_gen_dcgan(options, seed=0, shape=(16, 16, 1), latent_dim=4)
    gan = quality.keras_gen_dcgan(options, seed=0, shape=(16, 16, 1), latent_dim=4,
                                  total_steps=4)
    seen = []
    keep = quality._Checkpoints(gan, 2, [2, 4], lambda g, step: seen.append(step) or {})
    x = tf.data.Dataset.from_tensor_slices(
        np.random.default_rng(0).uniform(-1, 1, (16, 16, 16, 1)).astype("float32")).batch(8).repeat()
    gan.fit(x, epochs=2, steps_per_epoch=2, verbose=0, shuffle=False, callbacks=[keep])
    assert seen == [2, 4]
    for optimizer, lr in ((gan.g_optimizer, 8e-4), (gan.d_optimizer, 2e-4)):
        assert int(optimizer.iterations) == 4
        # halfway through, the learning rate is half; at the end, 0
        assert float(optimizer.learning_rate) == pytest.approx(0.0, abs=1e-12)
        assert float(optimizer._learning_rate(2)) == pytest.approx(lr / 2)
    assert gan.g_optimizer.use_ema
    # fit ends with the averaged weights in the generator, not the last raw ones
    assert not all(np.array_equal(a, b) for a, b in
                   zip(gan.generator.get_weights(), keep.raw_weights))


def test_default_options_are_the_recipes_grey_defaults(quality):
    """What the digits comparison trains as keras-gen's default is what `dcgan_celeba.py --dataset digits` trains."""
    from tests.recipes.test_vae_digits import load_recipe

    options = quality.gan_options(quality.DEFAULT_GAN_OPTIONS)
    recipe = load_recipe("dcgan_celeba")
    args = recipe.parse_args(["--dataset", "digits"])
    assert options["normalization"] is None and args.d_normalization == "none"
    assert options["minibatch_std"] is True and args.minibatch_std is True
    assert options["d_lr"] == pytest.approx(args.d_learning_rate) == pytest.approx(2e-4)
    assert options["g_lr"] == pytest.approx(args.g_learning_rate) == pytest.approx(8e-4)
    assert options["ema"] == pytest.approx(args.ema) == pytest.approx(0.99)
    assert list(options["d_filters"]) == recipe.discriminator_filters(args, quality.SHAPE) == [128, 256]
    assert options["g_upsampling"] is None and args.upsampling == "transpose"
    assert (args.batch_size, args.beta_1) == (quality.BATCH_SIZE, 0.5) == (64, 0.5)
    assert options["augment"] == ("ada", "translation,cutout")
    assert (args.augment, args.augment_policy) == ("ada", "translation,cutout")
    assert options["lecam"] == pytest.approx(args.lecam) == pytest.approx(0.1)
    assert (args.objective, args.r1_gamma, args.spectral_norm) == ("standard", 0.0, False)
    assert options["latent_dim"] == args.latent_dim == 40
    assert options["standing"] is True  # the recipe saves the average with standing statistics
    # grey images keep one spread for the whole batch
    assert options["minibatch_std_group"] is None and args.minibatch_std_group == 0
    changed = {k for k in options if options[k] != quality.PAPER[k]}
    assert changed == {"normalization", "minibatch_std", "g_lr", "ema", "d_filters", "augment",
                       "lecam", "standing", "latent_dim"}


def test_mbstd4_groups_the_discriminators_spread(quality):
    gan = quality.keras_gen_dcgan(quality.gan_options("nonorm_mbstd+mbstd4"), seed=0,
                                  shape=(16, 16, 3), latent_dim=4)
    assert gan.discriminator.get_layer("minibatch_std").group_size == 4
    plain = quality.keras_gen_dcgan(quality.gan_options("nonorm_mbstd"), seed=0, shape=(16, 16, 3),
                                    latent_dim=4)
    assert plain.discriminator.get_layer("minibatch_std").group_size is None


@tensorflow_only
def test_checkpoints_score_the_average_with_standing_statistics(quality):
    """With `standing`, each checkpoint scores the EMA weights with their own BN statistics; training goes on from G's own."""
    import tensorflow as tf

    gan = quality.keras_gen_dcgan(quality.gan_options("nonorm_mbstd+g8+ema+standing"), seed=0,
                                  shape=(16, 16, 1), latent_dim=4)
    seen = []

    def score(generator, step):
        held = [w.copy() for w in generator.get_weights()]
        gan.standing_statistics()  # again: the same statistics for the same weights
        for a, b in zip(held, generator.get_weights()):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
        seen.append(held)
        return {}

    keep = quality._Checkpoints(gan, 2, [2], score, standing=True)
    before, after = [], []

    def weights_into(out):
        return keras.callbacks.LambdaCallback(
            on_epoch_end=lambda epoch, logs: out.append(gan.generator.get_weights()))

    x = tf.data.Dataset.from_tensor_slices(
        np.random.default_rng(0).uniform(-1, 1, (16, 16, 16, 1)).astype("float32")).batch(8).repeat()
    gan.fit(x, epochs=2, steps_per_epoch=2, verbose=0, shuffle=False,
            callbacks=[weights_into(before), keep, weights_into(after)])
    assert len(seen) == 1
    assert any("moving_mean" in v.path for v in gan.generator.non_trainable_variables)
    # after scoring, G holds its own weights and statistics again (what the next step trains)
    for a, b in zip(before[0], after[0]):
        np.testing.assert_array_equal(a, b)
    # what was scored: other weights (the average) and other statistics (re-estimated)
    names = [v.path for v in gan.generator.weights]
    differs = {name for name, a, b in zip(names, seen[0], before[0]) if not np.allclose(a, b)}
    assert any("moving_mean" in name for name in differs)
    assert any("kernel" in name for name in differs)
