"""The networks train under the current backend and survive `.keras` saving."""

import keras
import numpy as np
import pytest

from keras_gen import networks
from tests.helpers import assert_loss_falls
from tests.helpers import assert_round_trip

SHAPE = (7, 5, 2)  # odd, non-square: exercises the decoder's cropping
LATENT_DIM = 2
KINDS = ["conv", "dense"]


def _images(n=32, seed=0):
    """Images in [0, 1] that lie near a 2-D subspace, so an AE can fit them."""
    rng = np.random.default_rng(seed)
    basis = rng.uniform(size=(LATENT_DIM, int(np.prod(SHAPE))))
    codes = rng.uniform(size=(n, LATENT_DIM))
    return (codes @ basis / LATENT_DIM).reshape(n, *SHAPE).astype("float32")


def _numpy(x):
    return keras.ops.convert_to_numpy(x)


@pytest.mark.parametrize("kind", KINDS)
def test_autoencoder_loss_falls(kind):
    x = _images()
    enc = networks.encoder(SHAPE, LATENT_DIM, kind=kind)
    dec = networks.decoder(LATENT_DIM, SHAPE, kind=kind)
    images = keras.Input(shape=SHAPE)
    model = keras.Model(images, dec(enc(images)), name="autoencoder")
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")

    history = model.fit(x, x, batch_size=8, epochs=5, shuffle=False, verbose=0)

    assert_loss_falls(history.history["loss"], factor=0.8)


def test_variational_heads_both_receive_gradients():
    x = _images()
    enc = networks.conv_encoder(
        SHAPE, LATENT_DIM, variational=True, batch_norm=True
    )
    dec = networks.conv_decoder(LATENT_DIM, SHAPE, batch_norm=True)
    images = keras.Input(shape=SHAPE)
    z_mean, z_log_sigma = enc(images)
    # Fixed "noise" keeps the check deterministic: z = mu + sigma * 0.5.
    z = z_mean + keras.ops.exp(z_log_sigma) * 0.5
    model = keras.Model(images, dec(z))
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
    log_sigma_kernel = enc.get_layer("z_log_sigma").kernel
    np.testing.assert_array_equal(_numpy(log_sigma_kernel), 0.0)

    history = model.fit(x, x, batch_size=8, epochs=2, shuffle=False, verbose=0)

    assert history.history["loss"][-1] < history.history["loss"][0]
    assert np.abs(_numpy(log_sigma_kernel)).max() > 0.0


def _perturb_weights(model, seed):
    """Give every weight (BatchNorm statistics included) random values.

    Small values centred on zero keep the outputs away from the sigmoid's
    saturation, so that a wrongly loaded weight would change them.
    """
    rng = np.random.default_rng(seed)
    for variable in model.weights:
        low, high = (0.5, 1.5) if "variance" in variable.path else (-0.1, 0.1)
        value = rng.uniform(low, high, variable.shape).astype("float32")
        variable.assign(value)


def _all_outputs(model, x):
    """Every output of `model` on `x`, flattened into one NumPy vector."""
    outputs = model(x)
    if not isinstance(outputs, (list, tuple)):
        outputs = [outputs]
    return np.concatenate([_numpy(o).ravel() for o in outputs])


@pytest.mark.parametrize("kind", KINDS)
def test_keras_file_round_trip(kind, tmp_path):
    options = {"batch_norm": True} if kind == "conv" else {}
    enc = networks.encoder(
        SHAPE, LATENT_DIM, kind=kind, variational=True, **options
    )
    dec = networks.decoder(LATENT_DIM, SHAPE, kind=kind, **options)
    _perturb_weights(enc, seed=1)
    _perturb_weights(dec, seed=2)
    x = _images(n=4)
    z = _numpy(enc(x)[0])

    loaded_enc = assert_round_trip(
        enc, tmp_path / "encoder.keras", x, _all_outputs
    )
    loaded_dec = assert_round_trip(
        dec, tmp_path / "decoder.keras", z, _all_outputs
    )

    assert loaded_enc.name == enc.name
    assert loaded_enc.output_names == ["z_mean", "z_log_sigma"]
    assert [l.name for l in loaded_enc.layers] == [l.name for l in enc.layers]
    assert [l.name for l in loaded_dec.layers] == [l.name for l in dec.layers]
    x_hat = _numpy(loaded_dec(z))
    assert 0.0 < x_hat.min() < x_hat.max() < 1.0  # not saturated
