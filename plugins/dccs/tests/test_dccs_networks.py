"""The encoder's output split and shapes, and every component's conformance with core's contract."""
from __future__ import annotations

import pytest
import torch

import clust_dccs
from clust_core.components import BuildContext
from clust_core.testing import check_component, registry_with
from clust_dccs.encoders import DCCSEncoder, act_dim, pick_arch


@pytest.fixture(scope="module")
def registry():
    return registry_with(dccs=clust_dccs)


def test_every_dccs_component_conforms(registry) -> None:
    names = sorted(n for table in registry.components.values() for n in table if n.startswith("dccs."))
    assert names == ["dccs.aug_kl", "dccs.encoder", "dccs.mi", "dccs.prior"]
    for name in names:
        check_component(registry, name)


@pytest.mark.parametrize(("shape", "arch", "act"), [
    ((1, 28, 28), "28", 3200),       # Table 6: 128 x 5 x 5
    ((1, 8, 8), "28", 3200),         # digits: resized to 28 x 28 inside the 28 body
    ((3, 32, 32), "32", 512 * 4 * 4),  # Table 7: the second-last ResBlock, 512 x 4 x 4
    ((1, 96, 96), "96", 512 * 6 * 6),  # Table 8: 512 x 6 x 6
])
def test_encoder_splits_z_into_style_and_category(shape, arch, act) -> None:
    torch.manual_seed(0)
    k = 7
    ctx = BuildContext(shape=shape, k=k, n=4, dataset="x")
    assert pick_arch("auto", shape[1]) == arch and act_dim("auto", shape[1]) == act
    net = DCCSEncoder(ctx)  # grey input by default: 1 channel even for colour data
    out = net(torch.rand(4, 1, *shape[1:]))
    assert out["z"].shape == (4, 50 + k) and out["style"].shape == (4, 50)
    assert out["logits"].shape == out["probs"].shape == (4, k)
    assert out["act"].shape == (4, act)
    torch.testing.assert_close(out["z"][:, :50], out["style"])            # style first
    torch.testing.assert_close(out["z"][:, 50:], out["logits"].softmax(1))  # then z_c = softmax(logits)
    torch.testing.assert_close(out["probs"].sum(1), torch.ones(4))
    assert (out["style"] < 0).any(), "z_s is linear, not squashed"
    assert out["embedding"] is out["z"]


def test_encoder_embedding_switch_and_colour_input() -> None:
    ctx = BuildContext(shape=(3, 28, 28), k=3, n=2, dataset="x")
    net = DCCSEncoder(ctx, grayscale=False, embedding="zc")
    out = net(torch.rand(2, 3, 28, 28))
    assert out["embedding"] is out["probs"]
    with pytest.raises(Exception, match="arch"):
        DCCSEncoder(ctx, arch="64")
