"""keras_gen.tuning: searches with keras-tuner on the running backend.

Tiny budgets: 8x8 digits, one-hidden-layer dense networks, 1-2 epochs, 2-3
trials per search, few distinct weight shapes (JAX compiles each new one).
"""

import doctest
import shutil
import subprocess
import sys
import warnings

import keras
import keras_tuner
import numpy as np
import pytest
from keras_tuner.engine.hyperparameters import Boolean
from keras_tuner.engine.hyperparameters import Choice
from keras_tuner.engine.hyperparameters import Fixed
from keras_tuner.engine.hyperparameters import Float
from keras_tuner.engine.hyperparameters import Int

import keras_gen
from keras_gen import tuning
from tests import helpers

SMALL = {"kind": "dense", "encoder_kwargs": {"hidden_units": (16,)},
         "decoder_kwargs": {"hidden_units": (16,)}}
LATENT_CHOICES = [2, 3]
KL_RANGE = (1e-3, 1.0)
LATENT_DIM = Choice("latent_dim", LATENT_CHOICES)
KL_WEIGHT = Float("kl_weight", *KL_RANGE, sampling="log")


@pytest.fixture(scope="module")
def digits():
    x = keras_gen.data.load_digits("train", image_size=8, with_labels=False)[:128]
    x_val = keras_gen.data.load_digits("test", image_size=8, with_labels=False)[:64]
    return x, x_val


class RecordingVAEHyperModel(tuning.VAEHyperModel):
    """Records each trial's hyperparameters; can stop the search like Ctrl-C."""

    def __init__(self, *args, interrupt=False, **kwargs):
        super().__init__(*args, **kwargs)
        self.fits, self.interrupt = [], interrupt

    def fit(self, hp, model, *args, **kwargs):
        self.fits.append(dict(hp.values))
        if self.interrupt:
            raise KeyboardInterrupt
        return super().fit(hp, model, *args, **kwargs)


def vae_hypermodel(**kwargs):
    config = dict(SMALL, latent_dim=LATENT_DIM, kl_weight=KL_WEIGHT, seed=0)
    config.update(kwargs)
    return RecordingVAEHyperModel((8, 8, 1), **config)


def random_search(hypermodel, directory, max_trials=2):
    return keras_tuner.RandomSearch(
        hypermodel, objective=tuning.objective("val_neg_elbo", hypermodel),
        max_trials=max_trials, seed=1, directory=str(directory), project_name="vae",
    )


def search(tuner, digits, **kwargs):
    x, x_val = digits
    kwargs = dict(dict(validation_data=(x_val,), epochs=1, batch_size=64, verbose=0), **kwargs)
    tuner.search(x, **kwargs)


@pytest.fixture(scope="module")
def vae_search(digits, tmp_path_factory):
    """One finished 2-trial RandomSearch of width and lambda by val_neg_elbo."""
    keras.utils.set_random_seed(0)
    directory = tmp_path_factory.mktemp("vae_search")
    hypermodel = vae_hypermodel()
    tuner = random_search(hypermodel, directory)
    search(tuner, digits)
    return tuner, hypermodel, directory


def completed(tuner):
    return {t.trial_id: t for t in tuner.oracle.trials.values() if t.status == "COMPLETED"}


# ------------------------------------------------------------------ searches
def test_random_search_ranks_by_neg_elbo_within_ranges(vae_search, digits, tmp_path):
    tuner, hypermodel, _ = vae_search
    assert str(tuner.oracle.objective) == str(keras_tuner.Objective("val_neg_elbo", "min"))
    trials = completed(tuner)
    assert len(trials) == 2 and len(hypermodel.fits) == 2
    for trial in trials.values():
        assert trial.score == pytest.approx(trial.metrics.get_last_value("val_neg_elbo"))
        values = trial.hyperparameters.values
        assert values["latent_dim"] in LATENT_CHOICES
        assert KL_RANGE[0] <= values["kl_weight"] <= KL_RANGE[1]
        assert values["learning_rate"] == 1e-3
    best_trial = tuner.oracle.get_best_trials(1)[0]
    assert best_trial.score == min(t.score for t in trials.values())
    best_hp = tuner.get_best_hyperparameters()[0]

    # The best model is rebuilt from its hyperparameters and its checkpoint.
    best = tuner.get_best_models(1)[0]
    assert isinstance(best, keras_gen.VAE)
    assert best.latent_dim == best_hp["latent_dim"]
    assert best.kl_weight == pytest.approx(best_hp["kl_weight"])
    x_val = digits[1]
    logs = best.evaluate(x_val, batch_size=64, verbose=0, return_dict=True)
    # A single-sample ELBO estimate: close to the score, not equal. val_loss
    # (about 0.7 here) would be far away.
    assert logs["neg_elbo"] == pytest.approx(best_trial.score, rel=0.1)
    helpers.assert_round_trip(best, str(tmp_path / "best.keras"), x_val[:4],
                              lambda m, x: m.reconstruct(x))


def test_rerun_resumes_and_retries_an_interrupted_trial(vae_search, digits, tmp_path):
    _, _, directory = vae_search
    directory = shutil.copytree(directory, tmp_path / "copy")
    finished = {i: t.score for i, t in completed(vae_search[0]).items()}

    # Same search, same directory: nothing left to run.
    again = vae_hypermodel()
    tuner = random_search(again, directory)
    search(tuner, digits)
    assert again.fits == []
    assert {i: t.score for i, t in completed(tuner).items()} == finished

    # A larger budget, interrupted at the start of the new trial...
    interrupted = vae_hypermodel(interrupt=True)
    with pytest.raises(KeyboardInterrupt):
        search(random_search(interrupted, directory, max_trials=3), digits)
    assert len(interrupted.fits) == 1

    # ...is resumed: only that trial runs, with the same hyperparameters.
    resumed = vae_hypermodel()
    tuner = random_search(resumed, directory, max_trials=3)
    search(tuner, digits)
    assert resumed.fits == interrupted.fits
    trials = completed(tuner)
    assert len(trials) == 3
    assert {i: trials[i].score for i in finished} == finished


def test_resume_with_a_different_space_is_refused(vae_search, digits, tmp_path):
    directory = shutil.copytree(vae_search[2], tmp_path / "copy")
    changed = vae_hypermodel(kl_weight=Float("kl_weight", 1e-2, 1.0, sampling="log"))
    tuner = random_search(changed, directory, max_trials=3)
    with pytest.raises(keras_tuner.errors.FatalValueError,
                       match=r"declared kl_weight as Float\(min_value=0.001.*declares Float\(min_value=0.01"):
        search(tuner, digits)
    assert changed.fits == []


def test_bayesian_autoencoder_user_metric(digits, tmp_path):
    hypermodel = tuning.AutoEncoderHyperModel(
        (8, 8, 1), latent_dim=2, learning_rate=Float("learning_rate", 1e-3, 1e-2, sampling="log"),
        metrics=["mae"], **SMALL)
    objective = tuning.objective("val_mae", hypermodel)
    assert (objective.name, objective.direction) == ("val_mae", "min")
    tuner = keras_tuner.BayesianOptimization(
        hypermodel, objective=objective, max_trials=2, seed=1,
        directory=str(tmp_path), project_name="ae")
    search(tuner, digits)
    trials = completed(tuner)
    assert len(trials) == 2
    for trial in trials.values():
        assert trial.score == pytest.approx(trial.metrics.get_last_value("val_mae"))
        assert trial.hyperparameters["latent_dim"] == 2
        assert 1e-3 <= trial.hyperparameters["learning_rate"] <= 1e-2
    best = tuner.get_best_models(1)[0]
    assert isinstance(best, keras_gen.AutoEncoder) and best.latent_dim == 2


def test_hyperband_with_a_builder(digits, tmp_path):
    def builder(hp, latent_dim):
        hp.Fixed("hidden", 32)  # a builder may declare its own hyperparameters
        return (helpers.tiny_encoder((8, 8, 1), latent_dim, variational=True),
                helpers.tiny_decoder(latent_dim, (8, 8, 1)))

    hypermodel = tuning.VAEHyperModel(
        builder=builder, latent_dim=3, kl_weight=0.01,
        learning_rate=Choice("learning_rate", [1e-3, 3e-3]), seed=0)
    tuner = keras_tuner.Hyperband(
        hypermodel, objective=tuning.objective("val_reconstruction_loss", hypermodel),
        max_epochs=2, factor=3, seed=1, directory=str(tmp_path), project_name="hb")
    search(tuner, digits)
    trials = completed(tuner)
    assert trials
    for trial in trials.values():
        values = trial.hyperparameters.values
        assert values["hidden"] == 32 and values["tuner/epochs"] == 2
        assert values["learning_rate"] in (1e-3, 3e-3)
        assert trial.score == pytest.approx(trial.metrics.get_last_value("val_reconstruction_loss"))
    assert "| hidden |" in tuning.trial_table(tuner)


@pytest.mark.parametrize("cls", [tuning.VAEHyperModel, tuning.AutoEncoderHyperModel])
def test_input_shape_that_is_not_the_builders_is_refused(digits, tmp_path, cls):
    """input_shape beside a builder was ignored: the search trained on other images silently."""
    variational = cls is tuning.VAEHyperModel

    def builder(hp, latent_dim):
        return (helpers.tiny_encoder((8, 8, 1), latent_dim, variational=variational),
                helpers.tiny_decoder(latent_dim, (8, 8, 1)))

    with pytest.raises(keras_tuner.errors.FatalValueError,
                       match=r"input_shape=\(16, 16, 1\) but the builder's encoder takes images of "
                             r"shape \(8, 8, 1\)"):
        tuner = keras_tuner.RandomSearch(
            cls((16, 16, 1), builder=builder, latent_dim=3), objective="val_loss", max_trials=1,
            seed=1, directory=str(tmp_path), project_name="shape")
        search(tuner, digits)
    # The builder's own shape, given or not, searches.
    assert cls((8, 8, 1), builder=builder, latent_dim=3).build(keras_tuner.HyperParameters()).built


class SubclassedEncoder(keras.Model):
    """A builder's own encoder that declares no inputs (unbuilt until called)."""

    def __init__(self, latent_dim, variational):
        super().__init__()
        self.variational = variational
        self.flatten = keras.layers.Flatten()
        self.mean = keras.layers.Dense(latent_dim)
        self.log_sigma = keras.layers.Dense(latent_dim) if variational else None

    def call(self, x):
        h = self.flatten(x)
        return [self.mean(h), self.log_sigma(h)] if self.variational else self.mean(h)


class SubclassedDecoder(keras.Model):
    def __init__(self, image_shape):
        super().__init__()
        self.dense = keras.layers.Dense(int(np.prod(image_shape)), activation="sigmoid")
        self.reshape = keras.layers.Reshape(image_shape)

    def call(self, z):
        return self.reshape(self.dense(z))


@pytest.mark.parametrize("input_shape", [(8, 8, 1), None], ids=["input_shape", "no_input_shape"])
@pytest.mark.parametrize("cls", [tuning.VAEHyperModel, tuning.AutoEncoderHyperModel])
def test_a_builders_subclassed_networks_search_and_reload(digits, tmp_path, cls, input_shape):
    """Every trial failed with "Unknown variable": the optimizer was built for
    the variables of a model whose networks had none yet."""
    variational = cls is tuning.VAEHyperModel

    def builder(hp, latent_dim):
        return SubclassedEncoder(latent_dim, variational), SubclassedDecoder((8, 8, 1))

    def make():
        if variational:
            return cls(input_shape, builder=builder, latent_dim=Choice("latent_dim", [2, 3]),
                       kl_weight=0.1, reconstruction="bce")
        return cls(input_shape, builder=builder, latent_dim=2,
                   learning_rate=Choice("learning_rate", [1e-3, 3e-3]))

    def tuner_of(hypermodel):
        return keras_tuner.RandomSearch(
            hypermodel, objective=tuning.objective("val_neg_elbo" if variational
                                                   else "val_loss", hypermodel),
            max_trials=2, seed=1, directory=str(tmp_path), project_name="subclassed")

    keras.utils.set_random_seed(0)
    tuner = tuner_of(make())
    search(tuner, digits, batch_size=32)
    assert [t.status for t in tuner.oracle.trials.values()] == ["COMPLETED"] * 2
    best = tuner.get_best_models(1)[0]
    best_trial = tuner.oracle.get_best_trials(1)[0]
    assert best.built and best.latent_dim == best_trial.hyperparameters["latent_dim"]
    assert int(keras.ops.convert_to_numpy(best.optimizer.iterations)) == 4  # 128 images / 32
    x, x_val = digits
    if not variational:  # deterministic: the best epoch's weights give its score
        assert best.evaluate(x_val, batch_size=32, verbose=0) == pytest.approx(
            best_trial.score, rel=1e-4)
    # A new tuner on the search's folder (a new process) reloads the same weights.
    with warnings.catch_warnings():
        # Without input_shape the model is built only as the weights load
        # (keras-tuner's build_from_config): Keras skips the optimizer's state.
        warnings.filterwarnings("ignore", "Skipping variable loading for optimizer")
        reloaded = tuner_of(make()).get_best_models(1)[0]
    for saved, restored in zip(best.weights, reloaded.weights):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(restored),
                                   keras.ops.convert_to_numpy(saved))
    if input_shape is not None:  # built before loading: the optimizer's state too
        assert int(keras.ops.convert_to_numpy(reloaded.optimizer.iterations)) == 4
    reloaded.fit(x, batch_size=32, epochs=1, verbose=0)  # and it trains further


def test_trial_table(vae_search):
    table = tuning.trial_table(vae_search[0], metrics=("val_kl_loss",))
    lines = table.splitlines()
    assert lines[0] == ("| trial | latent_dim | kl_weight | learning_rate | val_neg_elbo "
                        "| val_kl_loss | status |")
    assert len(lines) == 4 and all(line.endswith("| COMPLETED |") for line in lines[2:])
    scores = [float(line.split("|")[5]) for line in lines[2:]]
    assert scores == sorted(scores)  # best first
    # one name as a string is that name (it made one column per character)
    assert tuning.trial_table(vae_search[0], metrics="val_kl_loss") == table
    with pytest.raises(TypeError, match=r"metrics must be a metric name or a sequence of names"):
        tuning.trial_table(vae_search[0], metrics=[3])
    with pytest.raises(TypeError, match=r"tuner must be a keras_tuner tuner. Received: tuner=None"):
        tuning.trial_table(None)


# ------------------------------------------------------------ search spaces
def declared(hypermodel):
    """The search space and values ``build`` declares on a fresh container."""
    hp = keras_tuner.HyperParameters()
    hypermodel.build(hp)
    return hp.get_config()


def test_build_declares_the_given_hyperparameters_and_fixes_plain_values():
    expected = keras_tuner.HyperParameters()
    expected.Choice("latent_dim", [2, 3])
    expected.Float("kl_weight", 1e-3, 1.0, sampling="log")
    expected.Fixed("learning_rate", 2e-3)
    hypermodel = tuning.VAEHyperModel((8, 8, 1), latent_dim=LATENT_DIM, kl_weight=KL_WEIGHT,
                                      learning_rate=2e-3, **SMALL)
    assert declared(hypermodel) == expected.get_config()
    assert hypermodel.latent_dim is LATENT_DIM and hypermodel.learning_rate == 2e-3


def test_default_search_spaces():
    expected = keras_tuner.HyperParameters()
    expected.Int("latent_dim", 2, 32, sampling="log")
    expected.Float("kl_weight", 1e-4, 1.0, sampling="log")
    expected.Fixed("learning_rate", 1e-3)
    assert declared(tuning.VAEHyperModel((8, 8, 1), **SMALL)) == expected.get_config()
    expected = keras_tuner.HyperParameters()
    expected.Int("latent_dim", 2, 32, sampling="log")
    expected.Fixed("learning_rate", 1e-3)
    assert declared(tuning.AutoEncoderHyperModel((8, 8, 1), **SMALL)) == expected.get_config()


def test_numpy_scalars_are_accepted_and_normalised():
    hypermodel = tuning.VAEHyperModel(
        (np.int64(8), 8, 1), latent_dim=np.int64(3), kl_weight=np.float32(0.5),
        learning_rate=np.float64(1e-3), seed=np.int64(0), **SMALL)
    assert (hypermodel.latent_dim, hypermodel.kl_weight, hypermodel.seed) == (3, 0.5, 0)
    assert type(hypermodel.latent_dim) is int and type(hypermodel.kl_weight) is float
    hp = keras_tuner.HyperParameters()
    model = hypermodel.build(hp)
    assert hp.values == {"latent_dim": 3, "kl_weight": 0.5, "learning_rate": 1e-3}
    assert model.latent_dim == 3 and model.kl_weight == pytest.approx(0.5)


def conditional_latent_dim():
    hp = keras_tuner.HyperParameters()
    hp.Choice("kind", ["dense", "conv"])
    with hp.conditional_scope("kind", ["dense"]):
        hp.Int("latent_dim", 2, 8)
    return hp.space[-1]


def test_old_spelling_still_works_with_a_deprecation_warning():
    with pytest.warns(DeprecationWarning, match=r"latent_dim=\(2, 32\).*deprecated"):
        hypermodel = tuning.VAEHyperModel(
            (8, 8, 1), latent_dim=(2, 32), kl_weight=[0.1, 1.0], learning_rate=(1e-4, 1e-2)
        )
    expected = {
        "latent_dim": Int("latent_dim", 2, 32, sampling="log"),
        "kl_weight": Choice("kl_weight", [0.1, 1.0]),
        "learning_rate": Float("learning_rate", 1e-4, 1e-2, sampling="log"),
    }
    for name, want in expected.items():
        got = hypermodel.spaces[name]
        assert type(got) is type(want), name
        assert got.get_config() == want.get_config(), name


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"latent_dim": (2, 32, 64)}, TypeError,
         r"latent_dim takes one value or a keras-tuner hyperparameter.*Received: latent_dim=\(2, 32, 64\)"),
        ({"kl_weight": []}, TypeError, r"kl_weight takes one value or a keras-tuner hyperparameter"),
        ({"latent_dim": (8, 2)}, ValueError, r"latent_dim range must have low < high"),
        ({"latent_dim": [4, 0]}, ValueError, r"latent_dim must be a positive integer. Received: latent_dim=0"),
        ({"latent_dim": 0}, ValueError, r"latent_dim must be a positive integer. Received: latent_dim=0$"),
        ({"latent_dim": 2.5}, TypeError, r"latent_dim must be a positive integer. Received: latent_dim=2.5"),
        ({"latent_dim": "8"}, TypeError, r"latent_dim must be a positive integer. Received: latent_dim='8'"),
        ({"latent_dim": Int("latent_dim", 0, 8)}, ValueError,
         r"latent_dim must be a positive integer. Received: latent_dim=0 \(a value of Int\(name: 'latent_dim'"),
        ({"latent_dim": Float("latent_dim", 2, 8)}, TypeError,
         r"latent_dim must be a positive integer. Received: latent_dim=2.0"),
        ({"latent_dim": Choice("latent_dim", [4, -2])}, ValueError, r"Received: latent_dim=-2 \(a value of Choice"),
        ({"latent_dim": Boolean("latent_dim")}, TypeError, r"Received: latent_dim=True"),
        ({"latent_dim": Int("width", 2, 8)}, ValueError,
         r"latent_dim must be an unconditional hyperparameter named 'latent_dim'. Received: latent_dim=Int\(name: 'width'"),
        ({"latent_dim": conditional_latent_dim()}, ValueError,
         r"latent_dim must be an unconditional hyperparameter"),
        ({"kl_weight": -1.0}, ValueError, r"kl_weight must be a finite number >= 0. Received: kl_weight=-1.0"),
        ({"kl_weight": Float("kl_weight", -1.0, 1.0)}, ValueError,
         r"kl_weight must be a finite number >= 0. Received: kl_weight=-1.0 \(a value of Float"),
        ({"kl_weight": Fixed("kl_weight", float("nan"))}, ValueError, r"kl_weight must be a finite number"),
        ({"learning_rate": 0.0}, ValueError, r"learning_rate must be a finite number > 0. Received: learning_rate=0.0"),
        ({"learning_rate": Choice("learning_rate", [1e-3, 0.0])}, ValueError,
         r"Received: learning_rate=0.0 \(a value of Choice"),
        ({"seed": "0"}, TypeError, r"seed must be an int or None. Received: seed='0'"),
        ({"reconstruction": "l1"}, ValueError, r"reconstruction must be one of \['mse', 'bce'\]"),
        ({"kind": "mlp"}, ValueError, r"kind must be one of \['conv', 'dense'\]. Received: kind='mlp'"),
    ],
)
def test_bad_search_space(kwargs, error, match):
    with pytest.raises(error, match=match):
        tuning.VAEHyperModel((8, 8, 1), **kwargs)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"input_shape": None}, TypeError, r"input_shape"),
        ({"input_shape": (8, 8)}, ValueError, r"input_shape must be a tuple \(height, width, channels\)"),
        ({"input_shape": (8, 8, 5)}, ValueError, r"with 1 to 4 channels.*Received: input_shape=\(8, 8, 5\)"),
        ({"latent_dim": "8"}, TypeError, r"latent_dim must be a positive integer.*Received: latent_dim='8'"),
        ({"builder": "dense"}, TypeError, r"builder must be a callable.*Received: builder='dense'"),
        ({"metrics": "mae"}, TypeError, r"metrics must be a list"),
        ({"metrics": [3]}, TypeError, r"metrics must be a list"),
        ({"metrics": 3}, TypeError, r"metrics must be a list.*Received: metrics=3"),
        ({"encoder_kwargs": [("hidden_units", (16,))]}, TypeError, r"encoder_kwargs must be a dict or None"),
    ],
)
def test_bad_hypermodel_arguments(kwargs, error, match):
    config = dict({"input_shape": (8, 8, 1)}, **kwargs)
    with pytest.raises(error, match=match):
        tuning.AutoEncoderHyperModel(**config)


def test_zero_kl_weight_can_be_fixed_or_a_choice():
    fixed = tuning.VAEHyperModel((8, 8, 1), latent_dim=4, kl_weight=0.0, **SMALL)
    assert tuning.objective("val_loss", fixed).direction == "min"
    searched = tuning.VAEHyperModel((8, 8, 1), latent_dim=4, kl_weight=Choice("kl_weight", [0.0, 1.0]), **SMALL)
    with pytest.raises(ValueError, match=r"depends on lambda"):
        tuning.objective("val_loss", searched)


def test_objective_not_reported_is_refused():
    vae = tuning.VAEHyperModel((8, 8, 1), **SMALL)
    ae = tuning.AutoEncoderHyperModel((8, 8, 1), **SMALL)
    with pytest.raises(ValueError, match=r"'val_neg_elbo' is not reported by AutoEncoder \(reported: loss, val_loss\)"):
        tuning.objective("val_neg_elbo", ae)
    with pytest.raises(ValueError, match=r"'val_accuracy' is not reported by VAE \(reported: loss, reconstruction_loss"):
        tuning.objective("val_accuracy", vae)
    with pytest.raises(ValueError, match=r"Cannot tell whether 'elbo_gap' should be minimised or maximised"):
        tuning.objective("elbo_gap")
    # with a hypermodel, an unknown name is named as such (the advice was "pass direction=")
    with pytest.raises(ValueError, match=r"'val_bogus' is not reported by VAE"):
        tuning.objective("val_bogus", vae)
    with pytest.raises(ValueError, match=r"val_neg_elbo is a loss and can only be minimised"):
        tuning.objective("val_neg_elbo", direction="max")
    with pytest.raises(TypeError, match=r"hypermodel must be a keras_gen.tuning"):
        tuning.objective("val_loss", hypermodel="vae")


def test_lambda_dependent_loss_is_refused_when_lambda_is_searched():
    searched = tuning.VAEHyperModel((8, 8, 1), kl_weight=KL_WEIGHT, latent_dim=4, **SMALL)
    with pytest.raises(ValueError, match=r"'val_loss' is the VAE's total loss .* depends on lambda"):
        tuning.objective("val_loss", searched)
    fixed = tuning.VAEHyperModel((8, 8, 1), kl_weight=0.1, latent_dim=4, **SMALL)
    assert tuning.objective("val_loss", fixed).direction == "min"


def test_one_sided_objectives_warn():
    vae = tuning.VAEHyperModel((8, 8, 1), latent_dim=Int("latent_dim", 2, 8, sampling="log"),
                               kl_weight=KL_WEIGHT, **SMALL)
    with pytest.warns(UserWarning) as record:
        tuning.objective("val_reconstruction_loss", vae)
    messages = " ".join(str(w.message) for w in record)
    assert "favour the widest latent_dim (8)" in messages
    assert "favour the smallest kl_weight" in messages
    mse = tuning.VAEHyperModel((8, 8, 1), reconstruction="mse", **SMALL)
    with pytest.warns(UserWarning, match=r"Use reconstruction='bce'"):
        tuning.objective("val_neg_elbo", mse)


class _CountEpochs(keras.callbacks.Callback):
    epochs = 0  # class attribute: the tuner deep-copies callbacks

    def on_epoch_begin(self, epoch, logs=None):
        type(self).epochs += 1


@pytest.mark.parametrize(
    "objective, validation, match",
    [
        (keras_tuner.Objective("val_nope", "min"), True, r"'val_nope' is not reported by VAE"),
        ("val_loss", True, r"'val_loss' is the VAE's total loss"),
        (keras_tuner.Objective("val_neg_elbo", "min"), False,
         r"'val_neg_elbo' is not reported .* It is a validation metric: pass validation_data"),
    ],
)
def test_the_tuners_objective_is_checked_before_training(digits, tmp_path, objective, validation, match):
    hypermodel = vae_hypermodel()
    tuner = keras_tuner.RandomSearch(hypermodel, objective=objective, max_trials=2,
                                     directory=str(tmp_path), project_name="bad")
    _CountEpochs.epochs = 0
    kwargs = {} if validation else {"validation_data": None}
    with pytest.raises(keras_tuner.errors.FatalValueError, match=match):
        search(tuner, digits, callbacks=[_CountEpochs()], **kwargs)
    assert _CountEpochs.epochs == 0
    assert not completed(tuner)


@pytest.mark.parametrize(
    "change, fit_kwargs, match",
    [
        (lambda x, x_val: (np.where(np.arange(x.size).reshape(x.shape) == 5, np.nan, x), x_val), {},
         r"x must not contain NaN or infinite values"),
        (lambda x, x_val: ((x * 255).astype("uint8"), x_val), {}, r"floating-point images.*uint8"),
        (lambda x, x_val: (x, x_val), {"batch_size": 0}, r"batch_size"),
    ],
)
def test_bad_data_stops_the_search_at_the_first_trial(digits, tmp_path, change, fit_kwargs, match):
    """An error of the data alone is the same in every trial: the search stops with it, nothing
    is trained (keras-tuner failed trial after trial, then raised "Too many failed trials")."""
    hypermodel = vae_hypermodel()
    tuner = random_search(hypermodel, tmp_path, max_trials=3)
    x, x_val = change(*digits)
    _CountEpochs.epochs = 0
    kwargs = dict(dict(validation_data=(x_val,), epochs=1, batch_size=64, verbose=0,
                       callbacks=[_CountEpochs()]), **fit_kwargs)
    with pytest.raises(keras_tuner.errors.FatalValueError,
                       match=r"The search's data or fit arguments cannot train any trial: ") as info:
        tuner.search(x, **kwargs)
    assert info.match(match)
    assert _CountEpochs.epochs == 0 and len(hypermodel.fits) == 1
    assert not completed(tuner)


def test_data_that_only_some_trials_networks_refuse_fails_those_trials_alone(digits, tmp_path):
    """Images in [-1, 1] suit a linear decoder and not a sigmoid one: the sigmoid trial fails,
    the search goes on (a model-dependent check must not stop it)."""
    x, x_val = (d * 2.0 - 1.0 for d in digits)

    def builder(hp, latent_dim):
        encoder = helpers.tiny_encoder((8, 8, 1), latent_dim)
        inputs = keras.Input((latent_dim,))
        dense = keras.layers.Dense(64, activation=hp.Choice("out", ["linear", "sigmoid"]))(inputs)
        return encoder, keras.Model(inputs, keras.layers.Reshape((8, 8, 1))(dense))

    hypermodel = tuning.AutoEncoderHyperModel(builder=builder, latent_dim=2, reconstruction="mse")
    tuner = keras_tuner.GridSearch(hypermodel, objective="val_loss", seed=1,
                                   directory=str(tmp_path), project_name="grid")
    tuner.search(x, validation_data=(x_val,), epochs=1, batch_size=64, verbose=0)
    status = {t.hyperparameters.values["out"]: t.status for t in tuner.oracle.trials.values()}
    assert status == {"linear": "COMPLETED", "sigmoid": "FAILED"}


def test_only_keras_gen_tuning_imports_keras_tuner():
    # What makes the import check below hold on every backend: no other
    # module (backend-specific ones included) names keras_tuner in an import.
    import ast
    import pathlib

    root = pathlib.Path(keras_gen.__file__).parent
    importers = set()
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([alias.name for alias in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            if any(name.split(".")[0] == "keras_tuner" for name in names):
                importers.add(path.relative_to(root).as_posix())
    assert importers == {"tuning.py"}, importers


@pytest.mark.skipif(keras.backend.backend() != "jax",
                    reason="a fresh process per backend costs seconds; which modules import "
                           "keras_tuner does not depend on the backend (the static check above)")
def test_importing_keras_gen_does_not_import_keras_tuner():
    code = ("import sys, keras_gen; loaded = 'keras_tuner' in sys.modules; "
            "from keras_gen import tuning; "
            "print(loaded, 'keras_tuner' in sys.modules, keras_gen.tuning is tuning, "
            "'tuning' in keras_gen.__all__)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=300, check=True)
    assert result.stdout.split() == ["False", "True", "True", "True"]


@pytest.mark.skipif(keras.backend.backend() != "torch",
                    reason="the same code on every backend; keras_gen.tuning itself is searched "
                           "on every backend above, so one run (the cheapest) checks the text")
def test_the_example_in_docs_tuning_md_runs(tmp_path, monkeypatch):
    """The first Python block of docs/tuning.md: 1 trial, 1 epoch, 128 8x8 digits."""
    import pathlib
    text = (pathlib.Path(__file__).parents[1] / "docs" / "tuning.md").read_text()
    code = text.split("```python\n", 1)[1].split("```", 1)[0]
    budget = {"max_trials=10": "max_trials=1", "epochs=20": "epochs=1",
              "batch_size=64)": "batch_size=64, verbose=0)",
              "image_size=28": "image_size=8", "(28, 28, 1)": "(8, 8, 1)"}
    budget["with_labels=False)"] = "with_labels=False)[:128]"  # x_train and x_val
    for full, small in budget.items():
        assert full in code
        code = code.replace(full, small)
    monkeypatch.chdir(tmp_path)
    namespace = {}
    exec(compile(code, "docs/tuning.md", "exec"), namespace)
    best = keras.saving.load_model(tmp_path / "tune_vae_best.keras")
    assert isinstance(best, keras_gen.VAE)
    assert 2 <= best.latent_dim <= 32 and 1e-4 <= best.kl_weight <= 1.0
    assert (tmp_path / "outputs" / "tune_vae" / "search").is_dir()


def test_the_module_has_docstring_examples():
    # tests/test_doctests.py runs them (test_docstring_examples[keras_gen.tuning]).
    assert sum(len(t.examples) for t in doctest.DocTestFinder().find(tuning)) > 0


@pytest.mark.parametrize("cls", [tuning.VAEHyperModel, tuning.AutoEncoderHyperModel])
def test_data_parallel_devices_are_checked_when_the_hypermodel_is_made(cls):
    # This process sees one CPU device: two cannot be had.
    with pytest.raises(ValueError, match=r"data_parallel.*Received: data_parallel=2"):
        cls((8, 8, 1), latent_dim=2, data_parallel=2)
    with pytest.raises(ValueError, match="Received: data_parallel='all'"):
        cls((8, 8, 1), latent_dim=2, data_parallel="all")


@pytest.mark.skipif(keras.backend.backend() == "torch",
                    reason="one torch process is a one-replica engine (tests/test_distribute_torch.py)")
def test_data_parallel_on_one_device_searches(digits, tmp_path):
    x = digits[0][:64]
    hypermodel = tuning.VAEHyperModel(x.shape[1:], latent_dim=2, kl_weight=1e-2, kind="dense", data_parallel=1)
    tuner = keras_tuner.RandomSearch(hypermodel, objective=tuning.objective("val_neg_elbo", hypermodel),
                                     max_trials=1, seed=1, directory=str(tmp_path))
    tuner.search(x, validation_data=(x,), epochs=1, batch_size=32, verbose=0)
    assert tuner.oracle.get_best_trials(1)[0].score > 0


@pytest.mark.skipif(keras.backend.backend() != "torch", reason="checks torch's one-process engine")
def test_data_parallel_is_one_replica_in_one_torch_process():
    hypermodel = tuning.VAEHyperModel((8, 8, 1), latent_dim=2, data_parallel=True)
    with hypermodel._scope() as engine:
        assert engine.num_replicas == 1
