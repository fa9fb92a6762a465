"""Every ``>>>`` example in keras_gen's docstrings runs, on the current backend.

Modules are found with ``pkgutil.walk_packages``, so a new module is covered
without being listed here. For each module the number of examples doctest
runs must equal the number of ``>>>`` lines (comment-only ones aside) in its
source file, counted here without doctest: an example doctest cannot see (a
docstring on an object it does not collect) fails the test rather than going
silently unrun.
"""

import doctest
import importlib
import io
import pathlib
import pkgutil
import re

import keras
import pytest

import keras_gen

# Optional pieces: a module that needs one of these and cannot import it is
# skipped (with the reason); any other import error fails.
OPTIONAL = {"keras_tuner", "tensorflow", "tensorflow_datasets", "torch", "jax", "PIL", "sklearn"}

# Fewer examples than this in the whole package means the finder is broken
# (keras_gen had well over 150 when this test was written).
MIN_EXAMPLES = 100

# Docstrings whose examples show something a backend does not support (the
# docstring says so); they run on every other backend.
NOT_ON = {}

FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE

# A ">>> " prompt followed by code (doctest skips prompts holding only a comment).
PROMPT = re.compile(r"^\s*>>>[ \t]+(?!#)\S", re.MULTILINE)


def _module_names():
    errors = []
    names = [
        info.name
        for info in pkgutil.walk_packages(keras_gen.__path__, "keras_gen.", onerror=errors.append)
    ]
    return ["keras_gen"] + sorted(names), errors


MODULES, WALK_ERRORS = _module_names()


def _import(name):
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as e:
        root = (e.name or "").split(".")[0]
        if root in OPTIONAL:
            pytest.skip(f"{name} needs the optional package {root!r}, not installed")
        raise


def _source_prompts(module):
    path = pathlib.Path(module.__file__)
    return len(PROMPT.findall(path.read_text(encoding="utf-8")))


def _run(module):
    """(attempted, failed, not run, report) for the docstring examples of ``module``."""
    out = io.StringIO()
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    not_run = 0
    for test in doctest.DocTestFinder().find(module):
        if test.name in NOT_ON.get(keras.backend.backend(), ()):
            not_run += len(PROMPT.findall(test.docstring))
        elif test.examples:
            runner.run(test, out=out.write)
    result = runner.summarize(verbose=False)
    return result.attempted, result.failed, not_run, out.getvalue()


def test_every_module_is_found():
    assert not WALK_ERRORS, WALK_ERRORS
    # Independent of the walk: every .py file under the package is a module in the list.
    root = pathlib.Path(keras_gen.__file__).parent
    on_disk = set()
    for path in root.rglob("*.py"):
        parts = path.relative_to(root).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        on_disk.add(".".join(("keras_gen",) + parts))
    assert on_disk <= set(MODULES), sorted(on_disk - set(MODULES))


def test_the_package_has_examples():
    total = 0
    names = set()
    for name in MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError:
            continue
        for test in doctest.DocTestFinder().find(module):
            total += len(test.examples)
            names.add(test.name)
    assert total >= MIN_EXAMPLES, total
    # The exceptions above name docstrings that exist.
    for backend, skipped in NOT_ON.items():
        assert skipped <= names, (backend, skipped - names)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name, tmp_path, monkeypatch):
    module = _import(name)
    expected = _source_prompts(module)
    # Examples that write files write them under a fresh folder.
    monkeypatch.chdir(tmp_path)
    attempted, failed, not_run, report = _run(module)
    assert failed == 0, f"{failed} of {attempted} examples failed in {name}:\n{report}"
    assert attempted + not_run == expected, (
        f"{name}: doctest ran {attempted} examples but the source has {expected} '>>>' "
        "prompts; an example in a docstring doctest does not collect never runs"
    )
