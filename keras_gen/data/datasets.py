"""Named datasets (TensorFlow Datasets, plus offline digits) as tf.data."""

import dataclasses

from keras_gen import _checks
from keras_gen.data import _pipeline
from keras_gen.data import _tfds
from keras_gen.data.digits import DIGITS_SPLITS
from keras_gen.data.digits import load_digits
from keras_gen.data import shapes


@dataclasses.dataclass(frozen=True)
class _TfdsDataset:
    """How to read one TFDS dataset."""

    label_key: str  # Feature holding the label(s).
    probe_url: str  # A URL on the host TFDS downloads it from.
    crop: tuple = None  # Central crop applied before resizing.
    default_size: tuple = None  # Size used when image_size is None.
    jpeg: bool = False  # Keep JPEG bytes until after shuffling.


_TFDS_DATASETS = {
    "mnist": _TfdsDataset(
        "label", "https://storage.googleapis.com/cvdf-datasets/mnist/"
    ),
    "fashion_mnist": _TfdsDataset(
        "label", "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
    ),
    "cifar10": _TfdsDataset("label", "https://www.cs.toronto.edu/~kriz/"),
    "celeb_a": _TfdsDataset(
        "attributes",
        "https://drive.google.com/",
        crop=(140, 140),
        default_size=(64, 64),
        jpeg=True,
    ),
}

SUPPORTED_DATASETS = tuple(_TFDS_DATASETS) + ("digits", "shapes")

_CELEB_A_FOLDER_HINT = (
    "  Or, without TensorFlow Datasets (its Google Drive download is often "
    "over quota anyway): download img_align_celeba.zip from "
    "https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html, unzip it, and use\n"
    "       keras_gen.data.from_folder('/path/to/img_align_celeba', "
    "image_size={size}, center_crop=140, batch_size={batch_size}, "
    "value_range={value_range})"
)


def load(
    name,
    split="train",
    batch_size=128,
    image_size=None,
    value_range=(0.0, 1.0),
    shuffle=True,
    seed=None,
    with_labels=False,
    data_dir=None,
    drop_remainder=False,
    download=True,
):
    """Load a named image dataset as a batched, prefetched `tf.data.Dataset`.

    `"mnist"`, `"fashion_mnist"`, `"cifar10"` and `"celeb_a"` are read with
    TensorFlow Datasets (downloaded and prepared on first use unless
    `download=False`); `"digits"` is scikit-learn's bundled 8x8 digits via
    `load_digits`, which needs no network. Pixel values 0..255 (0..16 for
    digits) are mapped linearly to `value_range`. `"shapes"` is the
    procedural RGB dataset of `keras_gen.data.shapes` (40,000 train and
    5,000 test images, native size 64x64), rendered batch by batch as the
    dataset is iterated, so its images are never all held in memory; they
    equal `load_shapes(split, image_size, value_range)`'s. The dataset
    feeds Keras `fit` on every backend.

    CelebA is center-cropped to 140x140 (the face region of the 218x178
    aligned images) and resized to 64x64 unless `image_size` says
    otherwise, as in common DCGAN code; its labels are the 40 binary
    attributes as a float32 vector, in alphabetical order of their TFDS
    names.

    Labels (`with_labels=True`) are int32 class ids of shape `(batch,)`
    for digits, MNIST, Fashion-MNIST and CIFAR-10, and float32 0/1
    attribute vectors of shape `(batch, k)` for CelebA (40) and shapes
    (14), whose columns `keras_gen.data.attribute_names(name)` names.

    Args:
        name: str, one of `"mnist"`, `"fashion_mnist"`, `"cifar10"`,
            `"celeb_a"`, `"digits"`, `"shapes"`.
        split: str, a TFDS split such as `"train"`, `"test"` or
            `"train[:90%]"`; for `"digits"`: `"train"`, `"test"` or
            `"all"`; for `"shapes"`: `"train"` or `"test"`. Defaults to
            `"train"`.
        batch_size: positive int. Defaults to `128`.
        image_size: `None`, int or pair `(height, width)`. Defaults to
            `None`: native size (28 for digits, 64 for CelebA after the
            crop and for shapes). Resizing is bilinear, antialiased when
            shrinking; shapes are rendered at `image_size` directly.
        value_range: pair `(low, high)` of the output values. Defaults to
            `(0.0, 1.0)`; GANs with tanh outputs use `(-1.0, 1.0)`.
        shuffle: bool, whether to shuffle files and examples (reshuffled
            every epoch). Defaults to `True`.
        seed: `None` or int, the shuffle seed. Defaults to `None`. The
            digits train/test split is fixed (seed 0, 20% test) and shapes
            is the standard dataset (`load_shapes(seed=0)`) whatever this
            seed.
        with_labels: bool, whether to yield `(images, labels)` instead of
            images (see above for the labels). Defaults to `False`.
        data_dir: `None` or str, the TFDS data directory. Defaults to `None`
            (`$TFDS_DATA_DIR` or `~/tensorflow_datasets`). Ignored for
            digits and shapes.
        drop_remainder: bool, whether to drop a last, smaller batch.
            Defaults to `False`.
        download: bool, whether TFDS may download and prepare a dataset
            that is not on disk yet. Defaults to `True`. Ignored for digits.

    Returns:
        A `tf.data.Dataset` of float32 image batches of shape
        `(batch, height, width, channels)`, or of `(images, labels)`.

    Raises:
        ValueError: for an unknown `name` or an invalid argument value.
        TypeError: for an argument of the wrong type.
        DatasetUnavailableError: if the dataset is not on disk and cannot be
            downloaded (no network, or `download=False`); the message says
            how to supply it by hand. A missing download host is detected
            within seconds rather than after TFDS's minutes of retries.

    Example:

    >>> ds = load("digits", batch_size=32, image_size=16, value_range=(-1, 1))
    >>> tuple(next(iter(ds)).shape)
    (32, 16, 16, 1)
    >>> ds = load("shapes", split="test", batch_size=8, with_labels=True)
    >>> images, labels = next(iter(ds))
    >>> tuple(images.shape), tuple(labels.shape), labels.dtype.name
    ((8, 64, 64, 3), (8, 14), 'float32')
    """
    if not isinstance(name, str) or name not in SUPPORTED_DATASETS:
        raise ValueError(
            f"Unknown dataset name. Supported names: "
            f"{', '.join(SUPPORTED_DATASETS)}. Received: name={name!r}"
        )
    if not isinstance(split, str):
        raise TypeError(
            f"split must be a string such as 'train' or 'train[:90%]'. "
            f"Received: split={split!r}"
        )
    batch_size = _checks.positive_int("batch_size", batch_size)
    image_size = _checks.image_size("image_size", image_size)
    value_range = _checks.value_range("value_range", value_range)
    seed = _checks.seed("seed", seed)
    _checks.boolean("shuffle", shuffle)
    _checks.boolean("download", download)  # "no" was taken as True and downloaded
    _checks.boolean("with_labels", with_labels)
    _checks.boolean("drop_remainder", drop_remainder)
    if name == "shapes":
        return _load_shapes(
            split, batch_size, image_size, value_range, shuffle, seed,
            with_labels, drop_remainder,
        )
    if name == "digits":
        return _load_digits(
            split, batch_size, image_size, value_range, shuffle, seed,
            with_labels, drop_remainder,
        )
    return _load_tfds(
        name, split, batch_size, image_size, value_range, shuffle, seed,
        with_labels, data_dir, drop_remainder, download,
    )


def _load_digits(
    split, batch_size, image_size, value_range, shuffle, seed, with_labels,
    drop_remainder,
):
    import tensorflow as tf

    _checks.choice("split", split, DIGITS_SPLITS)
    x, y = load_digits(
        split, image_size=image_size or 28, value_range=value_range
    )
    _pipeline.check_batch(batch_size, len(x), drop_remainder, x.shape[1:],
                          f"the digits split {split!r}")
    ds = tf.data.Dataset.from_tensor_slices((x, y) if with_labels else x)
    if shuffle:
        ds = ds.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    return _pipeline.batch_and_prefetch(ds, batch_size, drop_remainder)


def _load_shapes(
    split, batch_size, image_size, value_range, shuffle, seed, with_labels,
    drop_remainder,
):
    """Shapes as tf.data: shuffled indices, batched, rendered per batch.

    Rendering runs in TensorFlow ops (`shapes._render_tf`), so the pipeline
    never calls back into Python (a `tf.numpy_function` here can deadlock
    the interpreter's exit while an iterator is alive).
    """
    import tensorflow as tf

    _checks.choice("split", split, shapes.SHAPES_SPLITS)
    height, width = image_size or (64, 64)
    factors = shapes._factors(split, 0)
    _pipeline.check_batch(batch_size, len(factors), drop_remainder, (height, width, 3),
                          f"the shapes split {split!r}")
    table = tf.constant(factors)
    labels = tf.constant(shapes._labels(factors))

    def render(indices):
        images = shapes._render_tf(tf.gather(table, indices), height, width)
        images = _pipeline.to_value_range(images, value_range, from_range=(0.0, 1.0))
        images.set_shape([batch_size if drop_remainder else None, height, width, 3])
        return (images, tf.gather(labels, indices)) if with_labels else images

    ds = tf.data.Dataset.range(len(factors))
    if shuffle:
        ds = ds.shuffle(len(factors), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    ds = ds.map(render, num_parallel_calls=tf.data.AUTOTUNE)
    return _pipeline.for_busy_machine(ds.prefetch(tf.data.AUTOTUNE))


def _load_tfds(
    name, split, batch_size, image_size, value_range, shuffle, seed,
    with_labels, data_dir, drop_remainder, download,
):
    import tensorflow as tf
    import tensorflow_datasets as tfds

    spec = _TFDS_DATASETS[name]
    size = image_size or spec.default_size
    folder_hint = None
    if name == "celeb_a":
        folder_hint = _CELEB_A_FOLDER_HINT.format(
            size=size[0] if size[0] == size[1] else size,
            batch_size=batch_size,
            value_range=value_range,
        )
    builder = tfds.builder(name, data_dir=data_dir)
    _tfds.prepare(
        builder,
        name,
        download=download,
        data_dir=data_dir,
        probe_url=spec.probe_url,
        folder_hint=folder_hint,
    )
    try:
        num_examples = builder.info.splits[split].num_examples
    except Exception:  # an invalid split string is reported by as_dataset below
        num_examples = None
    native = builder.info.features["image"].shape  # (height, width, channels)
    _pipeline.check_batch(batch_size, num_examples, drop_remainder,
                          (*(size or native[:2]), native[-1] or 3),
                          f"the {name} split {split!r}")
    decoders = {"image": tfds.decode.SkipDecoding()} if spec.jpeg else None
    try:
        ds = builder.as_dataset(
            split=split,
            shuffle_files=bool(shuffle),
            decoders=decoders,
            read_config=tfds.ReadConfig(shuffle_seed=seed),
        )
    except (ValueError, KeyError) as error:
        raise ValueError(
            f"Invalid split for dataset '{name}' ({error}). "
            f"Received: split={split!r}"
        ) from error
    if shuffle:
        ds = ds.shuffle(
            _pipeline.SHUFFLE_BUFFER, seed=seed, reshuffle_each_iteration=True
        )

    def extract(example):
        image = example["image"]
        if spec.jpeg:
            image = tf.io.decode_jpeg(image, channels=3)
        if spec.crop is not None:
            image = _pipeline.center_crop(image, spec.crop)
            image.set_shape([spec.crop[0], spec.crop[1], 3])
        if not with_labels:
            return image
        label = example[spec.label_key]
        if isinstance(label, dict):  # CelebA attributes: name -> bool.
            label = tf.stack(
                [tf.cast(label[key], "float32") for key in sorted(label)]
            )
        else:
            label = tf.cast(label, "int32")
        return image, label

    def finish(images, *labels):  # tf.data unpacks (images, labels).
        images = _pipeline.resize(images, size)
        images = _pipeline.to_value_range(images, value_range)
        return (images, *labels) if labels else images

    ds = ds.map(extract, num_parallel_calls=tf.data.AUTOTUNE)
    return _pipeline.batch_and_prefetch(ds, batch_size, drop_remainder, finish)
