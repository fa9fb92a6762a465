import numpy as np
import pytest

from keras_gen.data import check_value_range
from keras_gen.data import rescale


@pytest.mark.parametrize(
    "value_range, expected",
    [((0, 1), (0.0, 1.0)), ([-1, 1], (-1.0, 1.0)), (np.array([0.0, 255.0]), (0.0, 255.0))],
)
def test_check_value_range_returns_float_pair(value_range, expected):
    result = check_value_range(value_range)
    assert result == expected
    assert all(type(v) is float for v in result)


@pytest.mark.parametrize(
    "bad", [(1, 0), (0, 0), (0,), (0, 1, 2), "01", None, (0, float("nan")), (0, float("inf")), (False, True), ("a", "b"),
            # float32 images cannot hold these: NaN / inf / constant pixels came out
            (0, 1e39), (-3e38, 3e38), (1e8, 1e8 + 1)]
)
def test_check_value_range_rejects(bad):
    with pytest.raises(ValueError, match=r"value_range must be a pair \(low, high\).*Received: value_range="):
        check_value_range(bad)


def test_check_value_range_message_names_given_argument():
    with pytest.raises(ValueError, match=r"Received: input_range=\(1, 0\)"):
        check_value_range((1, 0), name="input_range")


def test_rescale_maps_endpoints_and_is_linear():
    x = np.array([0.0, 127.5, 255.0], "float32")
    np.testing.assert_allclose(rescale(x, (0, 255), (-1, 1)), [-1.0, 0.0, 1.0], atol=1e-6)
    np.testing.assert_allclose(rescale(x, (0, 255), (1, 3)), [1.0, 2.0, 3.0], atol=1e-6)
    back = rescale(rescale(x, (0, 255), (-1, 1)), (-1, 1), (0, 255))
    np.testing.assert_allclose(back, x, atol=1e-4)


def test_rescale_dtypes():
    assert rescale(np.array([0, 255], "uint8"), (0, 255), (0, 1)).dtype == np.float32
    assert rescale(np.array([0.0, 1.0], "float64"), (0, 1), (-1, 1)).dtype == np.float64
    assert rescale(np.array([0.0, 1.0], "float32"), (0, 1), (-1, 1)).dtype == np.float32
    np.testing.assert_allclose(rescale([0, 2], (0, 2), (0, 1)), [0.0, 1.0])


def test_rescale_works_on_tf_tensors():
    import tensorflow as tf

    out = rescale(tf.constant([0.0, 1.0]), (0, 1), (-1, 1))
    assert isinstance(out, tf.Tensor)
    np.testing.assert_allclose(out.numpy(), [-1.0, 1.0])


def test_rescale_validates_ranges():
    with pytest.raises(ValueError, match="from_range"):
        rescale(np.zeros(2), (1, 0), (0, 1))
    with pytest.raises(ValueError, match="to_range"):
        rescale(np.zeros(2), (0, 1), (0, 0))
