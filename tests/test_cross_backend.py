"""A .keras file saved under this backend loads, predicts and trains under every backend.

Run under each of the three backends, the test covers the nine (save backend,
load backend) pairs: it saves here, loads and trains here, and loads and
trains in a child process under each of the two other backends.
"""

import json

import keras
import numpy as np

import keras_gen
from tests import helpers
from tests.models.test_gan import tiny_gan

LOAD_PREDICT_AND_FIT = """
import json, numpy as np, keras, keras_gen
cases = {cases!r}
out = {{}}
for kind, (path, inputs, train) in cases.items():
    model = keras.saving.load_model(path)
    opts = [getattr(model, n) for n in ("d_optimizer", "g_optimizer") if getattr(model, n, None)] or [model.optimizer]
    loaded_iterations = [int(keras.ops.convert_to_numpy(o.iterations)) for o in opts]
    predict = model.predict(np.asarray(inputs, "float32"), verbose=0).tolist()
    history = model.fit(np.load(train), epochs=1, batch_size=32, verbose=0).history
    out[kind] = {{
        "type": type(model).__name__,
        "predict": predict,
        "iterations": loaded_iterations,
        "iterations_after_fit": [int(keras.ops.convert_to_numpy(o.iterations)) for o in opts],
        "history": {{k: [float(v) for v in vs] for k, vs in history.items()}},
    }}
print(json.dumps(out))
"""


def _check_trained(kind, result, where):
    # Loaded with the saved optimizer state (one epoch of 2 batches: 2 steps,
    # 4 for the GAN's discriminator with d_steps=2), then one more epoch
    # doubles every count.
    assert result["type"] == kind, where
    assert result["iterations"] == ([4, 2] if kind == "GAN" else [2]), where
    assert result["iterations_after_fit"] == [2 * n for n in result["iterations"]], where
    assert result["history"] and all(
        np.all(np.isfinite(v)) for v in result["history"].values()
    ), (where, result["history"])


def test_saved_models_load_and_train_under_every_backend(images, tmp_path):
    x = images[:4]
    z = np.random.default_rng(0).normal(size=(4, 3)).astype("float32")
    ae = keras_gen.AutoEncoder(helpers.tiny_encoder(), helpers.tiny_decoder())
    vae = keras_gen.VAE(helpers.tiny_encoder(variational=True), helpers.tiny_decoder(), kl_weight=0.1, seed=0)
    gan = tiny_gan(d_steps=2)
    ae.compile(optimizer="adam")
    vae.compile(optimizer="adam")
    # Two optimizer classes: each is stored backend-neutral.
    gan.compile(d_optimizer=keras.optimizers.Adam(1e-3), g_optimizer=keras.optimizers.RMSprop(1e-3))
    cases, expected = {}, {}
    for kind, model, inputs, train in (
        ("AutoEncoder", ae, x, images),
        ("VAE", vae, x, images),
        ("GAN", gan, z, np.tanh(images[..., :1][:, :4, :4])),
    ):
        model.fit(train, epochs=1, batch_size=32, verbose=0)
        # No backend-specific class (keras.src.backend.torch.optimizers...)
        # in what the file records.
        assert "keras.src.backend" not in json.dumps(model.get_compile_config())
        path = str(tmp_path / f"{kind}.keras")
        model.save(path)
        train_path = str(tmp_path / f"{kind}_train.npy")
        np.save(train_path, np.asarray(train, "float32"))
        cases[kind] = (path, inputs.tolist(), train_path)
        expected[kind] = model.predict(inputs, verbose=0)
    here = keras.backend.backend()
    for other in helpers.BACKENDS:
        if other == here:
            continue
        result = helpers.run_in_backend(other, LOAD_PREDICT_AND_FIT.format(cases=cases))
        for kind in cases:
            where = f"{kind} saved under {here}, loaded under {other}"
            _check_trained(kind, result[kind], where)
            np.testing.assert_allclose(
                np.asarray(result[kind]["predict"]), expected[kind], rtol=1e-4, atol=1e-5,
                err_msg=where,
            )
    # The same-backend pair, in this process.
    for kind, (path, inputs, train) in cases.items():
        model = keras.saving.load_model(path)
        opts = [getattr(model, n) for n in ("d_optimizer", "g_optimizer") if getattr(model, n, None)]
        opts = opts or [model.optimizer]
        before = [int(keras.ops.convert_to_numpy(o.iterations)) for o in opts]
        history = model.fit(np.load(train), epochs=1, batch_size=32, verbose=0).history
        _check_trained(kind, {
            "type": type(model).__name__,
            "iterations": before,
            "iterations_after_fit": [int(keras.ops.convert_to_numpy(o.iterations)) for o in opts],
            "history": history,
        }, f"{kind} saved and loaded under {here}")
