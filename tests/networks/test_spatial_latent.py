"""Spatial codes: conv_encoder / conv_decoder with latent_channels."""

import keras
import numpy as np
import pytest

import keras_gen
from keras_gen import networks
from keras_gen.data.shapes import load_shapes
from tests.helpers import assert_round_trip
from tests.helpers import fit_losses

SHAPE = (32, 32, 3)
FILTERS = (4, 8)  # two stages: an 8 x 8 map at 32 px
CHANNELS = 2
LATENT_DIM = 8 * 8 * CHANNELS


def _numpy(x):
    return keras.ops.convert_to_numpy(x)


def _images(n=4, shape=SHAPE, seed=0):
    return np.random.default_rng(seed).uniform(0.0, 1.0, size=(n, *shape)).astype("float32")


def _encoder(variational=False, shape=SHAPE, latent_dim=LATENT_DIM):
    return networks.conv_encoder(shape, latent_dim, filters=FILTERS, variational=variational,
                                 latent_channels=CHANNELS)


def _decoder(shape=SHAPE, latent_dim=LATENT_DIM):
    return networks.conv_decoder(latent_dim, shape, filters=FILTERS[::-1],
                                 latent_channels=CHANNELS)


def test_shapes_names_and_the_prior_at_start():
    plain, vae = _encoder(), _encoder(variational=True)
    assert plain.output_names == ["z"] and plain.output_shape == (None, LATENT_DIM)
    assert vae.output_names == ["z_mean", "z_log_sigma"]
    assert [tuple(t.shape) for t in vae.outputs] == [(None, LATENT_DIM)] * 2
    assert vae.get_layer("z_mean_map").kernel_size == (1, 1)
    assert "dense" not in [layer.name for layer in vae.layers]
    _, log_sigma = vae(_images())
    assert np.all(_numpy(log_sigma) == 0.0)  # sigma = 1: the prior, exactly
    decoder = _decoder()
    assert decoder.get_layer("reshape").output.shape == (None, 8, 8, CHANNELS)
    assert decoder.get_layer("map_conv").filters == FILTERS[-1]
    assert decoder.output_shape == (None, *SHAPE)
    # Any size: 30 px makes the same 8 x 8 map; the decoder crops back to 30.
    odd = (30, 30, 3)
    assert _encoder(shape=odd).output_shape == (None, LATENT_DIM)
    assert _numpy(_decoder(shape=odd)(np.zeros((2, LATENT_DIM), "float32"))).shape == (2, *odd)


def test_the_code_is_local():
    # A change in the top-left corner of the image moves only the code cells
    # whose receptive field (7 px: two 3x3 stride-2 convolutions) reaches it;
    # a Dense code moves everywhere.
    x = _images(2)
    changed = x.copy()
    changed[:, :4, :4, :] = 1.0 - changed[:, :4, :4, :]
    encoder = _encoder()
    before = _numpy(encoder(x)).reshape(2, 8, 8, CHANNELS)
    after = _numpy(encoder(changed)).reshape(2, 8, 8, CHANNELS)
    moved = np.any(before != after, axis=(0, 3))
    assert moved[0, 0]
    assert not moved[3:, :].any() and not moved[:, 3:].any()
    dense = networks.conv_encoder(SHAPE, LATENT_DIM, filters=FILTERS)
    assert np.all(_numpy(dense(x)) != _numpy(dense(changed)))
    # And back: one code cell draws only its own region of the image.
    decoder = _decoder()
    z = np.random.default_rng(1).normal(size=(1, 8, 8, CHANNELS)).astype("float32")
    nudged = z.copy()
    nudged[0, 7, 7] += 3.0
    diff = np.abs(_numpy(decoder(z.reshape(1, -1))) - _numpy(decoder(nudged.reshape(1, -1))))
    assert diff[0, 20:, 20:].max() > 0 and diff[0, :12, :].max() == 0 and diff[0, :, :12].max() == 0


@pytest.mark.parametrize("kwargs, message", [
    ({"latent_dim": 100}, "latent_dim must be 8 * 8 * latent_channels = 128 with latent_channels=2: "
                          "the code is the 8 x 8 map of the 2 stride-2 stages for 32 x 32 images, "
                          "flattened. Received: latent_dim=100"),
    ({"latent_channels": 0}, "latent_channels must be a positive integer or None. "
                             "Received: latent_channels=0"),
    ({"latent_channels": 2.0}, "latent_channels must be a positive integer or None. "
                               "Received: latent_channels=2.0"),
])
@pytest.mark.parametrize("build", ["encoder", "decoder"])
def test_bad_latent_channels_are_named_errors(build, kwargs, message):
    args = {"latent_dim": LATENT_DIM, "filters": FILTERS, "latent_channels": CHANNELS, **kwargs}
    with pytest.raises(ValueError) as info:
        if build == "encoder":
            networks.conv_encoder(SHAPE, **args)
        else:
            networks.conv_decoder(output_shape=SHAPE, **args)
    assert str(info.value) == message


def test_vae_trains_and_round_trips(tmp_path):
    keras.utils.set_random_seed(0)
    x = load_shapes("train", 32, num_examples=64, with_labels=False)
    # A small KL weight, as for any per-pixel mean reconstruction loss (recipes/alter_attributes.py).
    vae = keras_gen.VAE(_encoder(variational=True), _decoder(), kl_weight=1e-4, seed=0)
    vae.compile(optimizer=keras.optimizers.Adam(3e-3))

    def reconstruction_mse():
        rebuilt = keras_gen.latent.decode(vae, keras_gen.latent.encode(vae, x))
        return float(np.mean((rebuilt - x) ** 2))

    before = reconstruction_mse()
    losses = fit_losses(vae, x, epochs=20, batch_size=16, key="reconstruction_loss")
    assert np.all(np.isfinite(losses)) and losses[-1] < losses[0]
    # BCE of grey-valued pixels has a high floor; the squared error shows the fit.
    assert reconstruction_mse() < 0.75 * before  # a collapsed posterior stays at ~0.99x
    z = keras_gen.latent.encode(vae, x[:4])
    assert z.shape == (4, LATENT_DIM)
    loaded = assert_round_trip(vae.decoding_network, tmp_path / "decoder.keras", z,
                               lambda model, inputs: _numpy(model(inputs)))
    assert [layer.name for layer in loaded.layers] == [layer.name for layer in vae.decoding_network.layers]
