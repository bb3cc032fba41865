"""Head selection: the head whose prototype labels it fits best wins, without ever reading ground truth."""
import io
from collections.abc import Iterator, Mapping

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from clust_core.components import BuildContext
from clust_spice.double_softmax import double_softmax_ce_per_head
from clust_spice.prototypes import prototype_targets
from clust_spice.selection import BestHeadAssignment

CTX = BuildContext(shape=(1, 8, 8), k=4, n=80, dataset="x")


class Recording(Mapping):
    """Outputs that remember which keys were read."""

    def __init__(self, data: dict[str, torch.Tensor]) -> None:
        self.data, self.read = data, set()

    def __getitem__(self, key: str) -> torch.Tensor:
        self.read.add(key)
        return self.data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.data)

    def __len__(self) -> int:
        return len(self.data)


def _outputs() -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """80 samples in 4 tight embedding clusters; head 2 agrees with them, the others do not."""
    gen = torch.Generator().manual_seed(0)
    truth = torch.arange(80) % 4
    embedding = F.normalize(F.one_hot(truth, 4).float() * 3 + 0.3 * torch.randn(80, 4, generator=gen), dim=1)
    consistent = (4 * F.one_hot(truth, 4).float() + torch.randn(80, 4, generator=gen)).softmax(dim=1)
    confident_wrong = (4 * F.one_hot(torch.randperm(80, generator=gen) % 4, 4).float()).softmax(dim=1)
    uniform = torch.full((80, 4), 0.25)
    noisy = torch.randn(80, 4, generator=gen).softmax(dim=1)
    head_probs = torch.stack([confident_wrong, uniform, consistent, noisy], dim=1)
    return {"head_probs": head_probs, "embedding": embedding, "labels": truth}, truth


def test_picks_the_consistent_head_and_records_every_loss():
    data, truth = _outputs()
    outputs = Recording(data)
    model = BestHeadAssignment(CTX)
    result = model.fit(outputs)
    assert outputs.read == {"head_probs", "embedding"}  # ground truth is never read
    assert model.head == 2
    expected = double_softmax_ce_per_head(data["head_probs"], prototype_targets(data["head_probs"], data["embedding"]))
    assert torch.allclose(model.losses_, expected)
    assert model.losses_.argmin() == 2 and model.losses_[1] == pytest.approx(np.log(4))  # uniform head: log K
    probs = data["head_probs"][:, 2]
    assert np.array_equal(result.labels, probs.argmax(dim=1).numpy())
    assert np.allclose(result.confidence, probs.max(dim=1).values.numpy())
    assert (result.labels == truth.numpy()).mean() > 0.9


def test_predict_uses_the_kept_head_and_state_round_trips():
    data, _ = _outputs()
    model = BestHeadAssignment(CTX)
    with pytest.raises(RuntimeError):
        model.predict(data)
    model.fit(data)
    other = {"head_probs": torch.rand(5, 4, 4).softmax(dim=2), "embedding": torch.randn(5, 4)}
    assert np.array_equal(model.predict(other).labels, other["head_probs"][:, 2].argmax(dim=1).numpy())
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    state = torch.load(io.BytesIO(buffer.getvalue()), weights_only=True)
    assert state["head"] == 2 and state["losses"].shape == (4,)
    fresh = BestHeadAssignment(CTX)
    fresh.load_state_dict(state)
    assert fresh.head == 2 and np.array_equal(fresh.predict(other).labels, model.predict(other).labels)
