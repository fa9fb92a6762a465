"""Images read from a folder of png/jpg/jpeg/bmp/gif files."""

import os
import warnings

import numpy as np

from keras_gen import _checks
from keras_gen.data import _pipeline

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif")
# Image formats a folder may hold that from_folder does not read: skipped with a warning.
_UNREAD_EXTENSIONS = (".webp", ".tif", ".tiff", ".heic", ".heif", ".avif", ".jp2", ".ppm",
                      ".pgm", ".pbm", ".ico")

# Folders with at most this many images are fully decoded with PIL before
# the pipeline is built, so a corrupt file fails at once, by name. Larger
# folders (CelebA has 202,599 files) are checked lazily, inside tf.data.
EAGER_CHECK_LIMIT = 1000

# The leading bytes of each format TensorFlow's decode_image reads.
_MAGIC_NUMBERS = (b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"BM")
_PIL_FORMATS = ("PNG", "JPEG", "MPO", "GIF", "BMP")
# Lazily checked files must show their format's end marker within this many
# final bytes (see _is_complete).
_END_WINDOW = 4096


def _list_images(folder, recursive):
    """Sorted paths of the image files in `folder`."""
    if recursive:
        paths = (
            os.path.join(root, name)
            for root, _, names in os.walk(folder)
            for name in names
        )
    else:
        paths = (entry.path for entry in os.scandir(folder) if entry.is_file())
    paths = list(paths)
    unread = sorted(p for p in paths if p.lower().endswith(_UNREAD_EXTENSIONS))
    if unread:
        warnings.warn(
            f"from_folder skips {len(unread)} image file(s) of a format it does not read "
            f"(it reads {', '.join(IMAGE_EXTENSIONS)}) in {os.fspath(folder)!r}, e.g. "
            f"{unread[0]!r}. Convert them to PNG or JPEG to train on them.", stacklevel=3)
    return sorted(p for p in paths if p.lower().endswith(IMAGE_EXTENSIONS))


def _check_with_pil(paths):
    """Decode every file with PIL; raise `ValueError` naming a bad one."""
    from PIL import Image

    for path in paths:
        try:
            with Image.open(path) as image:
                image_format = image.format
                image.load()
        except Exception as error:
            raise ValueError(
                f"from_folder could not decode the image file '{path}': "
                f"{type(error).__name__}: {error}. Remove or replace it."
            ) from error
        if image_format not in _PIL_FORMATS:
            raise ValueError(
                f"from_folder cannot read the image file '{path}': it is a "
                f"{image_format} image, but only PNG, JPEG, BMP and GIF "
                "are supported. Convert or remove it."
            )
        if image_format == "BMP" and image.mode not in ("L", "RGB", "RGBA"):
            raise ValueError(_BMP_MESSAGE.format(path=path, kind=f"PIL mode {image.mode}"))


# TensorFlow's BMP decoder reads 24 / 32 bits per pixel, and 8 bits as the
# raw palette index: right for grey palettes only.
_BMP_MESSAGE = (
    "from_folder cannot read the image file '{path}' correctly: it is a BMP with a colour "
    "palette or fewer than 8 bits per pixel ({kind}), which TensorFlow's decoder reads as "
    "palette indices or not at all. Save it as PNG or as a 24-bit BMP."
)


def _bmp_decodable(contents):
    """Whether TensorFlow's decoder reads this BMP's pixels as they are:
    24 or 32 bits per pixel, or 8 with a grey palette (entry i = (i, i, i))."""
    import tensorflow as tf

    padded = tf.strings.join([contents, b"\x00" * 64])

    def uint(offset, size):
        raw = tf.cast(tf.io.decode_raw(tf.strings.substr(padded, offset, size), tf.uint8), tf.int64)
        return tf.reduce_sum(raw * tf.constant([256**i for i in range(size)], tf.int64))

    bits = uint(28, 2)

    def grey_palette():
        colours = uint(46, 4)
        colours = tf.where(tf.equal(colours, 0), tf.constant(256, tf.int64), colours)
        # clamped so that a damaged header cannot make substr fail
        start = tf.minimum(14 + uint(14, 4), tf.cast(tf.strings.length(padded), tf.int64))
        table = tf.io.decode_raw(
            tf.strings.substr(padded, tf.cast(start, tf.int32),
                              tf.cast(4 * tf.minimum(colours, 256), tf.int32)),
            tf.uint8)
        table = tf.reshape(table[: 4 * (tf.size(table) // 4)], [-1, 4])
        ramp = tf.cast(tf.range(tf.shape(table)[0]), tf.uint8)
        return tf.logical_and(
            tf.equal(tf.cast(tf.shape(table)[0], tf.int64), colours),
            tf.reduce_all(tf.equal(table[:, :3], ramp[:, None])))

    return tf.logical_or(tf.logical_or(tf.equal(bits, 24), tf.equal(bits, 32)),
                         tf.logical_and(tf.equal(bits, 8), grey_palette()))


def _has_sequence(data, sequence):
    """Whether the uint8 vector `data` contains the byte string `sequence`."""
    import tensorflow as tf

    n = tf.maximum(tf.shape(data)[0] - len(sequence) + 1, 0)
    found = tf.ones([n], tf.bool)
    for offset, byte in enumerate(sequence):
        found = tf.logical_and(found, tf.equal(data[offset : offset + n], byte))
    return tf.reduce_any(found)


def _gif_trailer_last(tail):
    """Whether the last byte of ``tail`` other than zero padding is GIF's trailer 3B."""
    import tensorflow as tf

    nonzero = tf.boolean_mask(tail, tf.not_equal(tail, 0))
    return tf.logical_and(tf.size(nonzero) > 0, tf.reduce_all(tf.equal(nonzero[-1:], 0x3B)))


def _is_complete(contents, head):
    """False when a file is visibly cut short (a truncated download or copy).

    A JPEG must hold its end-of-image marker FF D9, a PNG its IEND chunk
    within the last `_END_WINDOW` bytes (some cameras append data after the
    image); a GIF must end with its trailer byte 3B; a BMP must be at least
    as long as the size its header declares (zero bytes may follow a GIF's 3B).
    """
    import tensorflow as tf

    length = tf.strings.length(contents)
    start = tf.maximum(length - _END_WINDOW, 0)
    tail = tf.io.decode_raw(tf.strings.substr(contents, start, length - start), tf.uint8)
    is_jpeg = tf.equal(tf.strings.substr(head, 0, 3), b"\xff\xd8\xff")
    is_png = tf.equal(head, b"\x89PNG")
    is_gif = tf.equal(head, b"GIF8")
    is_bmp = tf.equal(tf.strings.substr(head, 0, 2), b"BM")
    size_bytes = tf.cast(
        tf.io.decode_raw(tf.strings.substr(tf.strings.join([contents, b"\x00" * 6]), 2, 4), tf.uint8),
        tf.int64,
    )
    bmp_size = tf.reduce_sum(size_bytes * tf.constant([1, 2**8, 2**16, 2**24], tf.int64))
    return tf.case(
        [
            (is_jpeg, lambda: _has_sequence(tail, b"\xff\xd9")),
            (is_png, lambda: _has_sequence(tail, b"IEND")),
            (is_gif, lambda: _gif_trailer_last(tail)),
            (is_bmp, lambda: tf.cast(length, tf.int64) >= bmp_size),
        ],
        default=lambda: tf.constant(True),
    )


def _read_image(path, channels, center_crop, image_size, check=True):
    """tf.data map: file path -> float32 HWC image in 0..255.

    ``check``: assert that the file is of a known format and complete (for
    folders that PIL has not decoded up front)."""
    import tensorflow as tf

    contents = tf.io.read_file(path)
    if check:
        head = tf.strings.substr(contents, 0, 4)
        known = tf.reduce_any(
            [tf.equal(tf.strings.substr(head, 0, len(magic)), magic)
             for magic in _MAGIC_NUMBERS]
        )
        known = tf.debugging.Assert(
            known,
            ["from_folder cannot decode the image file", path,
             "(not a PNG, JPEG, BMP or GIF file). Remove or replace it."],
        )
        with tf.control_dependencies([known]):
            complete = tf.debugging.Assert(
                _is_complete(contents, head),
                ["from_folder cannot decode the image file", path,
                 f"(truncated: the end of its image data is missing, or more than {_END_WINDOW} "
                 "bytes of other data follow it). Remove or replace it."],
            )
        is_bmp = tf.equal(tf.strings.substr(head, 0, 2), b"BM")
        with tf.control_dependencies([complete]):
            readable = tf.debugging.Assert(
                tf.logical_or(tf.logical_not(is_bmp), _bmp_decodable(contents)),
                [_BMP_MESSAGE.format(path="", kind="bits per pixel other than 24 or 32, "
                                     "or 8 with colours").replace("file ''", "file"), path])
        with tf.control_dependencies([readable]):
            contents = tf.identity(contents)
    image = tf.io.decode_image(contents, channels=0, expand_animations=False)
    image = _pipeline.to_channels(image, channels)
    if center_crop is not None:
        image = _pipeline.center_crop(image, center_crop)
    image = _pipeline.resize(image, image_size)
    image.set_shape([image_size[0], image_size[1], channels])
    return image


def _class_images(folder, recursive):
    """Images of the class subfolders: class names, paths and int32 ids.

    Classes are the first-level subfolders of `folder`, sorted by name;
    their images are listed as `_list_images(subfolder, recursive)`.
    """
    at_root = _list_images(folder, recursive=False)
    if at_root:
        raise ValueError(
            "with_labels=True without an attributes_file labels images by "
            "their first-level subfolder (one subfolder per class), but "
            f"{len(at_root)} image(s) lie directly in the folder {folder!r}, "
            f"e.g. {os.path.basename(at_root[0])!r}. Move them into class "
            "subfolders, or pass attributes_file for attribute labels."
        )
    class_names = sorted(entry.name for entry in os.scandir(folder) if entry.is_dir())
    paths, ids = [], []
    for i, name in enumerate(class_names):
        found = _list_images(os.path.join(folder, name), recursive)
        paths += found
        ids += [i] * len(found)
    return tuple(class_names), paths, np.array(ids, "int32")


_ATTRIBUTE_VALUES = {"1": 1.0, "-1": 0.0, "0": 0.0}


def read_attributes_file(attributes_file):
    r"""Read a CelebA-style attribute file (`list_attr_celeba.txt`).

    The format: line 1 holds the number of images, line 2 the attribute
    names, then one line per image: its file name and one value per
    attribute, `1` (has it) or `-1` (does not; `0` is read as `-1` too).
    Fields may be separated by any whitespace; blank lines are skipped.
    A comma-separated file whose first line is a header (the file-name
    column, then the attribute names), as Kaggle's `list_attr_celeba.csv`,
    is read too. The file is UTF-8 text (a byte-order mark is ignored).

    Args:
        attributes_file: str or path-like, the file.

    Returns:
        `(names, labels)`: `names` is the tuple of attribute names sorted
        alphabetically (for CelebA's file, `attribute_names("celeb_a")`);
        `labels` maps each file name to a float32 0/1 vector, one column
        per name in `names`.

    Raises:
        FileNotFoundError: if the file does not exist.
        ValueError: if the count, a name or a line is malformed, or a file
            name repeats; the message names the file and the line.

    Example:

    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "attr.txt")
    >>> _ = open(path, "w").write("2\nSmiling Bald\na.jpg 1 -1\nb.jpg -1  -1\n")
    >>> names, labels = read_attributes_file(path)
    >>> names, labels["a.jpg"].tolist()
    (('Bald', 'Smiling'), [0.0, 1.0])
    """
    path = os.path.expanduser(os.fspath(attributes_file))
    if not os.path.isfile(path):
        raise FileNotFoundError(
            "attributes_file must be an existing file. "
            f"Received: attributes_file={path!r}"
        )
    try:  # utf-8-sig: a byte-order mark (some editors write one) is not a field
        with open(path, encoding="utf-8-sig") as handle:
            text = handle.read().splitlines()
    except UnicodeDecodeError as error:
        raise ValueError(
            f"attributes_file must be UTF-8 text; byte {error.start} is not UTF-8 ({error.reason}). "
            f"Re-save it as UTF-8. Received: attributes_file={path!r}") from None
    csv = bool(text) and "," in text[0]  # Kaggle's list_attr_celeba.csv: a header, then rows
    lines = [(number, [f.strip() for f in line.split(",")] if csv else line.split())
             for number, line in enumerate(text, 1)]
    lines = [(number, fields) for number, fields in lines if any(fields)]
    if csv and lines:  # as the text format: the count, the names, the rows
        lines = [(0, [str(len(lines) - 1)]), (lines[0][0], lines[0][1][1:])] + lines[1:]

    def fail(number, problem):
        raise ValueError(f"Malformed attributes_file {path!r}, line {number}: {problem}")

    if len(lines) < 2:
        fail(len(lines) + 1, "expected the number of images on line 1 and "
             "the attribute names on line 2")
    (count_line, count_fields), (names_line, names) = lines[0], lines[1]
    if len(count_fields) != 1 or not count_fields[0].isdigit():
        fail(count_line, f"expected the number of images, got {' '.join(count_fields)!r}")
    if len(set(names)) != len(names):
        repeated = sorted({name for name in names if names.count(name) > 1})
        fail(names_line, f"an attribute name repeats: {', '.join(map(repr, repeated))}")
    count = int(count_fields[0])
    rows = lines[2:]
    if len(rows) != count:
        raise ValueError(
            f"Malformed attributes_file {path!r}: line 1 gives {count} images "
            f"but {len(rows)} image lines follow."
        )
    order = sorted(range(len(names)), key=names.__getitem__)
    labels = {}
    for number, fields in rows:
        if len(fields) != len(names) + 1:
            fail(number, f"expected a file name and {len(names)} values, got "
                 f"{len(fields)} fields")
        values = fields[1:]
        try:
            vector = np.array([_ATTRIBUTE_VALUES[v] for v in values], "float32")
        except KeyError:
            bad = next(v for v in values if v not in _ATTRIBUTE_VALUES)
            fail(number, f"values must be 1 or -1, got {bad!r}")
        if fields[0] in labels:
            fail(number, f"the file name {fields[0]!r} repeats")
        labels[fields[0]] = vector[order]
    return tuple(names[i] for i in order), labels


def _attribute_labels(folder, paths, attributes_file):
    """Attribute names and float32 0/1 vectors of `paths`, by file name."""
    names, table = read_attributes_file(attributes_file)
    seen = {}
    for path in paths:
        name = os.path.basename(path)
        if name in seen:
            raise ValueError(
                f"Two images in the folder {folder!r} have the file name "
                f"{name!r} ({seen[name]!r} and {path!r}); attributes are "
                "matched by file name, so names must be unique."
            )
        seen[name] = path
    missing = [p for p in paths if os.path.basename(p) not in table]
    if missing:
        raise ValueError(
            f"{len(missing)} image file(s) in the folder {folder!r} are not "
            f"in the attributes_file {os.fspath(attributes_file)!r}, e.g. "
            f"{missing[0]!r}. Remove them or add their lines."
        )
    labels = np.stack([table[os.path.basename(p)] for p in paths])
    return names, labels


def from_folder(
    path,
    image_size,
    batch_size=128,
    value_range=(0.0, 1.0),
    channels=3,
    shuffle=True,
    seed=None,
    drop_remainder=False,
    recursive=True,
    center_crop=None,
    with_labels=False,
    attributes_file=None,
):
    """Build a batched `tf.data.Dataset` of the images in a folder.

    Reads `.png`, `.jpg`, `.jpeg`, `.bmp` and `.gif` files (case-insensitive;
    the first frame of an animated GIF), for instance an unpacked CelebA
    `img_align_celeba` folder; other image formats (`.webp`, `.tiff`, ...)
    are skipped with a warning. Each image is converted to `channels` (an
    alpha channel is dropped, not composited over a background, as in
    `keras.utils.image_dataset_from_directory`),
    optionally center-cropped, resized (bilinear, antialiased when
    shrinking; aspect ratio is not kept) to `image_size`, and pixel values
    0..255 are mapped linearly to `value_range`.

    Labels (`with_labels=True`) come in one of two forms:

    - without `attributes_file`: int32 class ids of shape `(batch,)`, one
      class per first-level subfolder in sorted name order (as
      `keras.utils.image_dataset_from_directory(labels="inferred")`; with
      `recursive=True` an image anywhere below a class subfolder belongs to
      it). Images directly in `path` are an error. The dataset's
      `class_names` attribute lists the classes, id `i` being
      `class_names[i]`.
    - with `attributes_file` (CelebA's `list_attr_celeba.txt` format, see
      `read_attributes_file`): float32 0/1 vectors of shape `(batch, k)`,
      matched to the images by file name, with the columns in sorted name
      order (for CelebA the order of `attribute_names("celeb_a")` and of
      `load("celeb_a", with_labels=True)`). The dataset's
      `attribute_names` attribute lists the columns. Every image must have
      a line in the file (the file may list more).

    These attributes live on the returned dataset object only; a later
    `.map(...)` returns a new dataset without them.

    Corrupt files: a folder with at most 1000 images is fully decoded with
    PIL up front, so a bad file raises a `ValueError` naming it at once. In
    larger folders each file is checked as it is read: a non-image file, or
    one cut short (a JPEG without its end-of-image marker in its last 4 KiB,
    a PNG without its IEND chunk there, a GIF not ending with its trailer
    byte, a BMP shorter
    than its header says), fails iteration with an error naming it. A file
    complete in length but damaged inside then fails with TensorFlow's own
    decode error, which does not name it, or (a JPEG whose entropy-coded data
    is damaged) decodes to wrong pixels with only libjpeg's warning on
    stderr. BMPs must have 24 or 32 bits per pixel, or 8 with a grey
    palette: TensorFlow's decoder reads other BMPs (colour palettes, 1 or 4
    bits) as palette indices or not at all, so they are refused, named, in
    both kinds of folder.

    Args:
        path: str or path-like, the folder.
        image_size: int or pair `(height, width)` of ints, the output size.
        batch_size: positive int. Defaults to `128`.
        value_range: pair `(low, high)`, the range of the output values.
            Defaults to `(0.0, 1.0)`.
        channels: int, 1 (grey), 3 (RGB) or 4 (RGBA). Defaults to `3`.
        shuffle: bool, whether to reshuffle the files every epoch.
            Defaults to `True`.
        seed: `None` or int, the shuffle seed. Defaults to `None`.
        drop_remainder: bool, whether to drop a last, smaller batch.
            Defaults to `False`.
        recursive: bool, whether to include images in subfolders. Defaults
            to `True`.
        center_crop: `None`, int or pair `(height, width)`: crop this
            central window (or the whole image along a shorter axis) before
            resizing. Defaults to `None` (no crop). CelebA as in
            `load("celeb_a")`: `center_crop=140, image_size=64`.
        with_labels: bool, whether to yield `(images, labels)` batches
            (see above). Defaults to `False`.
        attributes_file: `None`, str or path-like, a CelebA-style attribute
            file giving the labels; requires `with_labels=True`. Defaults
            to `None` (class ids from subfolders).

    Returns:
        A `tf.data.Dataset` of float32 batches of shape
        `(batch, height, width, channels)`, or of `(images, labels)`.

    Raises:
        FileNotFoundError: if `path` does not exist.
        NotADirectoryError: if `path` is not a folder.
        ValueError: if the folder holds no image file, (small folders) an
            image cannot be decoded, or labels cannot be given to every
            image (see above; the message names the file or line).

    Example:

    >>> import tempfile, numpy as np
    >>> from PIL import Image
    >>> folder = tempfile.mkdtemp()
    >>> Image.fromarray(np.zeros((40, 30, 3), "uint8")).save(f"{folder}/a.png")
    >>> ds = from_folder(folder, image_size=16, batch_size=1)
    >>> tuple(next(iter(ds)).shape)
    (1, 16, 16, 3)
    >>> import os
    >>> os.mkdir(f"{folder}/cats"); os.rename(f"{folder}/a.png", f"{folder}/cats/a.png")
    >>> ds = from_folder(folder, image_size=16, batch_size=1, with_labels=True)
    >>> ds.class_names, next(iter(ds))[1].numpy().tolist()
    (('cats',), [0])
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or path-like folder. Received: path={path!r}")
    image_size = _checks.image_size("image_size", image_size, allow_none=False)
    batch_size = _checks.positive_int("batch_size", batch_size)
    value_range = _checks.value_range("value_range", value_range)
    if not _checks.is_int(channels) or channels not in (1, 3, 4):
        raise ValueError(
            "channels must be one of [1, 3, 4]. "
            f"Received: channels={channels!r}"
        )
    seed = _checks.seed("seed", seed)
    center_crop = _checks.image_size("center_crop", center_crop)
    with_labels = _checks.boolean("with_labels", with_labels)
    if attributes_file is not None and not with_labels:
        raise ValueError(
            "attributes_file gives labels, so it needs with_labels=True. "
            f"Received: with_labels={with_labels!r}, "
            f"attributes_file={attributes_file!r}"
        )
    folder = os.path.expanduser(os.fspath(path))
    if not os.path.exists(folder):
        raise FileNotFoundError(
            f"from_folder could not find the folder. Received: path={folder!r}"
        )
    if not os.path.isdir(folder):
        raise NotADirectoryError(
            f"path must be a folder of images, not a file. "
            f"Received: path={folder!r}"
        )
    class_names = attribute_names = None
    if with_labels and attributes_file is None:
        class_names, paths, labels = _class_images(folder, recursive)
    else:
        paths = _list_images(folder, recursive)
    if not paths:
        where = "or its subfolders " if recursive else ""
        raise ValueError(
            f"No image files found in the folder {folder!r} {where}"
            f"(looked for extensions {', '.join(IMAGE_EXTENSIONS)})."
        )
    if with_labels and attributes_file is not None:
        attribute_names, labels = _attribute_labels(folder, paths, attributes_file)
    _pipeline.check_batch(batch_size, len(paths), drop_remainder, (*image_size, channels),
                          f"the folder {folder!r}")
    checked = len(paths) <= EAGER_CHECK_LIMIT
    if checked:  # PIL decodes every file now; the pipeline need not check them again
        _check_with_pil(paths)

    import tensorflow as tf

    def read(path, *label):
        image = _read_image(path, channels, center_crop, image_size, check=not checked)
        return (image, *label) if label else image

    def finish(images, *label):
        images = _pipeline.to_value_range(images, value_range)
        return (images, *label) if label else images

    ds = tf.data.Dataset.from_tensor_slices((paths, labels) if with_labels else paths)
    if shuffle:
        ds = ds.shuffle(len(paths), seed=seed, reshuffle_each_iteration=True)
    ds = ds.map(read, num_parallel_calls=tf.data.AUTOTUNE)
    ds = _pipeline.batch_and_prefetch(ds, batch_size, drop_remainder, finish)
    if class_names is not None:
        ds.class_names = class_names
    if attribute_names is not None:
        ds.attribute_names = attribute_names
    return ds
