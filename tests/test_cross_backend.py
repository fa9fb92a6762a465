"""A .keras file saved under this backend loads and predicts under the others."""

import keras
import numpy as np

import keras_gen
from tests import helpers
from tests.models.test_gan import tiny_gan

LOAD_AND_PREDICT = """
import json, numpy as np, keras, keras_gen
cases = {cases!r}
out = {{}}
for kind, (path, inputs) in cases.items():
    model = keras.saving.load_model(path)
    opt = getattr(model, "g_optimizer", None) or model.optimizer
    out[kind] = {{
        "type": type(model).__name__,
        "predict": model.predict(np.asarray(inputs, "float32"), verbose=0).tolist(),
        "iterations": int(keras.ops.convert_to_numpy(opt.iterations)),
    }}
print(json.dumps(out))
"""


def test_saved_models_load_under_every_other_backend(images, tmp_path):
    x = images[:4]
    z = np.random.default_rng(0).normal(size=(4, 3)).astype("float32")
    ae = keras_gen.AutoEncoder(helpers.tiny_encoder(), helpers.tiny_decoder())
    vae = keras_gen.VAE(helpers.tiny_encoder(variational=True), helpers.tiny_decoder(), kl_weight=0.1, seed=0)
    gan = tiny_gan(d_steps=2)
    ae.compile(optimizer="adam")
    vae.compile(optimizer="adam")
    gan.compile(d_optimizer=keras.optimizers.Adam(1e-3), g_optimizer=keras.optimizers.Adam(1e-3))
    cases, expected = {}, {}
    for kind, model, inputs, train in (
        ("AutoEncoder", ae, x, images),
        ("VAE", vae, x, images),
        ("GAN", gan, z, np.tanh(images[..., :1][:, :4, :4])),
    ):
        model.fit(train, epochs=1, batch_size=32, verbose=0)
        path = str(tmp_path / f"{kind}.keras")
        model.save(path)
        cases[kind] = (path, inputs.tolist())
        expected[kind] = model.predict(inputs, verbose=0)
    here = keras.backend.backend()
    for other in helpers.BACKENDS:
        if other == here:
            continue
        result = helpers.run_in_backend(other, LOAD_AND_PREDICT.format(cases=cases))
        for kind in cases:
            assert result[kind]["type"] == kind
            assert result[kind]["iterations"] == 2
            np.testing.assert_allclose(
                np.asarray(result[kind]["predict"]), expected[kind], rtol=1e-4, atol=1e-5,
                err_msg=f"{kind} saved under {here}, loaded under {other}",
            )
