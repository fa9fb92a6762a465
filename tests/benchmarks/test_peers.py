"""benchmarks/peers.py: the peers' networks, the FLOP counts and one short run of its pieces.

The benchmark's numbers come from its own run; these check that what it
times is what it says. Run on the torch backend only: the PyTorch peer is
plain torch, and the rest (network shapes, FLOPs, the table) does not depend
on the backend.
"""

import importlib.util
import math
import os

import keras
import numpy as np
import pytest

pytestmark = pytest.mark.skipif(keras.backend.backend() != "torch",
                                reason="backend-independent checks, and the PyTorch peer is torch code: "
                                       "run on torch only")

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(REPO, "benchmarks", "peers.py")


@pytest.fixture(scope="module")
def peers():
    spec = importlib.util.spec_from_file_location("peers", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def one_torch_thread():
    # Two threads on a busy 2-core machine spin against each other (10x slower steps).
    import torch

    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def test_flops_of_the_kerasio_networks_match_a_hand_count(peers):
    g, d = peers.kerasio_networks()
    # Multiply-adds by hand: Dense 128 -> 8192; transposed convs (input pixels
    # x 4x4 x cin x cout) 8->16, 16->32, 32->64; the 5x5 conv to RGB at 64x64.
    g_macs = (128 * 8192 + 8 * 8 * 16 * 128 * 128 + 16 * 16 * 16 * 128 * 256
              + 32 * 32 * 16 * 256 * 512 + 64 * 64 * 25 * 512 * 3)
    # Convs (output pixels x 4x4 x cin x cout) 64->32, 32->16, 16->8; Dense 8192 -> 1.
    d_macs = 32 * 32 * 16 * 3 * 64 + 16 * 16 * 16 * 64 * 128 + 8 * 8 * 16 * 128 * 128 + 8192
    assert peers.network_flops(g) == 2 * g_macs
    assert peers.network_flops(d) == 2 * d_macs
    assert g.layers[-1].output.shape[1:] == (64, 64, 3) and d.layers[-1].output.shape[1:] == (1,)
    f_g, f_d = 2 * g_macs, 2 * d_macs
    assert peers.step_flops("fresh", f_g, f_d) == 4 * f_g + 8 * f_d
    assert peers.step_flops("reuse", f_g, f_d) == 3 * f_g + 8 * f_d
    assert peers.step_flops("pytorch", f_g, f_d) == 3 * f_g + 9 * f_d


def test_the_keras_rebuild_of_the_pytorch_dcgan_has_its_shapes_and_parameters(peers, one_torch_thread):
    import torch

    torch.set_num_threads(1)
    g, d = peers.pytorch_networks_keras()
    net_g, net_d, *_ = peers.make_pytorch_peer()
    # Same trainable parameter counts (kernels; BatchNorm scale and shift).
    for keras_net, torch_net in ((g, net_g), (d, net_d)):
        keras_count = sum(math.prod(v.shape) for v in keras_net.trainable_variables)
        assert keras_count == sum(p.numel() for p in torch_net.parameters())

    # Same feature-map sizes layer by layer (Keras NHWC, torch NCHW).
    def torch_shapes(net, x):
        shapes = []
        for layer in net.main:
            x = layer(x)
            if isinstance(layer, (torch.nn.Conv2d, torch.nn.ConvTranspose2d)):
                shapes.append((x.shape[2], x.shape[3], x.shape[1]))
        return shapes

    def keras_shapes(net):
        return [tuple(layer.output.shape[1:]) for layer in net.layers
                if isinstance(layer, (keras.layers.Conv2D, keras.layers.Conv2DTranspose))]

    with torch.no_grad():
        assert keras_shapes(g) == torch_shapes(net_g, torch.zeros(1, 100, 1, 1))
        assert keras_shapes(d) == torch_shapes(net_d, torch.zeros(1, 3, 64, 64))
    # One forward FLOP count, by hand: G 1->4 (100x512), 4->8, 8->16, 16->32, 32->64.
    g_macs = 16 * 100 * 512 + 3 * (16 * 16 * 512 * 256) + 32 * 32 * 16 * 64 * 3
    assert peers.network_flops(g) == 2 * g_macs


def test_one_step_of_each_runner_trains_and_moves_the_weights(peers, one_torch_thread):
    args = peers.parse(["--backends", "torch", "--peers", "pytorch", "--scale", "32", "--reuse", "off",
                        "--torch-threads", "1"])
    runners = peers._configs("torch", args)
    assert [(r.info["peer"], r.info["who"]) for r in runners] == [("pytorch", "peer"), ("pytorch", "keras-gen")]
    for runner in runners:
        runner.model = runner._build()
        if runner.info["who"] == "peer":
            before = [p.detach().clone() for p in runner.model.net_g.parameters()]
        else:
            before = [np.array(v) for v in runner.model.generator.trainable_variables]
        losses = runner.train(1, offset=0)
        assert set(losses) == {"d_loss", "g_loss"} and all(np.isfinite(v) for v in losses.values())
        if runner.info["who"] == "peer":
            after = [p.detach() for p in runner.model.net_g.parameters()]
            assert any(not (a == b).all() for a, b in zip(after, before))
        else:
            after = [np.array(v) for v in runner.model.generator.trainable_variables]
            assert any(not np.array_equal(a, b) for a, b in zip(after, before))


def test_the_table_states_whether_each_target_is_met(peers, capsys):
    args = peers.parse(["--peers", "pytorch"])
    common = {"peer": "pytorch", "batch": 64, "f_g": 3.0, "f_d": 1.0, "flops": 1e9}
    rows = [
        dict(common, who="peer", backend="torch", options="", median_images_per_s=20.0,
             images_per_s=[20.0], ratio=1.0),
        dict(common, who="keras-gen", backend="jax", options="jit", reuse=False,
             median_images_per_s=19.0, images_per_s=[19.0], ratio=0.95),
        dict(common, who="keras-gen", backend="torch", options="reuse_fakes, eager", reuse=True,
             median_images_per_s=24.0, images_per_s=[24.0], ratio=1.2),
    ]
    peers.print_table(rows, True, args)
    out = capsys.readouterr().out
    assert "| pytorch/examples dcgan | keras-gen `fit` | torch | reuse_fakes, eager | 64 | 1.00 | 24.00 | 1.20 | 1 |" in out
    assert "with reuse_fakes: torch (reuse_fakes, eager) 1.20x the peer (target 1.1x: met)" in out
    assert "default (fresh z): jax (jit) 0.95x the peer (target 1.0x: NOT met)" in out


@pytest.mark.parametrize("argv, message", [
    (["--backends", "tensorflow,mxnet"], "--backends must be a comma-separated subset"),
    (["--repeats", "0"], "--repeats must be at least 1"),
    (["--steps", "2", "--steps-per-execution", "4"], "--steps must be at least --steps-per-execution"),
])
def test_bad_arguments_are_refused_with_the_value(peers, capsys, argv, message):
    with pytest.raises(SystemExit):
        peers.parse(argv)
    assert message in capsys.readouterr().err
