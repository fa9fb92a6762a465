"""Run the TensorFlow worker in a child process (callers on JAX or PyTorch).

The child is a fresh interpreter with ``KERAS_BACKEND=tensorflow``. It gets
this process's ``sys.path`` as JSON inside the job file (not through
``PYTHONPATH``, whose ``os.pathsep`` splitting breaks folders with ``:`` in
their names), so it imports exactly what the caller can: ``keras``, and the
modules that define custom layers. It never imports ``keras_gen``: it runs
``_worker.py`` by path.

The child dies with its parent: on Linux it asks the kernel for SIGKILL when
the parent goes (``prctl(PR_SET_PDEATHSIG)``), and on every platform a thread
watches its stdin, a pipe from the parent, and exits at end of file (which the
kernel delivers when the parent dies, however it dies). An interrupt or error
in the parent kills and reaps the child before the exception propagates.
"""

import json
import os
import subprocess
import sys

# Wall-clock limit of one conversion run.
TIMEOUT_S = 900

WORKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_worker.py")

# The child's first code: die with the parent, then take the parent's
# sys.path and run the worker by path. argv: job file, worker file, parent pid.
_BOOTSTRAP = r"""
import os, sys, threading
parent = int(sys.argv[3])
if sys.platform.startswith("linux"):
    try:
        import ctypes, signal
        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL), 0, 0, 0)
    except Exception:
        pass
if os.getppid() != parent:
    os._exit(70)

def _watch_parent():
    try:
        while os.read(0, 4096):
            pass
    except Exception:
        pass
    os._exit(70)

threading.Thread(target=_watch_parent, daemon=True).start()
import json, runpy
with open(sys.argv[1]) as f:
    sys.path[:] = json.load(f)["sys_path"]
sys.argv = [sys.argv[2], sys.argv[1]]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def child_sys_path():
    """This process's ``sys.path`` with relative entries made absolute."""
    return [os.path.abspath(p) if p else os.getcwd() for p in sys.path]


def run(job, work):
    """Write ``job`` to ``work/job.json`` and run the worker on it.

    Returns what the worker wrote to ``work/result.json`` (JSON), or None.

    Raises ``RuntimeError`` with the child's error (its ``error.txt``, else
    the end of its stderr) when it fails or runs past ``TIMEOUT_S``.
    """
    job_file = os.path.join(work, "job.json")
    with open(job_file, "w") as f:
        json.dump(dict(job, sys_path=child_sys_path()), f)
    env = dict(os.environ, KERAS_BACKEND="tensorflow")
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    log = os.path.join(work, "child.log")
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-c", _BOOTSTRAP, job_file, WORKER, str(os.getpid())],
            cwd=work,
            env=env,
            stdin=subprocess.PIPE,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            returncode = proc.wait(timeout=TIMEOUT_S)
        except subprocess.TimeoutExpired:
            returncode = None
        finally:
            # Interrupted, failed or timed out: the child goes first.
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            proc.stdin.close()
    if returncode == 0:
        result = os.path.join(work, "result.json")
        if not os.path.exists(result):
            return None
        with open(result) as f:
            return json.load(f)
    error_file = os.path.join(work, "error.txt")
    if os.path.exists(error_file):
        with open(error_file) as f:
            message = f.read()
    else:
        with open(log, errors="replace") as f:
            message = f.read()[-3000:]
        if returncode is None:
            message = f"it ran for more than {TIMEOUT_S} s and was stopped.\n{message}"
        else:
            message = f"the TensorFlow process exited with status {returncode}.\n{message}"
    raise RuntimeError(message)
