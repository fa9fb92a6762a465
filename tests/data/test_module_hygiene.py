"""Package-level checks: lazy heavy imports and runnable docstring examples."""

import ast
import doctest
import importlib
import pathlib
import re

import pytest

import keras_gen.data

DATA_DIR = pathlib.Path(keras_gen.data.__file__).parent
MODULES = sorted(p.stem for p in DATA_DIR.glob("*.py") if p.stem != "__init__")
HEAVY = {"tensorflow", "tensorflow_datasets", "sklearn", "PIL"}


@pytest.mark.parametrize("module", MODULES)
def test_heavy_libraries_are_imported_lazily(module):
    tree = ast.parse((DATA_DIR / f"{module}.py").read_text())
    top_level = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            top_level |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            top_level.add(node.module.split(".")[0])
    assert not top_level & HEAVY


# A ">>> " prompt followed by code (doctest skips prompts holding only a comment).
PROMPT = re.compile(r"^\s*>>>[ \t]+(?!#)\S", re.MULTILINE)


def _prompts(module):
    return len(PROMPT.findall((DATA_DIR / f"{module}.py").read_text()))


def test_data_modules_have_examples():
    # The parametrised test below cannot pass with nothing to run.
    assert "digits" in MODULES and "folder" in MODULES
    assert sum(_prompts(m) for m in MODULES) >= 15


@pytest.mark.parametrize("module", MODULES)
def test_docstring_examples_run(module):
    mod = importlib.import_module(f"keras_gen.data.{module}")
    result = doctest.testmod(mod, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
    # Every example in the file ran (none sits where doctest does not look).
    assert result.attempted == _prompts(module)
    if not module.startswith("_"):
        assert result.attempted > 0  # Every public module shows an example.


def test_public_api():
    assert sorted(keras_gen.data.__all__) == sorted(
        [
            "CELEB_A_ATTRIBUTES",
            "DatasetUnavailableError",
            "IMAGE_EXTENSIONS",
            "SHAPES_ATTRIBUTES",
            "SUPPORTED_DATASETS",
            "attribute_names",
            "check_value_range",
            "for_busy_machine",
            "from_folder",
            "from_numpy",
            "load",
            "load_digits",
            "load_shapes",
            "pipeline_options",
            "read_attributes_file",
            "render_shapes",
            "rescale",
            "shape_factors",
        ]
    )
    for name in keras_gen.data.__all__:
        obj = getattr(keras_gen.data, name)
        if callable(obj):
            doc = obj.__doc__
            assert doc and "Example:" in doc and (">>>" in doc), name
