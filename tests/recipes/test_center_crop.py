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
    return (args[1] if isinstance(args, tuple) else args).crop


@pytest.mark.parametrize("name, extra", [("dcgan_celeba", []), ("alter_attributes", ["attr"])])
def test_celeba_sized_folders_are_cropped_others_are_not_unless_asked(tmp_path, capsys, name, extra):
    # dcgan_celeba cropped every folder to its central 140 x 140 (a 256 x 256
    # picture lost 45% of each side); alter_attributes cropped none (CelebA's
    # 178 x 218 faces were squashed).
    recipe = load_recipe(name)
    celeba, square = _folder(tmp_path / "celeba", (178, 218)), _folder(tmp_path / "square", (256, 256))

    def argv(folder, *flags):
        attributes = ["--attributes-file", folder + "/list_attr_celeba.txt"] if extra else []
        return ["--data-dir", folder, *attributes, *flags]

    assert _crop(recipe, argv(celeba)) == 140
    assert _crop(recipe, argv(square)) is None
    assert _crop(recipe, argv(square, "--center-crop", "200")) == 200
    assert _crop(recipe, argv(celeba, "--center-crop", "0")) is None
    with pytest.raises(SystemExit) as info:
        recipe.parse_args(argv(celeba, "--center-crop", "-3"))
    assert info.value.code == 2
    assert "--center-crop must be >= 0. Received: --center-crop=-3" in capsys.readouterr().err
