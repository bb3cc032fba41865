"""Core's training loops: plain mini-batches, and labels per outer batch with inner mini-batches."""
from ..components import LoopSpec
from ..engine.loops import MiniBatchLoop, OuterInnerLoop

SPECS = [
    LoopSpec(name="minibatch", factory=MiniBatchLoop,
             doc="One optimiser step per shuffled batch of the stage's batch_size images."),
    LoopSpec(name="outer_inner", factory=OuterInnerLoop,
             doc="Batch-scope labels once per outer batch (batch_size images), then `repeats` shuffled passes "
                 "in mini-batches of `inner_batch`, `draws` fresh augmented draws per mini-batch, one step each."),
]
