"""Loaders refuse batches that are empty (drop_remainder) or too large to hold."""

import os

import numpy as np
import pytest
import tensorflow_datasets as tfds
from PIL import Image

from keras_gen.data import from_folder
from keras_gen.data import from_numpy
from keras_gen.data import load


def _sizes(ds):
    return [int(batch.shape[0]) for batch in ds]


@pytest.mark.parametrize(
    "name,split,count", [("digits", "test", 360), ("shapes", "test", 5000)]
)
def test_drop_remainder_with_a_batch_above_the_split_is_refused(name, split, count):
    with pytest.raises(ValueError, match=rf"batch_size={count + 1} is larger than the {count} "
                                         rf"images of the {name} split 'test'.*drop_remainder=True"):
        load(name, split=split, batch_size=count + 1, drop_remainder=True)


def test_drop_remainder_with_the_whole_split_as_one_batch_still_works():
    assert _sizes(load("digits", split="test", batch_size=360, drop_remainder=True)) == [360]
    # Without drop_remainder a batch above the split is one smaller batch, as before.
    assert _sizes(load("digits", split="test", batch_size=1000)) == [360]


def test_shapes_batch_too_large_for_memory_is_refused_before_rendering():
    # 128 images of 4096x4096x3 float32: 25.8 GB for one batch.
    with pytest.raises(ValueError, match=r"One batch of 128 float32 images of 4096x4096x3 would "
                                         r"take 25\.8 GB .*image_size=\(4096, 4096\)"):
        load("shapes", batch_size=128, image_size=4096)
    # 4 images of the same size are 0.8 GB: allowed (only built, not iterated here).
    load("shapes", batch_size=4, image_size=4096)


def test_tfds_batch_too_large_for_memory_is_refused():
    with tfds.testing.mock_data(num_examples=3):
        with pytest.raises(ValueError, match=r"One batch of 64 float32 images of 8192x8192x3"):
            load("cifar10", batch_size=64, image_size=8192)


def test_from_numpy_drop_remainder():
    x = np.random.default_rng(0).uniform(size=(10, 4, 4, 1)).astype("float32")
    assert _sizes(from_numpy(x, batch_size=4)) == [4, 4, 2]
    assert _sizes(from_numpy(x, batch_size=4, drop_remainder=True)) == [4, 4]
    with pytest.raises(ValueError, match=r"batch_size=11 is larger than the 10 images of x"):
        from_numpy(x, batch_size=11, drop_remainder=True)
    with pytest.raises(ValueError, match=r"needs a batch_size.*drop_remainder=True"):
        from_numpy(x, drop_remainder=True)
    with pytest.raises(TypeError, match=r"drop_remainder must be a bool.*'yes'"):
        from_numpy(x, batch_size=4, drop_remainder="yes")


def test_from_folder_drop_remainder_with_a_batch_above_the_images(tmp_path):
    for i in range(3):
        Image.fromarray(np.full((8, 8, 3), 40 * i, "uint8")).save(os.path.join(tmp_path, f"{i}.png"))
    assert _sizes(from_folder(tmp_path, image_size=8, batch_size=2, drop_remainder=True)) == [2]
    with pytest.raises(ValueError, match=r"batch_size=4 is larger than the 3 images of the folder"):
        from_folder(tmp_path, image_size=8, batch_size=4, drop_remainder=True)
