"""benchmarks/objectives.py: its configurations, budget checks, table and curves (no training).

Backend-independent (argument handling, JSON and a PIL drawing): torch only.
"""

import importlib.util
import json
import os

import keras
import numpy as np
import pytest

pytestmark = pytest.mark.skipif(keras.backend.backend() != "torch",
                                reason="backend-independent checks of a benchmark script: torch only")

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(REPO, "benchmarks", "objectives.py")


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("objectives_bench", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _args(bench, argv):
    # main() without running anything: the parsed args and the config they give.
    captured = {}

    def fake_train(name, config, out, seed, seconds, cpu_seconds, threads):
        captured.update(name=name, config=config, seed=seed, seconds=seconds,
                        cpu_seconds=cpu_seconds, threads=threads)

    original = bench.train
    bench.train = fake_train
    try:
        bench.main(argv)
    finally:
        bench.train = original
    return captured


def test_paper_settings_and_overrides(bench):
    paper = bench.CONFIGS["wgan-gp"]
    assert (paper["d_steps"], paper["d_lr"], paper["g_lr"], paper["beta1"], paper["beta2"],
            paper["gp_weight"], paper["critic_norm"]) == (5, 1e-4, 1e-4, 0.0, 0.9, 10.0, "layer")
    got = _args(bench, ["train", "wgan-gp", "--cpu-seconds", "30", "--threads", "1", "--d-steps", "2",
                        "--g-lr", "3e-4", "--name", "try", "--seed", "4"])
    assert got["name"] == "try" and got["seed"] == 4 and got["threads"] == 1
    assert got["cpu_seconds"] == 30.0 and got["seconds"] is None
    assert got["config"]["d_steps"] == 2 and got["config"]["g_lr"] == 3e-4
    assert got["config"]["d_lr"] == 1e-4  # not overridden
    assert bench.CONFIGS["wgan-gp"]["d_steps"] == 5  # the table itself is untouched
    # A penalty weight means nothing for the other objectives.
    assert _args(bench, ["train", "hinge", "--gp-weight", "5"])["config"]["gp_weight"] is None
    # No budget given: the wall budget of earlier runs.
    assert _args(bench, ["train", "standard"])["seconds"] == 900.0
    assert "lambda 10" in bench.describe(paper) and "5 D step" in bench.describe(paper)


def test_one_budget_exactly(bench, tmp_path):
    with pytest.raises(ValueError, match="cpu_seconds"):
        bench.train("standard", bench.CONFIGS["standard"], str(tmp_path), seconds=10.0, cpu_seconds=10.0)
    with pytest.raises(ValueError, match="cpu_seconds"):
        bench.train("standard", bench.CONFIGS["standard"], str(tmp_path))
    with pytest.raises(SystemExit):
        bench.main(["train", "standard", "--seconds", "5", "--cpu-seconds", "5"])


def test_curves_one_panel_per_run_seeds_together(bench, tmp_path):
    for seed in (0, 1):
        folder = tmp_path / f"seed{seed}"
        folder.mkdir()
        for name, keys in (("standard", ("d_loss", "g_loss")), ("wgan-gp-n1", ("d_loss", "g_loss", "gp"))):
            curve = [{"step": 25 * (i + 1), "seconds": 3.0 * i, "cpu_seconds": 2.0 * (i + 1),
                      **{k: float(np.sin(i + j)) for j, k in enumerate(keys)}} for i in range(4)]
            run = {"name": name, "seed": seed, "steps": 100, "seconds": 12.0, "cpu_seconds": 8.0,
                   "budget": {"seconds": None, "cpu_seconds": 8.0, "threads": 1}, "curve": curve}
            (folder / f"{name}.json").write_text(json.dumps(run))
        (folder / "scores.json").write_text("[]")  # not a run
    runs = bench._runs(str(tmp_path))
    assert [(r["seed"], r["name"]) for r in runs] == [(0, "standard"), (0, "wgan-gp-n1"),
                                                      (1, "standard"), (1, "wgan-gp-n1")]
    png = tmp_path / "curves.png"
    bench.plot(str(tmp_path), png=str(png))
    from PIL import Image

    image = np.asarray(Image.open(png).convert("RGB"))
    assert image.shape == (300, 2 * 380, 3)  # two panels: standard, wgan-gp-n1
    # The gp curve (green) is drawn in the WGAN-GP panel only.
    green = (image[..., 1] > 120) & (image[..., 0] < 90) & (image[..., 2] < 110)
    assert green[:, 380:].sum() > 20 and green[:, :380].sum() == 0


def test_curves_grid(bench, tmp_path):
    folder = tmp_path / "seed0"
    folder.mkdir()
    for name in ("standard", "hinge", "wgan-gp", "wgan-gp-n1"):
        curve = [{"step": 25, "seconds": 1.0, "cpu_seconds": 1.0, "d_loss": 0.5, "g_loss": 1.0}]
        run = {"name": name, "seed": 0, "steps": 25, "seconds": 1.0, "cpu_seconds": 1.0,
               "budget": {"seconds": 1.0, "cpu_seconds": None, "threads": None}, "curve": curve}
        (folder / f"{name}.json").write_text(json.dumps(run))
    png = tmp_path / "curves.png"
    bench.plot(str(tmp_path), png=str(png))
    from PIL import Image

    assert Image.open(png).size == (3 * 380, 2 * 300)  # 4 panels: 3 a row
