"""--center-crop of the recipes that read a --data-dir folder."""

import numpy as np
import pytest
from PIL import Image

from tests.recipes.test_vae_digits import load_recipe


def _folder(path, size):
    path.mkdir()
    for i in range(2):
        Image.fromarray(np.zeros((size[1], size[0], 3), np.uint8)).save(path / f"{i:06d}.jpg")
    (path / "list_attr_celeba.txt").write_text("2\nSmiling\n000000.jpg 1\n000001.jpg -1\n")
    return str(path)


def _crop(recipe, argv):
    args = recipe.parse_args(argv)
    if isinstance(args, tuple):  # alter_attributes: (parser, args), checked as parsed
        return args[1].crop
    recipe.check_data_dir(args)  # dcgan_celeba: checked by main before the data loads
    return args.crop


@pytest.mark.parametrize("name, extra", [("dcgan_celeba", []), ("alter_attributes", ["attr"])])
def test_celeba_sized_folders_are_cropped_others_are_not_unless_asked(tmp_path, capsys, name, extra):
    # dcgan_celeba cropped every folder to its central 140 x 140 (a 256 x 256
    # picture lost 45% of each side); alter_attributes cropped none (CelebA's
    # 178 x 218 faces were squashed).
    recipe = load_recipe(name)
    celeba, square = _folder(tmp_path / "celeba", (178, 218)), _folder(tmp_path / "square", (256, 256))

    def argv(folder, *flags):
        attributes = (["--attributes-file", folder + "/list_attr_celeba.txt"] if extra
                      else ["--batch-size", "2"])
        return ["--data-dir", folder, *attributes, *flags]

    assert _crop(recipe, argv(celeba)) == 140
    assert _crop(recipe, argv(square)) is None
    assert _crop(recipe, argv(square, "--center-crop", "200")) == 200
    assert _crop(recipe, argv(celeba, "--center-crop", "0")) is None
    with pytest.raises(SystemExit) as info:
        _crop(recipe, argv(celeba, "--center-crop", "-3"))
    assert info.value.code == 2
    assert "--center-crop must be >= 0. Received: --center-crop=-3" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["dcgan_celeba", "alter_attributes"])
def test_a_data_dir_that_is_not_a_folder_is_a_usage_error(tmp_path, capsys, name):
    recipe = load_recipe(name)
    argv = ["--data-dir", str(tmp_path / "nope")]
    if name == "alter_attributes":
        argv += ["--attributes-file", str(tmp_path / "attr.txt")]
    with pytest.raises(SystemExit) as info:
        _crop(recipe, argv)
    assert info.value.code == 2
    assert (f"--data-dir must be an existing folder of images. Received: --data-dir={tmp_path / 'nope'}"
            in capsys.readouterr().err)


def test_a_batch_larger_than_the_folder_names_batch_size(tmp_path, capsys):
    # It said drop_remainder=True, a setting the recipe's user never sees.
    recipe = load_recipe("dcgan_celeba")
    folder = _folder(tmp_path / "two", (64, 64))
    with pytest.raises(SystemExit) as info:
        _crop(recipe, ["--data-dir", folder, "--batch-size", "8"])
    assert info.value.code == 2
    assert ("--batch-size must be at most the 2 images of --data-dir " + folder
            + ". Received: --batch-size=8") in capsys.readouterr().err


def test_an_image_missing_from_the_attributes_file_is_a_usage_error(tmp_path, capsys):
    recipe = load_recipe("alter_attributes")
    folder = _folder(tmp_path / "faces", (64, 64))
    attributes = tmp_path / "attr.txt"
    attributes.write_text("1\nSmiling\n000000.jpg 1\n")  # 000001.jpg has no row
    with pytest.raises(SystemExit) as info:
        recipe.main(["--data-dir", folder, "--attributes-file", str(attributes), "--smoke",
                     "--attribute", "Smiling",
                     "--out-dir", str(tmp_path / "out"), "--verbose", "0", "--no-deterministic"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "--data-dir / --attributes-file cannot be read:" in err and "000001.jpg" in err, err
