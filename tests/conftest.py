"""Shared fixtures: seeded randomness and the tiny models the tests use."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import numpy as np
import pytest


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
