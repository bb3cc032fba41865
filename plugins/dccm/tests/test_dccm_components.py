"""Every DCCM component keeps core's contract; the networks give Table 1's shapes and taps."""
import pytest
import torch

import clust_dccm
from clust_core.components import BuildContext
from clust_core.testing import check_component, registry_with
from clust_dccm.networks import LAYOUTS, build, layout_for, tap_dims

REGISTRY = registry_with(dccm=clust_dccm)
OURS = sorted({name for table in REGISTRY.components.values() for name in table if name.startswith("dccm.")})


def test_registers_the_components_and_recipe():
    assert {"dccm.net32", "dccm.net64", "dccm.net96", "dccm.net_small", "dccm.pseudo_graph", "dccm.pseudo_label",
            "dccm.graph", "dccm.label", "dccm.triplet_mi"} == set(OURS)
    assert "dccm" in REGISTRY.recipes


@pytest.mark.parametrize("name", OURS)
def test_component_conforms(name):
    check_component(REGISTRY, name)


@pytest.mark.parametrize("shape", [(3, 32, 32), (1, 28, 28)])
def test_mi_loss_conforms_on_other_shapes(shape):
    check_component(REGISTRY, "dccm.triplet_mi", shape=shape, k=10)


# (layout, input shape, paper taps (S shape, D width), code taps (M shape, Y width = K))
SHAPES = [
    ("net32", (3, 32, 32), ((64, 28, 28), 64), ((64, 14, 14), 10)),
    ("net64", (3, 64, 64), ((128, 12, 12), 256), ((64, 14, 14), 10)),
    ("net96", (3, 96, 96), ((128, 20, 20), 64), ((64, 22, 22), 10)),
    ("net_small", (1, 28, 28), ((64, 28, 28), 64), ((64, 14, 14), 10)),
    ("net_small", (1, 16, 16), ((64, 16, 16), 64), ((64, 8, 8), 10)),
    ("net_small", (1, 8, 8), ((64, 8, 8), 64), ((64, 4, 4), 10)),
]


@pytest.mark.parametrize("layout, shape, paper, code", SHAPES)
def test_network_outputs_and_taps(layout, shape, paper, code):
    ctx = BuildContext(shape=shape, k=10, n=4, dataset="x")
    for taps, (s_shape, d_width) in (("paper", paper), ("code", code)):
        out = build(ctx, layout, taps=taps)(torch.rand(4, *shape))
        assert out["probs"].shape == (4, 10)
        assert torch.allclose(out["probs"].sum(1), torch.ones(4), atol=1e-5)
        assert out["shallow"].shape == (4, *s_shape)
        assert out["deep"].shape == (4, d_width)
        assert out["embedding"].shape == (4, LAYOUTS[layout].hidden)
        assert tap_dims(ctx, layout, taps) == (s_shape[0], d_width)


def test_code_taps_take_the_logits_before_the_final_batchnorm():
    ctx = BuildContext(shape=(3, 32, 32), k=10, n=8, dataset="x")
    net = build(ctx, "net32", taps="code", final_bn=True)
    out = net(torch.rand(8, 3, 32, 32))
    assert torch.allclose(net.head_bn(out["deep"]), out["logits"], atol=1e-5)


def test_batchnorm_uses_batch_statistics_in_eval_mode_by_default():
    ctx = BuildContext(shape=(1, 8, 8), k=4, n=8, dataset="x")
    net = build(ctx, "net_small").eval()
    x = torch.rand(8, 1, 8, 8)
    # with batch statistics an image's output depends on the rest of the batch
    assert not torch.allclose(net(x)["probs"][:4], net(x[:4])["probs"])


def test_layout_is_picked_by_image_size():
    assert [layout_for((1, s, s)) for s in (8, 16, 28, 32, 64, 96)] == \
        ["net_small", "net_small", "net_small", "net32", "net64", "net96"]
