import os
import re

import numpy as np
import pytest
from PIL import Image

from keras_gen.data import folder as folder_module
from keras_gen.data import from_folder


def _save(path, array, format=None):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(np.asarray(array, "uint8")).save(path, format=format)


def _grey_levels(ds):
    """Per-image mean value of every image the dataset yields."""
    return np.sort(np.concatenate([np.asarray(b).mean(axis=(1, 2, 3)) for b in ds]))


@pytest.fixture
def image_folder(tmp_path):
    """Seven images of constant grey level 0, 51, ..., in mixed formats."""
    _save(tmp_path / "a.png", np.full((10, 12, 3), 0))
    _save(tmp_path / "b.PNG", np.full((9, 9, 4), 51))  # RGBA, upper-case suffix.
    _save(tmp_path / "c.jpg", np.full((16, 8), 102))  # Greyscale JPEG.
    _save(tmp_path / "d.bmp", np.full((5, 7, 3), 153))
    _save(tmp_path / "e.gif", np.full((6, 6, 3), 204))
    _save(tmp_path / "sub" / "f.jpeg", np.full((20, 20, 3), 255))
    _save(tmp_path / "sub" / "deeper" / "g.png", np.full((3, 3), 255))
    (tmp_path / "notes.txt").write_text("not an image")
    return tmp_path


def test_reads_every_format_recursively(image_folder):
    ds = from_folder(image_folder, image_size=8, batch_size=4, value_range=(-1, 1), seed=0)
    batches = [b.numpy() for b in ds]
    assert [b.shape for b in batches] == [(4, 8, 8, 3), (3, 8, 8, 3)]
    assert all(b.dtype == np.float32 for b in batches)
    # Grey levels 0..255 map linearly onto (-1, 1); JPEG may be off by a bit.
    expected = np.array([0, 51, 102, 153, 204, 255, 255]) / 127.5 - 1.0
    np.testing.assert_allclose(_grey_levels(batches), expected, atol=0.02)


def test_not_recursive_and_drop_remainder(image_folder):
    ds = from_folder(image_folder, image_size=(4, 6), batch_size=2, recursive=False, drop_remainder=True)
    shapes = [tuple(b.shape) for b in ds]
    assert shapes == [(2, 4, 6, 3), (2, 4, 6, 3)]  # 5 top-level images.


@pytest.mark.parametrize("channels", [1, 4])
def test_channels(image_folder, channels):
    ds = from_folder(image_folder, image_size=4, batch_size=16, channels=channels, shuffle=False)
    images = next(iter(ds)).numpy()
    assert images.shape == (7, 4, 4, channels)
    assert images.min() >= 0.0 and images.max() <= 1.0
    if channels == 4:  # b.PNG keeps its alpha (51); opaque alpha elsewhere.
        alpha = images[..., 3].mean(axis=(1, 2))
        np.testing.assert_allclose(alpha, [1, 0.2, 1, 1, 1, 1, 1], atol=1e-6)


def test_shuffle_is_seeded(image_folder):
    def order(seed):
        ds = from_folder(image_folder, image_size=2, batch_size=7, seed=seed)
        return next(iter(ds)).numpy().mean(axis=(1, 2, 3))

    np.testing.assert_array_equal(order(3), order(3))
    unshuffled = next(iter(from_folder(image_folder, image_size=2, batch_size=7, shuffle=False)))
    # Sorted file order: a, b, c, d, e, sub/deeper/g, sub/f.
    np.testing.assert_allclose(unshuffled.numpy().mean(axis=(1, 2, 3)), [0, 0.2, 0.4, 0.6, 0.8, 1, 1], atol=0.01)


def test_center_crop(tmp_path):
    image = np.zeros((12, 10, 3))
    image[4:8, 3:7] = 255  # White 4x4 centre on black.
    _save(tmp_path / "x.png", image)
    cropped = next(iter(from_folder(tmp_path, image_size=4, center_crop=4, batch_size=1)))
    np.testing.assert_allclose(cropped.numpy(), 1.0)
    whole = next(iter(from_folder(tmp_path, image_size=4, batch_size=1)))
    assert whole.numpy().mean() < 0.5


def test_missing_path(tmp_path):
    missing = tmp_path / "nope"
    with pytest.raises(FileNotFoundError, match=f"Received: path='{missing}'"):
        from_folder(missing, image_size=8)


def test_path_is_a_file(image_folder):
    with pytest.raises(NotADirectoryError, match="path must be a folder of images, not a file"):
        from_folder(image_folder / "a.png", image_size=8)


def test_folder_without_images(tmp_path):
    (tmp_path / "readme.txt").write_text("hi")
    with pytest.raises(ValueError, match=rf"No image files found in the folder '{tmp_path}'.*\.png, \.jpg, \.jpeg, \.bmp, \.gif"):
        from_folder(tmp_path, image_size=8)
    _save(tmp_path / "sub" / "only.png", np.zeros((2, 2)))
    from_folder(tmp_path, image_size=8)  # Found in the subfolder...
    with pytest.raises(ValueError, match=r"No image files found in the folder '.*' \(looked"):
        from_folder(tmp_path, image_size=8, recursive=False)  # ...but not here.


def test_corrupt_image_is_named(image_folder):
    (image_folder / "sub" / "bad.png").write_bytes(b"this is not a png")
    with pytest.raises(ValueError, match=r"could not decode the image file '.*sub/bad\.png'"):
        from_folder(image_folder, image_size=8)


def test_truncated_image_is_named(image_folder):
    data = (image_folder / "a.png").read_bytes()
    (image_folder / "cut.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"cut\.png"):
        from_folder(image_folder, image_size=8)


def test_unsupported_format_is_named(image_folder):
    _save(image_folder / "tiff_inside.jpg", np.zeros((4, 4, 3)), format="TIFF")
    with pytest.raises(ValueError, match=r"tiff_inside\.jpg': it is a TIFF image"):
        from_folder(image_folder, image_size=8)


def test_large_folder_names_bad_file_while_reading(image_folder, monkeypatch):
    import tensorflow as tf

    # Pretend the folder is too large for the up-front check.
    monkeypatch.setattr(folder_module, "EAGER_CHECK_LIMIT", 0)
    (image_folder / "zz_bad.jpg").write_bytes(b"<html>404 Not Found</html>")
    ds = from_folder(image_folder, image_size=8, batch_size=2, shuffle=False)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"cannot decode the image file.*zz_bad\.jpg"):
        for _ in ds:
            pass


def _bmps(folder):
    """A colour-palette BMP, a 1-bit BMP, and an 8-bit grey one (readable) with its pixels."""
    rng = np.random.default_rng(0)
    colour = Image.fromarray(rng.integers(0, 256, (6, 6, 3), dtype=np.uint8), "RGB").quantize(8)
    colour.save(folder / "palette.bmp")
    grey = rng.integers(0, 256, (6, 6), dtype=np.uint8)
    Image.fromarray(grey, "L").convert("1").save(folder / "one_bit.bmp")
    Image.fromarray(grey, "L").save(folder / "grey.bmp")
    return grey


@pytest.mark.parametrize("large", [False, True])
def test_bmps_tensorflow_misreads_are_named(tmp_path, monkeypatch, large):
    # A colour-palette BMP loaded as its palette indices (grey noise) without a
    # word; a 1-bit one failed inside TensorFlow without naming the file.
    import tensorflow as tf

    if large:  # the check made while reading, for folders too large to decode up front
        monkeypatch.setattr(folder_module, "EAGER_CHECK_LIMIT", 0)
    grey = _bmps(tmp_path)
    error = tf.errors.InvalidArgumentError if large else ValueError
    for name in ("palette.bmp", "one_bit.bmp"):
        only = tmp_path / name.split(".")[0]
        only.mkdir()
        os.replace(tmp_path / name, only / name)
        with pytest.raises(error, match=r"cannot read the image file.*" + re.escape(name)
                           if not large else r"BMP with a colour palette.*" + re.escape(name)):
            for _ in from_folder(only, image_size=6, channels=1, shuffle=False):
                pass
    ds = from_folder(tmp_path, image_size=6, channels=1, shuffle=False, recursive=False)
    (image,) = [np.asarray(b) for b in ds.unbatch()]
    np.testing.assert_allclose(image[..., 0] * 255.0, grey, atol=1e-3)  # 8-bit grey reads as it is


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"image_size": None}, TypeError, "Received: image_size=None"),
        ({"image_size": (8, 0)}, ValueError, r"Received: image_size=\(8, 0\)"),
        ({"image_size": 8, "batch_size": -1}, ValueError, "Received: batch_size=-1"),
        ({"image_size": 8, "channels": 2}, ValueError, r"channels must be one of \[1, 3, 4\]. Received: channels=2"),
        ({"image_size": 8, "channels": 3.0}, ValueError, "Received: channels=3.0"),
        ({"image_size": 8, "value_range": (0, -1)}, ValueError, r"Received: value_range=\(0, -1\)"),
        ({"image_size": 8, "center_crop": 0}, ValueError, "Received: center_crop=0"),
    ],
)
def test_bad_arguments(image_folder, kwargs, error, match):
    with pytest.raises(error, match=match):
        from_folder(image_folder, **kwargs)


# --- Labels ------------------------------------------------------------------


@pytest.fixture
def class_folder(tmp_path):
    """cats: two images at level 10; dogs: one at 200 plus one deeper at 250."""
    _save(tmp_path / "cats" / "c1.png", np.full((6, 6, 3), 10))
    _save(tmp_path / "cats" / "c2.jpg", np.full((6, 6, 3), 10))
    _save(tmp_path / "dogs" / "d1.png", np.full((6, 6, 3), 200))
    _save(tmp_path / "dogs" / "more" / "d2.png", np.full((6, 6, 3), 250))
    return tmp_path


def _pairs(ds):
    images, labels = zip(*[(x.numpy(), y.numpy()) for x, y in ds])
    return np.concatenate(images), np.concatenate(labels)


def test_class_ids_from_subfolders(class_folder):
    ds = from_folder(class_folder, image_size=4, batch_size=3, with_labels=True, seed=1)
    assert ds.class_names == ("cats", "dogs")
    images, labels = _pairs(ds)
    assert labels.dtype == np.int32 and labels.shape == (4,)
    levels = images.mean(axis=(1, 2, 3)) * 255
    np.testing.assert_array_equal(labels, (levels > 100).astype("int32"))
    assert sorted(np.round(levels).astype(int).tolist()) == [10, 10, 200, 250]
    shallow = from_folder(class_folder, image_size=4, with_labels=True, recursive=False, shuffle=False)
    images, labels = _pairs(shallow)
    assert labels.tolist() == [0, 0, 1]  # dogs/more/d2.png is not read.


def test_class_ids_count_every_subfolder(class_folder):
    (class_folder / "aardvarks").mkdir()  # Empty, still class 0 (as Keras).
    ds = from_folder(class_folder, image_size=2, with_labels=True, shuffle=False)
    assert ds.class_names == ("aardvarks", "cats", "dogs")
    assert _pairs(ds)[1].tolist() == [1, 1, 2, 2]


def test_class_ids_refuse_images_at_the_root(class_folder):
    _save(class_folder / "stray.png", np.zeros((4, 4, 3)))
    with pytest.raises(ValueError, match=r"1 image\(s\) lie directly in the folder .* 'stray.png'"):
        from_folder(class_folder, image_size=2, with_labels=True)
    # Without labels the same folder reads as before.
    assert next(iter(from_folder(class_folder, image_size=2, batch_size=8))).shape == (5, 2, 2, 3)


def _attribute_file(path, header, rows, count=None):
    lines = [str(len(rows) if count is None else count), header] + rows
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def celeb_folder(tmp_path):
    """Three 'faces' at levels 0, 100, 200 and an attribute file for them."""
    images = tmp_path / "img_align_celeba"
    for name, level in [("000001.jpg", 0), ("000002.jpg", 100), ("000003.png", 200)]:
        _save(images / name, np.full((8, 8, 3), level))
    # Columns not in sorted order, CelebA's -1/1 values, ragged spacing,
    # a Windows line end, and a line for an image the folder lacks.
    attributes = _attribute_file(tmp_path / "list_attr.txt", "Smiling  Bald Young ", [
        "000001.jpg  1 -1  1",
        "000002.jpg -1 -1 -1\r",
        "000003.png\t-1  1  1",
        "000004.jpg  1  1  1",
    ])
    return images, attributes


def test_attribute_vectors_by_file_name(celeb_folder):
    images, attributes = celeb_folder
    ds = from_folder(images, image_size=4, batch_size=2, with_labels=True,
                     attributes_file=attributes, seed=0)
    assert ds.attribute_names == ("Bald", "Smiling", "Young")
    x, y = _pairs(ds)
    assert y.dtype == np.float32 and y.shape == (3, 3)
    expected = {0: [0, 1, 1], 100: [0, 0, 0], 200: [1, 0, 1]}  # By level.
    levels = np.round(x.mean(axis=(1, 2, 3)) * 255 / 100).astype(int) * 100
    assert [expected[level] for level in levels] == y.tolist()


def test_celeb_a_file_columns_match_load(tmp_path):
    from keras_gen.data import attribute_names

    celeb_a_order = attribute_names("celeb_a")
    shuffled = list(reversed(celeb_a_order))
    values = ["1" if name in ("Smiling", "Young") else "-1" for name in shuffled]
    _save(tmp_path / "faces" / "a.jpg", np.zeros((4, 4, 3)))
    attributes = _attribute_file(tmp_path / "attr.txt", " ".join(shuffled), ["a.jpg " + " ".join(values)])
    ds = from_folder(tmp_path / "faces", image_size=2, with_labels=True, attributes_file=attributes)
    assert ds.attribute_names == celeb_a_order
    _, y = _pairs(ds)
    assert y[0].tolist() == [float(n in ("Smiling", "Young")) for n in celeb_a_order]


def test_read_attributes_file(celeb_folder):
    from keras_gen.data import read_attributes_file

    _, attributes = celeb_folder
    names, table = read_attributes_file(attributes)
    assert names == ("Bald", "Smiling", "Young") and len(table) == 4
    assert table["000004.jpg"].tolist() == [1.0, 1.0, 1.0] and table["000004.jpg"].dtype == np.float32


def test_image_missing_from_the_attribute_file(celeb_folder):
    images, attributes = celeb_folder
    _save(images / "000009.jpg", np.zeros((4, 4, 3)))
    with pytest.raises(ValueError, match=r"1 image file\(s\) in the folder .* not in the attributes_file .*000009\.jpg"):
        from_folder(images, image_size=2, with_labels=True, attributes_file=attributes)


@pytest.mark.parametrize(
    "header, rows, count, match",
    [
        ("A B", ["x.png 1 -1", "y.png 1"], None, r"line 4: expected a file name and 2 values, got 2 fields"),
        ("A B", ["x.png 1 2"], None, r"line 3: values must be 1 or -1, got '2'"),
        ("A B", ["x.png 1 -1", "x.png 1 1"], None, r"line 4: the file name 'x.png' repeats"),
        ("A B", ["x.png 1 -1"], 2, r"line 1 gives 2 images but 1 image lines follow"),
        ("A B", ["x.png 1 -1"], "two", r"line 1: expected the number of images, got 'two'"),
        ("A B A", ["x.png 1 -1 1"], None, r"line 2: an attribute name repeats: 'A'$"),
    ],
)
def test_malformed_attribute_files(tmp_path, header, rows, count, match):
    _save(tmp_path / "images" / "x.png", np.zeros((4, 4, 3)))
    attributes = _attribute_file(tmp_path / "attr.txt", header, rows, count)
    with pytest.raises(ValueError, match=rf"Malformed attributes_file '.*attr\.txt'.*{match}"):
        from_folder(tmp_path / "images", image_size=2, with_labels=True, attributes_file=attributes)


def test_attribute_file_arguments(celeb_folder, tmp_path):
    images, attributes = celeb_folder
    with pytest.raises(ValueError, match=r"needs with_labels=True. Received: with_labels=False"):
        from_folder(images, image_size=2, attributes_file=attributes)
    with pytest.raises(FileNotFoundError, match=r"Received: attributes_file='.*nope\.txt'"):
        from_folder(images, image_size=2, with_labels=True, attributes_file=tmp_path / "nope.txt")
    with pytest.raises(TypeError, match="with_labels must be a bool. Received: with_labels='yes'"):
        from_folder(images, image_size=2, with_labels="yes")
    _save(images / "sub" / "000001.jpg", np.zeros((4, 4, 3)))
    with pytest.raises(ValueError, match=r"have the file name '000001\.jpg'"):
        from_folder(images, image_size=2, with_labels=True, attributes_file=attributes)


def test_a_path_that_is_not_a_path_is_named():
    with pytest.raises(TypeError, match=r"path must be a str or path-like folder. Received: path=5"):
        from_folder(5, image_size=8)


def test_attributes_files_with_a_bom_as_csv_or_not_utf8(tmp_path):
    # A BOM read as part of the count, Kaggle's CSV refused, Latin-1 a bare UnicodeDecodeError.
    from keras_gen.data import read_attributes_file

    text = "2\nSmiling Bald\na.jpg 1 -1\nb.jpg -1 1\n"
    bom, csv, latin = tmp_path / "bom.txt", tmp_path / "attr.csv", tmp_path / "latin.txt"
    bom.write_bytes(b"\xef\xbb\xbf" + text.encode())
    csv.write_text("image_id,Smiling,Bald\na.jpg,1,-1\nb.jpg,-1,1\n")
    latin.write_bytes("2\nSmiling Bald\nb\xe9b\xe9.jpg 1 -1\nb.jpg -1 1\n".encode("latin-1"))
    for path in (bom, csv):
        names, table = read_attributes_file(path)
        assert names == ("Bald", "Smiling")
        assert table["a.jpg"].tolist() == [0.0, 1.0] and table["b.jpg"].tolist() == [1.0, 0.0]
    with pytest.raises(ValueError, match=r"attributes_file must be UTF-8 text; byte \d+ is not UTF-8"):
        read_attributes_file(latin)


def test_image_files_of_formats_not_read_are_named_in_a_warning(tmp_path):
    # .webp and .tiff files were left out without a word.
    import keras_gen

    rng = np.random.default_rng(0)
    for name in ("a.png", "b.png", "c.webp", "d.tiff"):
        Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(tmp_path / name)
    with pytest.warns(UserWarning, match=r"skips 2 image file\(s\) of a format it does not read"):
        ds = keras_gen.data.from_folder(tmp_path, image_size=8, batch_size=2, shuffle=False)
    assert [tuple(b.shape) for b in ds] == [(2, 8, 8, 3)]
