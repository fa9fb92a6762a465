"""Package-level checks: lazy heavy imports and runnable docstring examples."""

import ast
import doctest
import importlib
import pathlib

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


@pytest.mark.parametrize("module", MODULES)
def test_docstring_examples_run(module):
    mod = importlib.import_module(f"keras_gen.data.{module}")
    result = doctest.testmod(mod, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
    if not module.startswith("_"):
        assert result.attempted > 0  # Every public module shows an example.


def test_public_api():
    assert sorted(keras_gen.data.__all__) == sorted(
        [
            "DatasetUnavailableError",
            "IMAGE_EXTENSIONS",
            "SUPPORTED_DATASETS",
            "check_value_range",
            "from_folder",
            "from_numpy",
            "load",
            "load_digits",
            "rescale",
        ]
    )
    for name in keras_gen.data.__all__:
        obj = getattr(keras_gen.data, name)
        if callable(obj):
            doc = obj.__doc__
            assert doc and "Example:" in doc and (">>>" in doc), name
