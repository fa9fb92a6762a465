"""keras_gen.export: all-or-none publication, interrupts, debris, the child process.

The conversion child is exercised on every backend (on TensorFlow the tests
switch off the in-process route), with a custom layer whose module lives in
a folder named with a ``:`` (which ``PYTHONPATH`` cannot carry). The layer's
module can be told to hang when imported in the child, so that tests can
interrupt an export while the child runs.
"""

import importlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time

import keras
import numpy as np
import pytest

from keras_gen import runtime
from keras_gen.export import _planner
from keras_gen.export import _publish

ex = importlib.import_module("keras_gen.export")

LAYER_MODULE = '''
import os, time
import keras

@keras.saving.register_keras_serializable(package="kg_export_test")
class Scale(keras.layers.Layer):
    def __init__(self, factor=2.0, **kwargs):
        super().__init__(**kwargs)
        self.factor = factor

    def call(self, x):
        return x * self.factor

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}

# In an export child (a process other than KG_TEST_PARENT), with KG_TEST_HANG
# set: write this process's id there and hang.
if os.environ.get("KG_TEST_HANG") and str(os.getpid()) != os.environ.get("KG_TEST_PARENT"):
    with open(os.environ["KG_TEST_HANG"] + ".part", "w") as f:
        f.write(str(os.getpid()))
    os.replace(os.environ["KG_TEST_HANG"] + ".part", os.environ["KG_TEST_HANG"])
    time.sleep(600)
'''

MODEL_CODE = '''
def make_model(Scale):
    return keras.Sequential(
        [keras.Input((3,)), keras.layers.Dense(16, activation="sigmoid"), Scale(0.5),
         keras.layers.Reshape((4, 4, 1))],
        name="scaled_generator",
    )
'''
exec(MODEL_CODE)  # make_model, shared with the subprocess below


@pytest.fixture(scope="module")
def colon_module(tmp_path_factory):
    """The folder (with a ':' in its name) and the imported layer module."""
    folder = tmp_path_factory.mktemp("mods") / "custom:layers"
    folder.mkdir()
    (folder / "kg_export_test_layers.py").write_text(LAYER_MODULE)
    sys.path.insert(0, str(folder))
    try:
        yield str(folder), importlib.import_module("kg_export_test_layers")
    finally:
        sys.path.remove(str(folder))


@pytest.fixture
def sys_tmp(tmp_path, monkeypatch):
    """A private system temporary directory for this test."""
    folder = tmp_path / "systmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def _debris(*folders):
    return [name for f in folders for name in os.listdir(f) if name.startswith(_publish.TMP_PREFIX)]


def _old_set(out):
    """A fake previous set written by hand: {relative path: bytes}."""
    files = {
        "m_generator/saved_model.pb": b"old graph",
        "m_generator.json": b'{"old": true}',
        "m_generator.tflite": b"old flatbuffer",
        "m_generator.tflite.json": b'{"old": true}',
    }
    for rel, data in files.items():
        os.makedirs(os.path.dirname(os.path.join(out, rel)), exist_ok=True)
        with open(os.path.join(out, rel), "wb") as f:
            f.write(data)
    return files


def _assert_unchanged(out, files):
    for rel, data in files.items():
        with open(os.path.join(out, rel), "rb") as f:
            assert f.read() == data, rel
    listed = [n for n in os.listdir(out) if not n.startswith(_publish.TMP_PREFIX)]
    assert sorted(listed) == sorted({rel.split("/")[0] for rel in files})


def _gone(pid, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _publish._pid_alive(pid):
            return True
        time.sleep(0.1)
    return False


def _wait_for(path, proc=None, timeout=300):
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"exited early:\n{proc.stdout.read()[-3000:]}")
        assert time.monotonic() < deadline, "the export child never started"
        time.sleep(0.1)
    with open(path) as f:
        return int(f.read())


# ----------------------------------------------------- the child process
def test_child_imports_a_module_from_a_folder_with_a_colon(colon_module, tmp_path, sys_tmp, monkeypatch):
    folder, module = colon_module
    monkeypatch.setattr(_planner, "_IN_PROCESS_ON_TENSORFLOW", False)
    model = make_model(module.Scale)
    path = tmp_path / "out" / "g.tflite"
    manifest = ex.export(model, path)
    z = np.random.default_rng(0).standard_normal((5, 3)).astype("float32")
    expected = keras.ops.convert_to_numpy(model(z))
    np.testing.assert_allclose(runtime.load(path)(z), expected, atol=1e-5)
    assert manifest["latent_dim"] == 3 and manifest["outputs"][0]["value_range"] is None
    assert ":" in folder and _debris(path.parent, sys_tmp) == []


@pytest.mark.parametrize("sig", ["SIGKILL", "SIGTERM"])
def test_killed_parent_takes_its_child_along(colon_module, tmp_path, sys_tmp, monkeypatch, sig):
    """Kill the exporting process while its child converts: SIGTERM cleans up
    at once; after SIGKILL the next run removes the debris."""
    folder, module = colon_module
    out = tmp_path / "out"
    old = _old_set(out)
    pid_file = tmp_path / "child.pid"
    script = textwrap.dedent(
        f"""
        import os, sys
        os.environ["KG_TEST_PARENT"] = str(os.getpid())
        sys.path.insert(0, {folder!r})
        import keras, kg_export_test_layers
        from keras_gen.export import _planner, export_for_mobile
        _planner._IN_PROCESS_ON_TENSORFLOW = False
        """
    ) + MODEL_CODE + (
        f"export_for_mobile(make_model(kg_export_test_layers.Scale), {str(out)!r}, 'm', "
        "quantizations=[None])\n"
    )
    env = dict(os.environ, KG_TEST_HANG=str(pid_file), TMPDIR=str(sys_tmp), KERAS_BACKEND=keras.backend.backend())
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    parent = subprocess.Popen(
        [sys.executable, "-c", script], cwd=root, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        child = _wait_for(pid_file, parent)
        parent.send_signal(getattr(signal, sig))
        returncode = parent.wait(60)
    finally:
        parent.kill()
        parent.wait()
    assert returncode == -getattr(signal, sig)  # SIGTERM still ends the process by SIGTERM
    assert _gone(child), "the conversion child outlived its parent"
    _assert_unchanged(out, old)
    if sig == "SIGTERM":
        assert _debris(out, sys_tmp) == []
        return
    assert len(_debris(out)) == 1 and len(_debris(sys_tmp)) == 1  # what the kill left

    def failing_convert(targets, specs):
        raise ex.ExportError("stopped after the clean-up")

    monkeypatch.setattr(_planner, "_convert", failing_convert)
    with pytest.raises(ex.ExportError, match="stopped after the clean-up"):
        ex.export_for_mobile(make_model(module.Scale), out, "m", quantizations=[None])
    _assert_unchanged(out, old)
    assert _debris(out, sys_tmp) == []


# ------------------------------------------------------ all or none
def _fake_convert(payload):
    def convert(targets, specs):
        for spec in specs:
            if spec["format"] == "saved_model":
                os.makedirs(spec["out"])
                with open(os.path.join(spec["out"], "saved_model.pb"), "wb") as f:
                    f.write(payload)
            else:
                with open(spec["out"], "wb") as f:
                    f.write(payload)
    return convert


@pytest.mark.parametrize("failure", ["conversion", "interrupt", "third move"])
def test_a_set_is_published_whole_or_not_at_all(colon_module, tmp_path, sys_tmp, monkeypatch, failure):
    _, module = colon_module
    out = tmp_path / "out"
    old = _old_set(out)
    model = make_model(module.Scale)
    original_install = _publish._install
    if failure == "third move":
        monkeypatch.setattr(_planner, "_convert", _fake_convert(b"new"))
        calls = []

        def failing_install(staging_dir, final):
            calls.append(final)
            if len(calls) == 3:
                raise OSError(28, "No space left on device", final)
            return original_install(staging_dir, final)

        monkeypatch.setattr(_publish, "_install", failing_install)
        with pytest.raises(OSError, match="No space left"):
            ex.export_for_mobile(model, out, "m", quantizations=[None])
        assert len(calls) == 3  # two entries had moved, and were put back
    else:
        error = ex.ExportError("converter crashed") if failure == "conversion" else KeyboardInterrupt()

        def half_then_fail(targets, specs):
            _fake_convert(b"partial")(targets, specs[:1])
            raise error

        monkeypatch.setattr(_planner, "_convert", half_then_fail)
        with pytest.raises(type(error)):
            ex.export_for_mobile(model, out, "m", quantizations=[None])
    _assert_unchanged(out, old)
    assert _debris(out, sys_tmp) == []

    monkeypatch.setattr(_publish, "_install", original_install)
    monkeypatch.setattr(_planner, "_convert", _fake_convert(b"new"))
    ex.export_for_mobile(model, out, "m", quantizations=[None])
    for rel in ("m_generator/saved_model.pb", "m_generator.tflite"):
        assert (out / rel).read_bytes() == b"new"
    assert json.loads((out / "m_generator.json").read_text())["size_bytes"] == 3
    assert _debris(out, sys_tmp) == []


def test_a_committed_set_of_a_killed_run_is_finished_by_the_next(tmp_path):
    """Killed after the journal, part-way through the moves: the next run rolls forward."""
    out = tmp_path / "out"
    old = _old_set(out)
    staging = _publish.Staging(str(out))
    finals = [str(out / rel.split("/")[0]) for rel in old]
    for final in finals:
        new = staging.path(final)
        if final.endswith("m_generator"):
            os.mkdir(new)
            _write(os.path.join(new, "saved_model.pb"), b"new")
        else:
            _write(new, b"new")
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    entries = []
    for final in finals:
        st = os.lstat(staging.path(final))
        entries.append({"final": final, "id": [st.st_dev, st.st_ino]})
    _publish.write_json(os.path.join(staging.dir, "commit.json"), {"entries": entries})
    _publish._install(staging.dir, finals[0])  # the saved model moved, then the kill
    os.rename(staging.dir, str(out / f"{_publish.TMP_PREFIX}{dead.pid}-killed"))
    assert (out / "m_generator" / "saved_model.pb").read_bytes() == b"new"
    assert (out / "m_generator.tflite").read_bytes() == b"old flatbuffer"

    removed = _publish.clean_stale(str(out))
    assert len(removed) == 1
    assert sorted(os.listdir(out)) == ["m_generator", "m_generator.json", "m_generator.tflite", "m_generator.tflite.json"]
    assert (out / "m_generator" / "saved_model.pb").read_bytes() == b"new"
    assert os.listdir(out / "m_generator") == ["saved_model.pb"]
    for name in ("m_generator.json", "m_generator.tflite", "m_generator.tflite.json"):
        assert (out / name).read_bytes() == b"new"


def test_a_journal_naming_a_path_outside_its_folder_is_not_followed(tmp_path):
    # A journal planted in a shared folder (as another user could) replaced any
    # file the exporting user could write: only the folder's own entries move.
    shared, victim = tmp_path / "shared", tmp_path / "victim"
    shared.mkdir(), victim.mkdir()
    (victim / ".bashrc").write_text("mine")
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    planted = shared / f"{_publish.TMP_PREFIX}{dead.pid}-planted"
    (planted / "new").mkdir(parents=True)
    (planted / "new" / ".bashrc").write_text("theirs")
    st = os.lstat(planted / "new" / ".bashrc")
    _publish.write_json(str(planted / "commit.json"), {"entries": [
        {"final": str(victim / ".bashrc"), "id": [st.st_dev, st.st_ino]}]})
    _publish.clean_stale(str(shared))
    assert (victim / ".bashrc").read_text() == "mine"
    assert os.listdir(shared) == []


@pytest.mark.skipif(not hasattr(os, "getuid") or os.getuid() != 0, reason="needs root to chown")
def test_another_users_staging_folder_is_left_alone(tmp_path):
    shared = tmp_path / "shared"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    theirs = shared / f"{_publish.TMP_PREFIX}{dead.pid}-theirs"
    (theirs / "new").mkdir(parents=True)
    (theirs / "commit.json").write_text('{"entries": []}')
    os.chown(theirs, 65534, 65534)
    assert _publish.clean_stale(str(shared)) == []
    assert theirs.is_dir()


def test_the_working_directory_is_not_an_export_target(tmp_path, monkeypatch):
    # Publishing swaps the target out: export(model, ".") removed the process's folder.
    monkeypatch.chdir(tmp_path)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(4), keras.layers.Reshape((2, 2, 1))])
    for path in (".", str(tmp_path), str(tmp_path.parent)):
        with pytest.raises(ValueError, match="path is the working directory or one of its parents"):
            ex.export(model, path, format="saved_model")
    assert os.getcwd() == str(tmp_path) and os.listdir(tmp_path) == []


def test_a_replaced_saved_model_directory_never_goes_missing(tmp_path):
    """Directories are exchanged atomically (renameat2) where the system can."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    if not _publish.exchange(str(tmp_path / "a"), str(tmp_path / "b")):
        pytest.skip("this filesystem cannot exchange directories atomically")
    final = tmp_path / "sm"
    final.mkdir()
    missing, stop = [], threading.Event()

    def watch():
        while not stop.is_set():
            if not os.path.isdir(final):
                missing.append(1)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        for i in range(40):
            staging = _publish.Staging(str(tmp_path))
            os.mkdir(staging.path(str(final)))
            _write(os.path.join(staging.path(str(final)), "v"), str(i).encode())
            _publish.publish(staging, [str(final)])
    finally:
        stop.set()
        watcher.join()
    assert not missing
    assert (final / "v").read_text() == "39"
    assert _debris(tmp_path) == []


def _write(path, data):
    with open(path, "wb") as f:
        f.write(data)
