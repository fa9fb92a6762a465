"""A .keras file saved under this backend loads and predicts under the others."""

import json

import keras
import numpy as np
import pytest

import keras_gen
from tests import helpers

LOAD_AND_PREDICT = """
import json, sys, numpy as np, keras, keras_gen
paths, x = {paths!r}, np.asarray({x!r}, dtype="float32")
out = {{}}
for kind, path in paths.items():
    model = keras.saving.load_model(path)
    out[kind] = {{
        "type": type(model).__name__,
        "reconstruct": model.reconstruct(x).tolist(),
        "iterations": int(keras.ops.convert_to_numpy(model.optimizer.iterations)),
    }}
print(json.dumps(out))
"""


def test_saved_models_load_under_every_other_backend(images, tmp_path):
    x = images[:4]
    ae = keras_gen.AutoEncoder(helpers.tiny_encoder(), helpers.tiny_decoder())
    vae = keras_gen.VAE(helpers.tiny_encoder(variational=True), helpers.tiny_decoder(), kl_weight=0.1, seed=0)
    paths, expected = {}, {}
    for kind, model in (("ae", ae), ("vae", vae)):
        model.compile(optimizer="adam")
        model.fit(images, epochs=1, batch_size=32, verbose=0)
        paths[kind] = str(tmp_path / f"{kind}.keras")
        model.save(paths[kind])
        expected[kind] = model.reconstruct(x)
    here = keras.backend.backend()
    for other in helpers.BACKENDS:
        if other == here:
            continue
        result = helpers.run_in_backend(other, LOAD_AND_PREDICT.format(paths=paths, x=x.tolist()))
        for kind in paths:
            assert result[kind]["type"] == {"ae": "AutoEncoder", "vae": "VAE"}[kind]
            assert result[kind]["iterations"] == 2
            np.testing.assert_allclose(
                np.asarray(result[kind]["reconstruct"]), expected[kind], rtol=1e-4, atol=1e-5,
                err_msg=f"{kind} saved under {here}, loaded under {other}",
            )
