"""Registration of SPICE's components; their defaults and sources are in the factories' signatures.

SPICE: Niu, Shan, Wang, IEEE TIP 2022, https://arxiv.org/abs/2103.09382; released code:
https://github.com/niuchuangnn/SPICE (the source of the values the paper's text does not give).
"""
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
                       doc="MoCo v2 query/momentum encoders (stage 1); outputs computed when read."),
    RepresentationSpec(name="cluster_heads", factory=ClusterHeads, accepts=ACCEPTS,
                       produces=frozenset({"embedding", "head_probs"}),
                       doc="Frozen backbone + 10 MLP heads D-D-K with softmax (SPICE-Self, stage 2)."),
    RepresentationSpec(name="joint", factory=JointNetwork, accepts=ACCEPTS,
                       produces=frozenset({"embedding", "logits", "probs"}),
                       doc="Backbone + the selected head, trained jointly; evaluates its EMA copy (stage 3)."),
]

LABELERS = [
    PseudoLabelerSpec(name="prototype", factory=PrototypeLabeler, n_views=2,
                      needs=frozenset({"head_probs", "embedding"}), produces=frozenset({"targets"}),
                      doc="Eqs. 2-4: prototypes from each head's confident samples; the B/K nearest get the label."),
    PseudoLabelerSpec(name="reliable", factory=ReliableLabeler, scope="dataset",
                      needs=frozenset({"probs", "embedding"}), produces=frozenset({"labels", "mask"}),
                      doc="Reliable pseudo-labels: argmax shared by >= ratio of the 100 nearest neighbours."),
]

LOSSES = [
    LossSpec(name="infonce", factory=InfoNCE, needs=frozenset({"query", "key"}), n_views=2,
             doc="MoCo v2's InfoNCE over a queue of momentum keys (view 0 queries, view 1 keys)."),
    LossSpec(name="double_softmax", factory=DoubleSoftmaxCE, needs=frozenset({"head_probs"}),
             needs_supervision=frozenset({"targets"}),
             doc="Eq. 5: cross-entropy on the heads' softmax outputs (the 'double softmax'), mean over heads."),
    LossSpec(name="fixmatch", factory=FixMatch, needs=frozenset({"logits", "probs"}), n_views=2,
             needs_supervision=frozenset({"labels", "mask"}),
             doc="FixMatch on the labelled stream (weak CE) and pseudo-labels of weak views on strong views."),
]

ASSIGNMENTS = [
    AssignmentSpec(name="best_head", factory=BestHeadAssignment, needs=frozenset({"head_probs", "embedding"}),
                   doc="The head with the lowest loss on whole-dataset prototype labels (§III-B); never ground "
                       "truth."),
]

LOOPS = [
    LoopSpec(name="labelled", factory=LabelledLoop, check=check_labelled_loop,
             doc="FixMatch's labelled stream: each step puts batch_size images of the labeler's labelled set "
                 "in front of the stage's batch; only they keep labels."),
]
