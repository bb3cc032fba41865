"""Pseudo-graph (eq. 2) and pseudo-label (eqs. 7-8) rules on hand-made predictions."""
import torch

from clust_core.components import BuildContext
from clust_dccm.labels import PseudoGraph, PseudoLabel

CTX = BuildContext(shape=(1, 8, 8), k=3, n=4, dataset="x")
PROBS = torch.tensor([[0.96, 0.02, 0.02],    # confident class 0
                      [0.90, 0.05, 0.05],    # class 0, exactly at thres2
                      [0.05, 0.90, 0.05],    # class 1
                      [0.40, 0.35, 0.25]])   # unsure


def test_pseudo_graph_thresholds_the_cosine_at_095():
    z = torch.nn.functional.normalize(PROBS, dim=1)
    cos = z @ z.T
    assert cos[0, 1] > 0.95 and cos[0, 2] < 0.95 and 0.65 < cos[0, 3] < 0.95  # hand check of the example
    w = PseudoGraph(CTX)({"probs": PROBS}).pairs
    expected = torch.tensor([[1, 1, 0, 0], [1, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]], dtype=torch.bool)
    assert torch.equal(w, expected)
    assert torch.equal(PseudoGraph(CTX, threshold=0.65)({"probs": PROBS}).pairs[0, 3], torch.tensor(True))


def test_pseudo_label_is_argmax_kept_from_09():
    sup = PseudoLabel(CTX)({"probs": PROBS})
    assert sup.labels.tolist() == [0, 0, 1, 0]
    assert sup.mask.tolist() == [True, True, True, False]
    assert PseudoLabel(CTX, threshold=0.95)({"probs": PROBS}).mask.tolist() == [True, False, False, False]
