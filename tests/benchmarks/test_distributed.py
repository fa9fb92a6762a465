"""benchmarks/distributed.py: its arithmetic, its checks, and one tiny 2-process set-up.

Run on the torch backend only: the table and the checks do not depend on the
backend, and one real set-up (2 processes through the launcher's variables)
shows the benchmark's processes join and time; each backend's engine has its
own tests.
"""

import importlib.util
import os

import keras
import pytest

pytestmark = pytest.mark.skipif(keras.backend.backend() != "torch",
                                reason="backend-independent checks and one smoke run: torch only")

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(REPO, "benchmarks", "distributed.py")


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("distributed_bench", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_speedup_and_communication_share(bench):
    # 1 proc 30 ms, 2 procs 20 ms of which 15 ms is one process's own half batch.
    row = bench.summarize("torch", {"1 proc": 0.030, "procs": 0.020, "local": 0.015})
    assert row["speedup"] == pytest.approx(1.5)
    assert row["comm_share"] == pytest.approx(0.25)
    text = bench.table([row, bench.summarize("jax", {"1 proc": 0.01})])
    assert "| torch | 30.0 | 20.0 | 15.0 | 1.50x | 25% |" in text
    assert "| jax | 10.0 | - | - | - | - |" in text
    assert "2 procs x 1 core" in text
    assert bench.median([3.0, 1.0, 2.0]) == 2.0 and bench.median([4.0, 1.0]) == 2.5


@pytest.mark.parametrize("argv, message", [
    (["--backends", "mxnet"], "--backends must name backends"),
    (["--batch-size", "15"], "--batch-size must be a multiple of --processes"),
    (["--processes", "1"], "--processes must be >= 2"),
    (["--rounds", "0"], "--rounds must be >= 1"),
])
def test_arguments_are_checked(bench, argv, message, capsys):
    with pytest.raises(SystemExit):
        bench.parse_args(argv)
    assert message in capsys.readouterr().err


def test_two_processes_join_and_time_a_step(bench):
    # The --quick network, 2 processes as the benchmark's "2 procs" set-up
    # starts them (not pinned to cores here: starting is what is slow).
    times = bench.run_setup("torch", "procs", 2, None, 16, 2, 1, "quick", timeout=120)
    assert len(times) == 1 and 0 < times[0] < 60
