import keras
import numpy as np

from keras_gen.data import from_numpy
from keras_gen.data import load


def test_digits_pipeline_feeds_keras_fit():
    ds = load("digits", batch_size=32, with_labels=True, seed=0)
    model = keras.Sequential(
        [keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(10)]
    )
    model.compile(
        optimizer="sgd",
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    history = model.fit(ds, epochs=1, steps_per_epoch=1, verbose=0, shuffle=False)
    assert np.isfinite(history.history["loss"][0])
    assert model.optimizer.iterations.numpy() == 1


def test_image_only_pipelines_feed_an_autoencoder():
    images = load("digits", batch_size=16, image_size=8, seed=0)
    pairs = images.map(lambda x: (x, x))
    arrays = from_numpy(np.random.default_rng(0).random((16, 8, 8)), batch_size=8)
    model = keras.Sequential(
        [keras.Input((8, 8, 1)), keras.layers.Conv2D(1, 3, padding="same", activation="sigmoid")]
    )
    model.compile(optimizer="adam", loss="mse")
    model.fit(pairs, epochs=1, steps_per_epoch=2, verbose=0, shuffle=False)
    model.fit(arrays.map(lambda x: (x, x)), epochs=1, verbose=0, shuffle=False)
    assert model.optimizer.iterations.numpy() == 4
