"""Double-softmax CE (eq. 5): hand-computed values, appendix A's gradient ratio, and a few descending steps."""
import math

import pytest
import torch
import torch.nn.functional as F

from clust_core.components import BuildContext, Supervision
from clust_spice.double_softmax import DoubleSoftmaxCE, double_softmax_ce_per_head
from clust_spice.heads import ClusterHeads

CTX = BuildContext(shape=(1, 8, 8), k=2, n=2, dataset="x")


def _nll(probs: list[float], c: int) -> float:
    """-log softmax(probs)[c] by hand."""
    return -math.log(math.exp(probs[c]) / sum(math.exp(p) for p in probs))


def test_per_head_value_by_hand():
    head_probs = torch.tensor([[[0.8, 0.2], [0.5, 0.5]],
                               [[0.3, 0.7], [0.9, 0.1]]])           # (B=2, H=2, K=2)
    targets = torch.tensor([[[1, 1], [0, 0]],                        # head 0: pairs (0,0), (0,1), (1,1)
                            [[0, 1], [1, 0]]], dtype=torch.float32)  # head 1: pair (1,0)
    head0 = (_nll([0.8, 0.2], 0) + _nll([0.8, 0.2], 1) + _nll([0.3, 0.7], 1)) / 3
    head1 = _nll([0.9, 0.1], 0)
    assert head0 == pytest.approx(math.log(1 + math.exp(-0.6)) / 3 + math.log(1 + math.exp(0.6)) / 3
                                  + math.log(1 + math.exp(-0.4)) / 3)
    losses = double_softmax_ce_per_head(head_probs, targets)
    assert losses.tolist() == pytest.approx([head0, head1], rel=1e-6)
    value = DoubleSoftmaxCE(CTX)([{"head_probs": head_probs}], Supervision(targets=targets))
    assert value.item() == pytest.approx((head0 + head1) / 2, rel=1e-6)


def test_shared_targets_and_empty_heads():
    head_probs = torch.tensor([[[0.8, 0.2], [0.5, 0.5]], [[0.3, 0.7], [0.9, 0.1]]])
    shared = torch.tensor([[1.0, 0.0], [0.0, 1.0]])  # (B, K): the same pairs for both heads
    expected = [(_nll([0.8, 0.2], 0) + _nll([0.3, 0.7], 1)) / 2, (_nll([0.5, 0.5], 0) + _nll([0.9, 0.1], 1)) / 2]
    assert double_softmax_ce_per_head(head_probs, shared).tolist() == pytest.approx(expected, rel=1e-6)
    none = torch.zeros(2, 2, 2)
    assert double_softmax_ce_per_head(head_probs, none).tolist() == [0.0, 0.0]


def test_appendix_a_gradient_ratio_to_plain_softmax_ce():
    """Appendix A: d(double-softmax CE)/dz_j = r_j * d(plain CE)/dz_j, with |r_j| < 1 (slower learning) and,
    for j != y, r_j = q_j + (p_y - sum_k p_k q_k) with q = softmax(p): a constant plus an increasing function of p_j,
    so the larger p_j, the larger its learning speed (eqs. A-4 to A-11)."""
    gen = torch.Generator().manual_seed(0)
    scale = torch.tensor([0.1, 1.0, 3.0, 6.0], dtype=torch.float64).repeat_interleave(200)[:, None]
    z = (torch.randn(800, 5, generator=gen, dtype=torch.float64) * scale).requires_grad_()
    y = torch.randint(0, 5, (800,), generator=gen)
    p = z.softmax(dim=1)
    targets = F.one_hot(y, 5)[:, None, :]
    (double_softmax_ce_per_head(p[:, None, :], targets) * 800).backward()
    plain = (p - F.one_hot(y, 5)).detach()                  # eq. A-4
    moving = plain.abs() > 1e-4  # the loss computes in float32
    ratio = z.grad[moving] / plain[moving]
    assert ratio.abs().max() < 1                              # the double softmax always learns slower
    label = F.one_hot(y, 5).bool()
    assert (z.grad[label & moving] / plain[label & moving]).min() > 0   # same direction on the pseudo-label
    pd = p.detach()
    q = pd.softmax(dim=1)
    closed = q + (pd.gather(1, y[:, None]) - (pd * q).sum(dim=1, keepdim=True))
    off = ~label & moving
    assert torch.allclose(z.grad[off] / plain[off], closed[off], atol=1e-3)


def test_loss_decreases_when_training_the_heads():
    torch.manual_seed(0)
    ctx = BuildContext(shape=(1, 8, 8), k=4, n=32, dataset="x")
    net = ClusterHeads(ctx, backbone="convnet_small", heads=3)
    images = torch.rand(32, 1, 8, 8)
    targets = F.one_hot(torch.arange(32) % 4, 4).float()
    loss = DoubleSoftmaxCE(ctx)
    opt = torch.optim.Adam([p for p in net.parameters() if p.requires_grad], lr=0.005)  # SPICE stage-2 solver
    values = []
    for _ in range(20):
        value = loss([net(images)], Supervision(targets=targets))
        opt.zero_grad()
        value.backward()
        opt.step()
        values.append(value.item())
    floor = math.log(1 + 3 / math.e)  # one-hot predictions: the double softmax's lowest value for K = 4
    assert values[-1] - floor < 0.5 * (values[0] - floor)
