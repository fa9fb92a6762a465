import socket
import time

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from keras_gen.data import SUPPORTED_DATASETS
from keras_gen.data import DatasetUnavailableError
from keras_gen.data import _tfds
from keras_gen.data import attribute_names
from keras_gen.data import load

TFDS_NAMES = ["mnist", "fashion_mnist", "cifar10", "celeb_a"]
NATIVE = {"mnist": (28, 28, 1), "fashion_mnist": (28, 28, 1), "cifar10": (32, 32, 3), "celeb_a": (64, 64, 3)}


def _arrays(ds):
    return [tuple(np.asarray(t) for t in e) if isinstance(e, tuple) else np.asarray(e) for e in ds]


@pytest.mark.parametrize("name", TFDS_NAMES)
def test_tfds_names_through_mock(name):
    with tfds.testing.mock_data(num_examples=5):
        ds = load(name, batch_size=2, value_range=(-1, 1), seed=0)
        batches = _arrays(ds)
    assert [b.shape for b in batches] == [(2, *NATIVE[name]), (2, *NATIVE[name]), (1, *NATIVE[name])]
    images = np.concatenate(batches)
    assert images.dtype == np.float32
    assert images.min() >= -1.0 and images.max() <= 1.0
    if name != "celeb_a":
        # Mocked pixels are uniform in 0..254, so both ends occur: 0 -> -1.
        assert images.min() == -1.0
        assert images.max() == pytest.approx(-1.0 + 2.0 * 254 / 255, abs=1e-6)


@pytest.mark.parametrize("name", ["mnist", "cifar10"])
def test_unshuffled_values_are_the_tfds_pixels_rescaled(name):
    with tfds.testing.mock_data(num_examples=3):
        raw = np.stack([ex["image"] for ex in tfds.as_numpy(tfds.load(name, split="train"))])
        ours = np.concatenate(_arrays(load(name, batch_size=3, shuffle=False, value_range=(0, 2))))
    np.testing.assert_allclose(ours, raw / 127.5, atol=1e-6)


def test_resize_and_drop_remainder():
    with tfds.testing.mock_data(num_examples=5):
        ds = load("cifar10", batch_size=2, image_size=(14, 10), drop_remainder=True)
        shapes = [b.shape for b in _arrays(ds)]
        square = _arrays(load("mnist", batch_size=5, image_size=56))[0]
    assert shapes == [(2, 14, 10, 3), (2, 14, 10, 3)]
    assert square.shape == (5, 56, 56, 1)


@pytest.mark.parametrize("name", ["mnist", "fashion_mnist", "cifar10"])
def test_with_labels(name):
    with tfds.testing.mock_data(num_examples=6):
        (images, labels), = _arrays(load(name, batch_size=6, with_labels=True))
    assert images.shape == (6, *NATIVE[name])
    assert labels.shape == (6,) and labels.dtype == np.int32
    assert labels.min() >= 0 and labels.max() < 10


def test_seeded_shuffle_is_reproducible():
    def first_batch(seed):
        with tfds.testing.mock_data(num_examples=20):
            return _arrays(load("mnist", batch_size=20, seed=seed))[0]

    a, b, c = first_batch(1), first_batch(1), first_batch(2)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    np.testing.assert_allclose(np.sort(a.ravel()), np.sort(c.ravel()))  # Same examples.


def test_celeb_a_mock_is_218x178_and_default_is_64x64():
    assert tfds.builder("celeb_a").info.features["image"].shape == (218, 178, 3)
    with tfds.testing.mock_data(num_examples=3):
        (images, attributes), = _arrays(load("celeb_a", batch_size=3, with_labels=True))
        small = _arrays(load("celeb_a", batch_size=3, image_size=32))[0]
    assert images.shape == (3, 64, 64, 3) and small.shape == (3, 32, 32, 3)
    assert attributes.shape == (3, 40) and attributes.dtype == np.float32
    assert set(np.unique(attributes)) <= {0.0, 1.0}


def _celeb_a_with_white_centre(self, split, decoders=None, read_config=None, **kwargs):
    """A mocked CelebA: one 218x178 JPEG, white in the central 140x140."""
    image = np.zeros((218, 178, 3), "uint8")
    image[39:179, 19:159] = 255
    jpeg = tf.io.encode_jpeg(image, quality=100)
    names = sorted(self.info.features["attributes"].keys())
    attributes = {k: tf.constant(k == "Smiling") for k in names}
    return tf.data.Dataset.from_tensors({"image": jpeg, "attributes": attributes})


def test_celeb_a_center_crop_140_then_resize():
    with tfds.testing.mock_data(as_dataset_fn=_celeb_a_with_white_centre):
        (images, attributes), = _arrays(load("celeb_a", batch_size=1, with_labels=True))
    # Only the 140x140 centre was kept (a plain resize would average ~0.5).
    assert images.shape == (1, 64, 64, 3)
    assert images.mean() > 0.98 and images.min() > 0.8
    names = attribute_names("celeb_a")
    assert attributes[0].tolist() == [float(n == "Smiling") for n in names]


def test_celeb_a_attribute_names_are_the_tfds_features_sorted():
    features = tfds.builder("celeb_a").info.features["attributes"]
    assert attribute_names("celeb_a") == tuple(sorted(features.keys()))
    assert len(attribute_names("celeb_a")) == 40
    assert attribute_names("celeb_a")[:2] == ("5_o_Clock_Shadow", "Arched_Eyebrows")


def test_celeb_a_label_columns_follow_attribute_names():
    with tfds.testing.mock_data(num_examples=4):
        raw = list(tfds.as_numpy(tfds.load("celeb_a", split="train", shuffle_files=False)))
        (_, labels), = _arrays(load("celeb_a", batch_size=4, with_labels=True, shuffle=False))
    expected = [[float(ex["attributes"][n]) for n in attribute_names("celeb_a")] for ex in raw]
    assert labels.tolist() == expected
    assert 0 < labels.mean() < 1  # The mock draws both values.


def test_unknown_name():
    with pytest.raises(
        ValueError,
        match=r"Unknown dataset name. Supported names: mnist, fashion_mnist, cifar10, celeb_a, digits, shapes. "
        r"Received: name='imagenet'",
    ):
        load("imagenet")
    assert SUPPORTED_DATASETS == ("mnist", "fashion_mnist", "cifar10", "celeb_a", "digits", "shapes")


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"batch_size": 0}, ValueError, "batch_size must be a positive integer. Received: batch_size=0"),
        ({"batch_size": -3}, ValueError, "Received: batch_size=-3"),
        ({"batch_size": "32"}, TypeError, "Received: batch_size='32'"),
        ({"batch_size": 32.0}, TypeError, "Received: batch_size=32.0"),
        ({"batch_size": True}, TypeError, "Received: batch_size=True"),
        ({"image_size": 0}, ValueError, "image_size must be None, a positive integer .*Received: image_size=0"),
        ({"image_size": (8, 8, 3)}, ValueError, r"Received: image_size=\(8, 8, 3\)"),
        ({"image_size": "64"}, TypeError, "Received: image_size='64'"),
        ({"image_size": (8.0, 8)}, TypeError, r"Received: image_size=\(8.0, 8\)"),
        ({"value_range": (1, 0)}, ValueError, r"value_range must be a pair \(low, high\) .*Received: value_range=\(1, 0\)"),
        ({"value_range": 1}, ValueError, "Received: value_range=1"),
        ({"seed": 1.5}, TypeError, "seed must be an int or None. Received: seed=1.5"),
        ({"split": None}, TypeError, "split must be a string .*Received: split=None"),
        ({"split": "validation"}, ValueError, r"split must be one of \['train', 'test', 'all'\]. Received: split='validation'"),
    ],
)
def test_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        load("digits", **kwargs)


def test_digits_pipeline():
    ds = load("digits", batch_size=100, with_labels=True, value_range=(-1, 1), seed=0)
    pairs = _arrays(ds)
    images = np.concatenate([p[0] for p in pairs])
    labels = np.concatenate([p[1] for p in pairs])
    assert images.shape == (1437, 28, 28, 1) and labels.shape == (1437,)
    assert images.min() == -1.0 and images.max() == 1.0 and labels.dtype == np.int32
    assert [len(p[0]) for p in pairs][-1] == 37
    test_batches = _arrays(load("digits", split="test", batch_size=64, image_size=8, drop_remainder=True))
    assert [b.shape for b in test_batches] == [(64, 8, 8, 1)] * 5


# --- Unavailable datasets ----------------------------------------------------


def test_not_prepared_with_download_false(tmp_path):
    with pytest.raises(DatasetUnavailableError) as info:
        load("mnist", data_dir=str(tmp_path), download=False)
    message = str(info.value)
    assert isinstance(info.value, RuntimeError)
    assert "Dataset 'mnist' is not available: no prepared copy was found and download=False" in message
    assert f"'{tmp_path}/mnist/3.0.1'" in message
    assert "tfds.builder('mnist').download_and_prepare()" in message
    assert f"keras_gen.data.load('mnist', data_dir='{tmp_path}')" in message
    assert "from_folder" not in message


def test_celeb_a_message_gives_the_from_folder_call(tmp_path):
    with pytest.raises(DatasetUnavailableError) as info:
        load("celeb_a", data_dir=str(tmp_path), download=False, batch_size=64, value_range=(-1, 1), image_size=32)
    assert (
        "keras_gen.data.from_folder('/path/to/img_align_celeba', image_size=32, center_crop=140, "
        "batch_size=64, value_range=(-1.0, 1.0))" in str(info.value)
    )
    assert "img_align_celeba.zip" in str(info.value)


def _forbid_real_downloads(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the test tried a real download")

    manager = tfds.download.DownloadManager
    monkeypatch.setattr(manager, "download", refuse)
    monkeypatch.setattr(manager, "download_and_extract", refuse)


def test_unreachable_host_fails_fast(tmp_path, monkeypatch):
    _forbid_real_downloads(monkeypatch)
    for var in ("https_proxy", "http_proxy", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
        monkeypatch.delenv(var.upper(), raising=False)
    hosts = []

    def offline(address, timeout=None, **kwargs):
        hosts.append((address, timeout))
        raise OSError("Network is unreachable")

    monkeypatch.setattr(socket, "create_connection", offline)
    start = time.monotonic()
    with pytest.raises(DatasetUnavailableError, match="download host storage.googleapis.com cannot be reached") as info:
        load("mnist", data_dir=str(tmp_path))
    assert time.monotonic() - start < 5
    assert hosts == [(("storage.googleapis.com", 443), _tfds.PROBE_TIMEOUT)]
    assert isinstance(info.value.__cause__, OSError)
    assert "download_and_prepare()" in str(info.value)


def test_failed_download_is_wrapped(tmp_path, monkeypatch):
    def broken(self, *args, **kwargs):
        raise ConnectionError("connection reset")

    monkeypatch.setattr(tfds.core.DatasetBuilder, "download_and_prepare", broken)
    with pytest.raises(
        DatasetUnavailableError,
        match=r"(?s)downloading or preparing it failed \(ConnectionError: connection reset\).*"
        r"To supply it by hand.*data_dir=",
    ) as info:
        load("cifar10", data_dir=str(tmp_path))
    assert isinstance(info.value.__cause__, ConnectionError)


def test_missing_module_during_download_is_explained(tmp_path, monkeypatch):
    def broken(self, *args, **kwargs):
        raise ModuleNotFoundError("No module named 'importlib_resources'", name="importlib_resources")

    monkeypatch.setattr(tfds.core.DatasetBuilder, "download_and_prepare", broken)
    with pytest.raises(DatasetUnavailableError, match=r"pip install importlib_resources"):
        load("fashion_mnist", data_dir=str(tmp_path))


def test_proxy_skips_the_probe(monkeypatch):
    for var in ("https_proxy", "http_proxy", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
        monkeypatch.delenv(var.upper(), raising=False)
    assert not _tfds._uses_proxy()
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy:3128")
    assert _tfds._uses_proxy()


# --- A real, prepared TFDS dataset on disk (no mocking) ----------------------


@pytest.fixture(scope="module")
def prepared_mnist(tmp_path_factory):
    """A genuine TFDS 'mnist' folder with 12 train and 4 test fake digits."""
    from tensorflow_datasets.image_classification import mnist

    class FakeMnist(mnist.MNIST, skip_registration=True):
        name = "mnist"
        # TFDS finds a builder's source via importlib_resources, which is
        # not installed everywhere; this builder needs no source files.
        code_path = None

        def _split_generators(self, dl_manager):
            return {"train": self._examples(12), "test": self._examples(4)}

        def _examples(self, n):
            for i in range(n):
                yield i, {"image": np.full((28, 28, 1), 20 * i, "uint8"), "label": i % 10}

    data_dir = tmp_path_factory.mktemp("tfds")
    FakeMnist(data_dir=str(data_dir)).download_and_prepare()
    return str(data_dir)


def test_reads_a_prepared_dataset_without_network(prepared_mnist, monkeypatch):
    monkeypatch.setattr(socket, "create_connection", lambda *a, **k: pytest.fail("probed the network"))
    ds = load("mnist", split="train[:50%]", data_dir=prepared_mnist, batch_size=100, with_labels=True, shuffle=False)
    (images, labels), = _arrays(ds)
    assert images.shape == (6, 28, 28, 1) and labels.dtype == np.int32
    # Each fake digit is constant 20 * i with label i % 10.
    levels = np.round(images.mean(axis=(1, 2, 3)) * 255 / 20).astype(int)
    np.testing.assert_array_equal(labels, levels % 10)
    test = np.concatenate(_arrays(load("mnist", split="test", data_dir=prepared_mnist, download=False)))
    assert test.shape == (4, 28, 28, 1)


def test_bad_split_of_a_prepared_dataset(prepared_mnist):
    with pytest.raises(ValueError, match=r"Invalid split for dataset 'mnist' .*Received: split='validation'"):
        load("mnist", split="validation", data_dir=prepared_mnist, download=False)


def test_download_must_be_a_bool(tmp_path):
    # "no" was taken as True (and a download tried)
    with pytest.raises(TypeError, match=r"download must be a bool. Received: download='no'"):
        load("mnist", data_dir=str(tmp_path), download="no")
