"""The view service every loop takes its batches from."""
import numpy as np
import torch

from clust_core.augment import build_augmentation
from clust_core.data import ImageSet
from clust_core.engine.views import ViewService, ordered_batches, shuffled_batches


def service(budget: int = 2**30) -> ViewService:
    pixels = np.random.default_rng(0).integers(0, 256, (20, 16, 16, 3), dtype=np.uint8)
    images = ImageSet(images=pixels, labels=np.arange(20) % 4, name="random")
    views = {"clean": build_augmentation("clean", images.shape), "strong": build_augmentation("scan_strong", images.shape),
             "invert": lambda batch: 1.0 - batch.float() / 255}
    return ViewService(images, views, torch.device("cpu"), budget_bytes=budget)


def test_a_batch_holds_the_index_and_each_view_of_those_images() -> None:
    views = service()
    index = torch.tensor([3, 17, 5])
    batch = views.batch(index)
    assert list(batch) == ["index", "clean", "strong", "invert"] and torch.equal(batch["index"], index)
    expected = torch.from_numpy(views.pixels.numpy()[[3, 17, 5]]).float() / 255
    assert torch.equal(batch["clean"], expected) and torch.allclose(batch["invert"], 1 - expected)
    assert batch["strong"].shape == (3, 3, 16, 16) and not torch.equal(batch["strong"], expected)


def test_views_are_reproducible_under_the_seed_and_differ_between_views_and_calls() -> None:
    views = service()
    index = torch.tensor([0, 0, 1])
    torch.manual_seed(5)
    first, second = views.batch(index, ["strong"])["strong"], views.batch(index, ["strong"])["strong"]
    torch.manual_seed(5)
    assert torch.equal(views.batch(index, ["strong"])["strong"], first) and not torch.equal(first, second)
    assert list(views.select(["clean"]).batch(index)) == ["index", "clean"]


def test_host_and_device_held_images_give_the_same_batches() -> None:
    held, streamed = service(), service(budget=0)
    assert held.resident and not streamed.resident
    index = torch.tensor([4, 9, 1, 9])
    torch.manual_seed(1)
    a = held.batch(index)
    torch.manual_seed(1)
    b = streamed.batch(index)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_index_batches_follow_the_distributed_sampler_and_drop_a_short_last_batch() -> None:
    batches = shuffled_batches(10, 4, 0, 1, seed=0, epoch=0)
    assert [len(b) for b in batches] == [4, 4] and len(set(torch.cat(batches).tolist())) == 8
    assert not torch.equal(torch.cat(batches), torch.cat(shuffled_batches(10, 4, 0, 1, seed=0, epoch=1)))
    assert [len(b) for b in shuffled_batches(3, 4, 0, 1, seed=0, epoch=0)] == [3]
    ranks = [torch.cat(shuffled_batches(10, 4, r, 2, seed=0, epoch=0)) for r in (0, 1)]
    assert all(len(r) == 4 for r in ranks) and not set(ranks[0].tolist()) & set(ranks[1].tolist())
    shards = [torch.cat(ordered_batches(5, 2, r, 2)).tolist() for r in (0, 1)]
    assert shards == [[0, 2, 4], [1, 3, 0]]
