"""The `Example:` sections of the builders' docstrings run as written."""

import doctest
import pathlib
import re

import pytest

from keras_gen.networks import conv
from keras_gen.networks import dcgan
from keras_gen.networks import dense
from keras_gen.networks import factory


@pytest.mark.parametrize(
    "module", [dense, conv, dcgan, factory], ids=lambda m: m.__name__
)
def test_docstring_examples(module):
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
    # Every ">>> code" prompt of the file ran (comment-only prompts are not examples).
    prompts = re.findall(r"^\s*>>>[ \t]+(?!#)\S", pathlib.Path(module.__file__).read_text(), re.M)
    assert len(prompts) > 0
    assert result.attempted == len(prompts)
