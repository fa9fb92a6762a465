"""Shared fixtures: seeded randomness and the tiny models the tests use."""

import gc
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import numpy as np
import pytest

# keras-tuner calls gc.collect() twice before each trial's build (one of them
# in keras.backend.clear_session()); each call walks every object the process
# tracks, and TensorFlow keeps graph objects of earlier tests alive (about 15k
# objects a fit). Objects that outlive a test module are moved out of the
# collector's reach (gc.freeze), so such a call walks only the current
# module's objects: measured on TensorFlow over tests/models/test_labels.py and
# tests/test_tuning.py, 30 calls took 16.7 s of CPU unfrozen, 1.5 s frozen.
gc.freeze()


@pytest.fixture(scope="module", autouse=True)
def _freeze_module_survivors():
    yield
    gc.collect()  # the module's garbage is freed, not frozen
    gc.freeze()


@pytest.fixture(autouse=True)
def _seed():
    keras.utils.set_random_seed(0)
    yield


@pytest.fixture
def images():
    """64 smooth 8x8x1 images in [0, 1] with learnable structure."""
    rng = np.random.default_rng(0)
    grid = np.linspace(0.0, 1.0, 8, dtype="float32")
    a = rng.uniform(0.2, 1.0, size=(64, 1, 1, 1)).astype("float32")
    b = rng.uniform(0.0, 1.0, size=(64, 1, 1, 1)).astype("float32")
    x = a * grid[None, :, None, None] * b + (1 - b) * grid[None, None, :, None]
    return np.clip(x, 0.0, 1.0).astype("float32")
