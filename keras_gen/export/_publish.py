"""Manifests, temporary folders and the all-or-none publication of a set of artefacts.

Everything an export writes is first *staged* in a private folder beside the
targets, ``.keras_gen_tmp-<pid>-<random>/``, on the same filesystem, so that
moving it into place is a rename. Publication (:func:`publish`) then:

1. writes a journal, ``commit.json``, listing every staged entry and its
   target (from here on the set is committed: it will be published whole);
2. moves the entries into place one by one, with SIGINT / SIGTERM held back:
   a file with ``os.replace`` (atomic: the old file until the new one), a
   directory by exchanging it with the old one (``renameat2`` with
   ``RENAME_EXCHANGE`` on Linux; elsewhere, or on filesystems without it, the
   old directory is renamed aside just before the new one is renamed in);
   replaced entries are kept in the staging folder until the end;
3. removes the staging folder.

If a move fails, the entries already moved are put back (the set stays as it
was) and the error is raised. If the process is killed (SIGKILL, power is
not covered) between 1 and 3, the next export into that folder finds the
journal of a dead process and finishes the publication before doing anything
else; staging folders without a journal, and scratch folders of dead
processes in the system temporary directory, are removed then too.
"""

import contextlib
import ctypes
import json
import os
import shutil
import signal
import sys
import tempfile
import threading

from keras_gen.models._saving import pid_alive as _pid_alive
# What the manifest records as size_bytes is what the runtime checks it against.
from keras_gen.runtime import artefact_size  # noqa: F401 (used by the planner)

TMP_PREFIX = ".keras_gen_tmp-"
_JOURNAL = "commit.json"
# What TensorFlow's SavedModel writers put in the folder (a re-export replaces only these).
SAVED_MODEL_ENTRIES = frozenset({"saved_model.pb", "saved_model.pbtxt", "variables", "assets",
                                 "assets.extra", "fingerprint.pb", "keras_metadata.pb"})


# ------------------------------------------------------------ manifests
def manifest_path(path):
    """The manifest written next to an artefact: ``<path>.json``."""
    return os.fspath(path).rstrip("/\\") + ".json"


def write_json(path, data):
    with open(path, "w") as f:
        json.dump(data, f, indent=2)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())


# ------------------------------------------------------ temporary folders
def temp_dir(parent=None):
    """A new private folder named ``.keras_gen_tmp-<pid>-...`` in ``parent``
    (default: the system temporary directory)."""
    return tempfile.mkdtemp(prefix=f"{TMP_PREFIX}{os.getpid()}-", dir=parent)


def _owner_pid(name):
    if not name.startswith(TMP_PREFIX):
        return None
    pid = name[len(TMP_PREFIX) :].split("-", 1)[0]
    return int(pid) if pid.isdigit() else None


def clean_stale(folder=None):
    """Finish or remove what killed exports left in ``folder`` (default: the
    system temporary directory): folders ``.keras_gen_tmp-<pid>-...`` whose
    process is gone. A committed set (journal present) is published first.

    Returns the paths removed.
    """
    folder = tempfile.gettempdir() if folder is None else folder
    try:
        names = os.listdir(folder)
    except OSError:
        return []
    removed = []
    for name in names:
        pid = _owner_pid(name)
        if pid is None or _pid_alive(pid):
            continue
        stale = os.path.join(folder, name)
        try:
            if os.lstat(stale).st_uid != os.getuid():
                continue  # another user's (a shared folder): neither finished nor removed
        except (OSError, AttributeError):  # gone, or no uids (Windows)
            pass
        if os.path.exists(os.path.join(stale, _JOURNAL)):
            _roll_forward(stale)
        shutil.rmtree(stale, ignore_errors=True)
        if not os.path.lexists(stale):
            removed.append(stale)
    return removed


# ---------------------------------------------------------- publication
def check_not_working_dir(final):
    """Refuse ``final`` when it is the working directory or one of its parents
    (publishing swaps the target out: the process would lose its folder)."""
    final = os.path.abspath(final)
    try:
        here = os.getcwd()
    except OSError:
        return
    if here == final or here.startswith(final.rstrip(os.sep) + os.sep):
        raise ValueError(
            "path is the working directory or one of its parents; replacing it would remove "
            f"the folder this process works in. Name a path inside it. Received: path={final!r}")


def check_replaceable(final, directory, what="the artefact"):
    """Refuse to replace ``final`` with a new artefact (a ``directory`` or a file;
    ``what`` names it) where that would change its kind or delete files that are
    not an artefact (a directory is replaced only when empty or a SavedModel holding
    nothing but what a SavedModel writer puts there, ``SAVED_MODEL_ENTRIES``)."""
    check_not_working_dir(final)
    if not os.path.lexists(final):
        return
    if not directory and os.path.isdir(final):
        raise IsADirectoryError(
            f"path is a directory; {what} is a file. Received: path={final!r}")
    if directory and not os.path.isdir(final):
        raise NotADirectoryError(
            f"path is a file; {what} is a directory, and replacing the file is not done "
            f"silently. Remove it or choose another path. Received: path={final!r}")
    if not directory:
        return
    entries = os.listdir(final)
    if entries and "saved_model.pb" not in entries:
        raise FileExistsError(
            "path is a directory that is not a SavedModel (no saved_model.pb) and is not empty; "
            "replacing it would delete its files. Remove it or choose another path. "
            f"Received: path={final!r}")
    others = sorted(set(entries) - SAVED_MODEL_ENTRIES)
    if others:
        raise FileExistsError(
            f"path is a SavedModel that also holds files a SavedModel does not write ({others}); "
            "replacing it would delete them. Move them out or choose another path. "
            f"Received: path={final!r}")


def open_staging(folder, path):
    """Create ``folder`` if needed, clear killed processes' leftovers and
    return a new :class:`Staging` in it; an unwritable folder is a
    ``PermissionError`` naming ``path`` (the caller's), not the staging path."""
    try:
        os.makedirs(folder, exist_ok=True)
        clean_stale(folder)
        clean_stale()
        return Staging(folder)
    except OSError as e:
        raise PermissionError(
            f"Cannot write the export to path={os.fspath(path)!r}: its folder {folder!r} cannot "
            f"be created or written ({e.strerror or e}). Choose a writable location."
        ) from e


class Staging:
    """A staging folder beside the targets of one publication (one folder)."""

    def __init__(self, folder):
        self.folder = folder
        self.dir = temp_dir(folder)
        os.mkdir(os.path.join(self.dir, "new"))
        os.mkdir(os.path.join(self.dir, "old"))

    def path(self, final):
        """Where the entry to publish at ``final`` is written."""
        return os.path.join(self.dir, "new", os.path.basename(final))

    def staged(self):
        """The paths in ``folder`` of every entry written to the staging folder so far."""
        return [os.path.join(self.folder, name)
                for name in sorted(os.listdir(os.path.join(self.dir, "new")))]

    def remove(self):
        shutil.rmtree(self.dir, ignore_errors=True)


def publish(staging, finals):
    """Move the staged entries of ``finals`` (paths in ``staging.folder``) into place."""
    entries = []
    for final in finals:
        st = os.lstat(staging.path(final))
        entries.append({"final": os.path.abspath(final), "id": [st.st_dev, st.st_ino]})
    with _signals_held():
        journal = os.path.join(staging.dir, _JOURNAL)
        write_json(journal + ".part", {"entries": entries})
        os.replace(journal + ".part", journal)
        done = []
        try:
            for entry in entries:
                done.append((entry["final"], _install(staging.dir, entry["final"])))
        except BaseException:
            for _, undo in reversed(done):
                try:
                    undo()
                except OSError:
                    pass
            os.unlink(journal)
            raise
        staging.remove()


def _install(staging_dir, final):
    """Move ``staging_dir/new/<name>`` to ``final``; return a function that undoes it."""
    name = os.path.basename(final)
    new = os.path.join(staging_dir, "new", name)
    old = os.path.join(staging_dir, "old", name)
    if os.path.lexists(old):  # left by a run killed part-way through this move
        if os.path.isdir(old) and not os.path.islink(old):
            shutil.rmtree(old)
        else:
            os.unlink(old)
    existed = os.path.lexists(final)
    both_files = not os.path.isdir(new) and not (existed and os.path.isdir(final))
    if both_files:
        if existed:
            try:
                os.link(final, old, follow_symlinks=False)
            except OSError:  # no hard links on this filesystem
                shutil.copy2(final, old, follow_symlinks=False)
        os.replace(new, final)

        def undo():
            if existed:
                os.replace(old, final)
            else:
                os.unlink(final)

        return undo
    if not existed:
        os.rename(new, final)
        return lambda: os.rename(final, new)
    if exchange(new, final):
        os.rename(new, old)  # the exchange left the old entry at `new`

        def undo():
            os.rename(old, new)
            exchange(new, final)

        return undo
    # No atomic exchange here: the shortest possible window without `final`.
    os.rename(final, old)
    os.rename(new, final)

    def undo():
        os.rename(final, new)
        os.rename(old, final)

    return undo


def _roll_forward(staging_dir):
    """Finish a committed publication whose process died part-way."""
    try:
        with open(os.path.join(staging_dir, _JOURNAL)) as f:
            entries = json.load(f)["entries"]
    except (OSError, ValueError, KeyError, TypeError):
        return
    folder = os.path.dirname(os.path.abspath(staging_dir))
    for entry in entries:
        final = entry["final"]
        if not isinstance(final, str) or os.path.dirname(os.path.abspath(final)) != folder:
            continue  # a publication only ever targets its staging folder's own folder
        new = os.path.join(staging_dir, "new", os.path.basename(final))
        try:
            st = os.lstat(new)
        except OSError:
            continue  # already moved into place
        if [st.st_dev, st.st_ino] != list(entry["id"]):
            continue  # the old entry, exchanged out of place
        try:
            _install(staging_dir, final)
        except OSError:
            pass


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100
_renameat2 = None
if sys.platform.startswith("linux"):
    try:
        _renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
        _renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
        _renameat2.restype = ctypes.c_int
    except (AttributeError, OSError):
        _renameat2 = None


def exchange(a, b):
    """Atomically swap two existing paths; False where the system cannot."""
    if _renameat2 is None:
        return False
    if _renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    errno = ctypes.get_errno()
    if errno in (22, 38, 95):  # EINVAL, ENOSYS, EOPNOTSUPP: not supported here
        return False
    raise OSError(errno, os.strerror(errno), a, None, b)


# --------------------------------------------------------------- signals
class Terminated(BaseException):
    """SIGTERM arrived during an export (raised so that clean-up runs)."""


@contextlib.contextmanager
def sigterm_raises():
    """Turn SIGTERM into :class:`Terminated` while the block runs (main thread,
    default handler only); after the clean-up the process still dies of it."""
    if threading.current_thread() is not threading.main_thread() or (
        signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL
    ):
        yield
        return

    def handler(signum, frame):
        raise Terminated()

    signal.signal(signal.SIGTERM, handler)
    try:
        yield
    except Terminated:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)
        raise
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


@contextlib.contextmanager
def _signals_held():
    """Hold SIGINT and SIGTERM back while the block runs (main thread only),
    then deliver them."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received = []
    previous = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        handler = signal.getsignal(sig)
        if handler is not None:  # None: installed outside Python, left alone
            previous[sig] = handler
            signal.signal(sig, lambda signum, frame: received.append(signum))
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        for sig in dict.fromkeys(received):
            os.kill(os.getpid(), sig)
