"""keras_gen.data.pipeline_options / for_busy_machine: applied, and batches unchanged.

The options are tf.data's, the same whatever KERAS_BACKEND is (keras_gen.data
builds its pipelines in TensorFlow on every backend): tested on the
TensorFlow backend only.
"""

import keras
import numpy as np
import pytest

import keras_gen

pytestmark = pytest.mark.skipif(
    keras.backend.backend() != "tensorflow",
    reason="tf.data options do not depend on the Keras backend; tested once, on TensorFlow",
)


def _assert_busy_options(ds):
    options = ds.options()
    assert options.threading.private_threadpool_size == 1
    assert options.threading.max_intra_op_parallelism == 1
    assert options.autotune.cpu_budget == 1


def _batches(ds):
    return [b if isinstance(b, np.ndarray) else tuple(b) for b in ds.as_numpy_iterator()]


def test_pipeline_options_are_new_objects_with_the_settings():
    import tensorflow as tf

    a, b = keras_gen.data.pipeline_options(), keras_gen.data.pipeline_options()
    assert isinstance(a, tf.data.Options) and a is not b
    a.threading.private_threadpool_size = 3  # changing one leaves the next alone
    assert keras_gen.data.pipeline_options().threading.private_threadpool_size == 1
    # Nothing that could change the elements or their order is set.
    assert b.deterministic is None and b.experimental_slack is None


def test_from_numpy_dataset_carries_the_options_and_yields_the_array_in_order():
    x = np.random.default_rng(0).random((10, 4, 4, 1), dtype=np.float32)
    ds = keras_gen.data.from_numpy(x, batch_size=4)
    _assert_busy_options(ds)
    batches = _batches(ds)
    # NumPy slicing is the reference: [0:4], [4:8], [8:10].
    assert [b.shape[0] for b in batches] == [4, 4, 2]
    np.testing.assert_array_equal(np.concatenate(batches), x)


@pytest.mark.parametrize("name", ["digits", "shapes"])
def test_named_datasets_carry_the_options(name):
    split = "test" if name == "shapes" else "train"
    ds = keras_gen.data.load(name, split=split, batch_size=4, image_size=(8, 8), shuffle=True, seed=3)
    _assert_busy_options(ds)


def test_shuffled_digits_batches_equal_the_pipeline_without_the_options():
    import tensorflow as tf

    ds = keras_gen.data.load("digits", batch_size=16, image_size=(8, 8), shuffle=True, seed=5,
                             with_labels=True)
    # The same pipeline written out without the options (tf.data's defaults).
    x, y = keras_gen.data.load_digits("train", image_size=8)
    plain = (tf.data.Dataset.from_tensor_slices((x, y)).shuffle(len(x), seed=5)
             .batch(16).prefetch(tf.data.AUTOTUNE))
    assert plain.options().threading.private_threadpool_size is None
    ours, theirs = _batches(ds.take(6)), _batches(plain.take(6))
    for (a_x, a_y), (b_x, b_y) in zip(ours, theirs, strict=True):
        np.testing.assert_array_equal(a_x, b_x)
        np.testing.assert_array_equal(a_y, b_y)


def test_for_busy_machine_keeps_elements_order_and_other_options():
    import tensorflow as tf

    def parallel_pipeline():
        ds = tf.data.Dataset.range(40).shuffle(40, seed=1)
        ds = ds.map(lambda i: i * i, num_parallel_calls=tf.data.AUTOTUNE).batch(8)
        options = tf.data.Options()
        options.experimental_optimization.map_parallelization = False
        return ds.with_options(options).prefetch(2)

    ours = keras_gen.data.for_busy_machine(parallel_pipeline())
    _assert_busy_options(ours)
    assert ours.options().experimental_optimization.map_parallelization is False
    reference = _batches(parallel_pipeline())
    np.testing.assert_array_equal(np.stack(_batches(ours)), np.stack(reference))
    # Squares of a permutation of 0..39, independently of tf.data.
    assert sorted(int(v) for v in np.concatenate(reference)) == [i * i for i in range(40)]


def test_for_busy_machine_refuses_what_is_not_a_dataset():
    with pytest.raises(TypeError, match=r"ds must be a tf.data.Dataset. Received: ds=\[1, 2\]"):
        keras_gen.data.for_busy_machine([1, 2])
