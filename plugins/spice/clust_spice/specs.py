"""Registration of SPICE's components with the paper's (or, where it is silent, the code's) defaults."""
from __future__ import annotations

from clust_core.components import (AssignmentSpec, InputSpec, LoopSpec, LossSpec, PseudoLabelerSpec,
                                   RepresentationSpec)

from .double_softmax import DoubleSoftmaxCE
from .fixmatch import FixMatch
from .heads import ClusterHeads, JointNetwork
from .infonce import InfoNCE
from .labelled import LabelledLoop, check_labelled_loop
from .moco import MoCo
from .prototypes import PrototypeLabeler
from .reliable import ReliableLabeler
from .selection import BestHeadAssignment

ACCEPTS = InputSpec(channels=(1, 3), min_size=8)

REPRESENTATIONS = [
    RepresentationSpec(name="moco", factory=MoCo, accepts=ACCEPTS,
                       produces=frozenset({"embedding", "query", "key"}),
                       params={"backbone": "auto",   # spice.md §1: resnet18_cifar (CIFAR), resnet34 (STL-10)
                               "proj_dim": 128,      # §1: MoCo head 512-512-128
                               "momentum": 0.999},   # §2: m = 0.999
                       doc="MoCo v2 query/momentum encoders (stage 1); outputs computed when read."),
    RepresentationSpec(name="cluster_heads", factory=ClusterHeads, accepts=ACCEPTS,
                       produces=frozenset({"embedding", "head_probs"}),
                       params={"backbone": "auto",
                               "heads": 10,          # §3: num_head = 10
                               "freeze_bn": True},   # §3 quirk: frozen BN; False = the code's updating stats
                       doc="Frozen backbone + 10 MLP heads D-D-K with softmax (SPICE-Self, stage 2)."),
    RepresentationSpec(name="joint", factory=JointNetwork, accepts=ACCEPTS,
                       produces=frozenset({"embedding", "logits", "probs"}),
                       params={"backbone": "auto",
                               "ema": 0.999,         # §5: EMA 0.999, the evaluated model
                               "ema_warmup": True,   # min(m, (1+t)/(10+t)); False = FixMatch's fixed m
                               "start": "stage"},    # paper §III-D: fine-tune; "scratch" = the code (§8)
                       doc="Backbone + the selected head, trained jointly; evaluates its EMA copy (stage 3)."),
]

LABELERS = [
    PseudoLabelerSpec(name="prototype", factory=PrototypeLabeler, n_views=2,
                      needs=frozenset({"head_probs", "embedding"}), produces=frozenset({"targets"}),
                      params={"center_ratio": 0.5},  # §3: top 0.5 B/K per cluster build the prototype
                      doc="Eqs. 2-4: prototypes from each head's confident samples; the B/K nearest get the label."),
    PseudoLabelerSpec(name="reliable", factory=ReliableLabeler, scope="dataset",
                      needs=frozenset({"probs", "embedding"}), produces=frozenset({"labels", "mask"}),
                      params={"neighbors": 100,      # §4: 100 nearest neighbours
                              "ratio": 0.9,          # §4: 0.9 (0.99 for CIFAR)
                              "min_confidence": 0.0,  # §4: the code also needs max prob > 0.99
                              "balance": False},     # §4: the code down-samples clusters to the smallest
                      doc="Reliable pseudo-labels: argmax shared by >= ratio of the 100 nearest neighbours."),
]

LOSSES = [
    LossSpec(name="infonce", factory=InfoNCE, needs=frozenset({"query", "key"}), n_views=2,
             params={"temperature": 0.2,     # §2: T = 0.2
                     "queue_size": 12800},   # §2: 12800 in the CIFAR recipe (65536 STL-10)
             doc="MoCo v2's InfoNCE over a queue of momentum keys (view 0 queries, view 1 keys)."),
    LossSpec(name="double_softmax", factory=DoubleSoftmaxCE, needs=frozenset({"head_probs"}),
             needs_supervision=frozenset({"targets"}),
             doc="Eq. 5: cross-entropy on the heads' softmax outputs (the 'double softmax'), mean over heads."),
    LossSpec(name="fixmatch", factory=FixMatch, needs=frozenset({"logits", "probs"}), n_views=2,
             needs_supervision=frozenset({"labels", "mask"}),
             params={"threshold": 0.95,        # §5: tau = 0.95
                     "unlabelled_weight": 1.0,   # §5: lambda_u = 1
                     "double_softmax": True},    # eq. 5 on SPICE's softmax head; False: logits (from scratch)
             doc="FixMatch on the labelled stream (weak CE) and pseudo-labels of weak views on strong views."),
]

ASSIGNMENTS = [
    AssignmentSpec(name="best_head", factory=BestHeadAssignment, needs=frozenset({"head_probs", "embedding"}),
                   params={"center_ratio": 0.5},
                   doc="The head with the lowest loss on whole-dataset prototype labels (§3); never ground truth."),
]

LOOPS = [
    LoopSpec(name="labelled", factory=LabelledLoop, check=check_labelled_loop,
             params={"labeler": "reliable",   # §III-D: the reliable pseudo-labels are the labelled set
                     "batch_size": 64},       # §IV-A / FixMatch: B = 64 labelled images per step
             doc="FixMatch's labelled stream: each step puts batch_size images of the labeler's labelled set "
                 "in front of the stage's batch; only they keep labels."),
]
