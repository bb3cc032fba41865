"""Registration of DCCM's components; their defaults and sources are in the factories' signatures.

DCCM: Wu et al., ICCV 2019, https://arxiv.org/abs/1904.06925; released code: https://github.com/Cory-M/DCCM.
The networks' factory takes ``**params``, so their defaults are declared here.
"""
from __future__ import annotations

from functools import partial

from clust_core.components import InputSpec, LossSpec, PseudoLabelerSpec, RepresentationSpec

from .labels import PseudoGraph, PseudoLabel
from .losses import GraphLoss, LabelLoss
from .mutual_info import TripletMI
from .networks import build

NET_PARAMS = {
    "taps": "paper",               # S / D of supplement §4; "code": first max-pool / last Linear (cfgs/cifar10.yaml)
    "final_bn": False,             # supplement Table 1 has none; the code adds BatchNorm1d(K) before the softmax
    "track_running_stats": False,  # code (models/cifar_C4_L2.py): BatchNorm always uses batch statistics
    "linear_init": "identity",     # code (models/cifar_C4_L2.py): eye_ Linear init; the paper does not say
}
NET_OUTPUTS = frozenset({"embedding", "logits", "probs", "shallow", "deep"})

REPRESENTATIONS = [
    RepresentationSpec(name="net32", factory=partial(build, layout="net32"), params=NET_PARAMS,
                       produces=NET_OUTPUTS, accepts=InputSpec(min_size=20),
                       doc="Supplement Table 1, CIFAR column (32x32): 4 convs, 2 FC."),
    RepresentationSpec(name="net64", factory=partial(build, layout="net64"), params=NET_PARAMS,
                       produces=NET_OUTPUTS, accepts=InputSpec(min_size=40),
                       doc="Supplement Table 1, Tiny-ImageNet column (64x64): 5 convs, 2 FC."),
    RepresentationSpec(name="net96", factory=partial(build, layout="net96"), params=NET_PARAMS,
                       produces=NET_OUTPUTS, accepts=InputSpec(min_size=40),
                       doc="Supplement Table 1, STL-10/ImageNet column (96x96): 5 convs, 2 FC."),
    RepresentationSpec(name="net_small", factory=partial(build, layout="net_small"), params=NET_PARAMS,
                       produces=NET_OUTPUTS, accepts=InputSpec(min_size=4),
                       doc="The CIFAR pattern with padding 1, for 8-28 px images (not in the paper)."),
]

LABELERS = [
    PseudoLabelerSpec(name="pseudo_graph", factory=PseudoGraph, needs=frozenset({"probs"}),
                      produces=frozenset({"pairs"}), scope="batch",
                      doc="W_ij = [cos(z_i, z_j) >= thres1] over the batch (eq. 2)."),
    PseudoLabelerSpec(name="pseudo_label", factory=PseudoLabel, needs=frozenset({"probs"}),
                      produces=frozenset({"labels", "mask"}), scope="batch",
                      doc="y_i = argmax z_i (eq. 7), kept where max z_i >= thres2 (eq. 8)."),
]

LOSSES = [
    LossSpec(name="graph", factory=GraphLoss, needs=frozenset({"probs"}), needs_supervision=frozenset({"pairs"}),
             doc="Pseudo-graph loss: BCE between cosine similarities and W (eqs. 3, 12)."),
    LossSpec(name="label", factory=LabelLoss, needs=frozenset({"probs"}),
             needs_supervision=frozenset({"labels", "mask"}),
             doc="Pseudo-label loss: V-weighted cross-entropy (eqs. 9, 12)."),
    LossSpec(name="triplet_mi", factory=TripletMI, needs=frozenset({"shallow", "deep"}),
             needs_supervision=frozenset({"pairs"}),
             doc="Triplet MI (eq. 14), JSD estimator, DIM 1x1-conv local discriminator."),
]
