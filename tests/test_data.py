"""Tests of clust_core.data: dataset specs, image files, ImageSet and MultiViewDataset."""

import urllib.error
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision.datasets
from PIL import Image
from torch.utils.data import DataLoader

from clust_core.augment import build_augmentation
from clust_core.data import CIFAR100_COARSE, ImageSet, MultiViewDataset, load_dataset, load_images
from clust_core.errors import ClustError
from clust_core.registry import load_registry

SHARED_DATASETS = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"


def write_npz(folder: Path, name: str, **arrays: np.ndarray) -> Path:
    """Write arrays into folder/name.npz and return its path."""
    path = folder / f"{name}.npz"
    np.savez(path, **arrays)
    return path


def write_png(path: Path, size: tuple[int, int] = (10, 12), mode: str = "L", value: int = 100) -> Path:
    """Write a solid image of (height, width) = size."""
    path.parent.mkdir(parents=True, exist_ok=True)
    colour = value if mode == "L" else (value, 0, 255 - value)
    Image.new(mode, (size[1], size[0]), colour).save(path)
    return path


def grey(n: int, h: int = 6, w: int = 5) -> np.ndarray:
    """Random N x H x W uint8 images."""
    return np.random.default_rng(n).integers(0, 256, (n, h, w), dtype=np.uint8)


# --- digits -------------------------------------------------------------------------------------------------------

def test_digits_is_the_bundled_8x8_set() -> None:
    data = load_dataset("digits")
    assert data.images.shape == (1797, 8, 8, 1) and data.images.dtype == np.uint8
    assert data.images.max() == 255 and data.labels.dtype == np.int64
    assert data.n_classes == 10 and data.name == "digits" and data.shape == (1, 8, 8)


def test_split_other_than_all_is_refused_without_torchvision() -> None:
    with pytest.raises(ClustError, match="split"):
        load_dataset("digits", split="train")
    with pytest.raises(ClustError, match="unknown split"):
        load_dataset("digits", split="val")


def test_unknown_spec_lists_the_accepted_forms() -> None:
    with pytest.raises(ClustError, match=r"npz:PATH.*folder:PATH"):
        load_dataset("imagenet")


# --- npz ----------------------------------------------------------------------------------------------------------

def test_npz_grey_gets_a_channel_axis(tmp_path: Path) -> None:
    path = write_npz(tmp_path, "small", images=grey(7), labels=np.arange(7) % 3)
    data = load_dataset(f"npz:{path}")
    assert data.images.shape == (7, 6, 5, 1) and data.name == "npz:small"
    assert data.labels.tolist() == [0, 1, 2, 0, 1, 2, 0] and data.paths is None


def test_npz_rgb_without_labels(tmp_path: Path) -> None:
    images = np.zeros((4, 3, 3, 3), dtype=np.uint8)
    data = load_dataset(f"npz:{write_npz(tmp_path, 'rgb', images=images)}")
    assert data.shape == (3, 3, 3) and data.labels is None and data.n_classes is None


def test_npz_files_are_concatenated_in_order(tmp_path: Path) -> None:
    a = write_npz(tmp_path, "a", images=grey(3), labels=np.array([0, 0, 0]))
    b = write_npz(tmp_path, "b", images=grey(2), labels=np.array([1, 1]))
    data = load_dataset(f"npz:{a}+{b}")
    assert data.name == "npz:a+b" and data.n == 5
    assert np.array_equal(data.images[3:, ..., 0], grey(2)) and data.labels.tolist() == [0, 0, 0, 1, 1]


def test_npz_size_resizes(tmp_path: Path) -> None:
    data = load_dataset(f"npz:{write_npz(tmp_path, 's', images=grey(2))}", size=9)
    assert data.images.shape == (2, 9, 9, 1)


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("missing", "does not exist"),
        ("garbage", "cannot read npz"),
        ("no_images", "no 'images'"),
        ("float", "uint8"),
        ("five_d", "shape"),
        ("two_channels", "shape"),
        ("bad_labels", "labels"),
    ],
)
def test_npz_errors_name_the_file(tmp_path: Path, case: str, message: str) -> None:
    path = tmp_path / f"{case}.npz"
    if case == "garbage":
        path.write_bytes(b"this is not an archive at all" * 10)
    elif case == "no_images":
        np.savez(path, pictures=grey(2))
    elif case == "float":
        np.savez(path, images=grey(2).astype(np.float32))
    elif case == "five_d":
        np.savez(path, images=np.zeros((2, 1, 4, 4, 1), np.uint8))
    elif case == "two_channels":
        np.savez(path, images=np.zeros((2, 4, 4, 2), np.uint8))
    elif case == "bad_labels":
        np.savez(path, images=grey(3), labels=np.zeros(2, np.int64))
    with pytest.raises(ClustError, match=message) as error:
        load_dataset(f"npz:{path}")
    assert str(path) in str(error.value)


def test_npz_labels_must_be_in_all_files_or_none(tmp_path: Path) -> None:
    a = write_npz(tmp_path, "a", images=grey(3), labels=np.zeros(3, np.int64))
    b = write_npz(tmp_path, "b", images=grey(2))
    with pytest.raises(ClustError, match="no labels") as error:
        load_dataset(f"npz:{a}+{b}")
    assert str(b) in str(error.value)


def test_npz_shapes_must_agree(tmp_path: Path) -> None:
    a = write_npz(tmp_path, "a", images=grey(3))
    b = write_npz(tmp_path, "b", images=grey(2, 7, 7))
    with pytest.raises(ClustError, match="7x7x1") as error:
        load_dataset(f"npz:{a}+{b}")
    assert str(b) in str(error.value)


def test_npz_has_no_split(tmp_path: Path) -> None:
    with pytest.raises(ClustError, match="split"):
        load_dataset(f"npz:{write_npz(tmp_path, 'a', images=grey(2))}", split="test")


def test_real_usps_file() -> None:
    path = SHARED_DATASETS / "usps.npz"
    if not path.is_file():
        pytest.skip(f"{path} is not there (the shared benchmark datasets are not checked out)")
    data = load_dataset(f"npz:{path}")
    assert data.images.shape == (9298, 16, 16, 1) and data.n_classes == 10 and data.name == "npz:usps"


# --- folder -------------------------------------------------------------------------------------------------------

def test_folder_with_class_subfolders(tmp_path: Path) -> None:
    for name, count in (("zebra", 2), ("ant", 3)):
        for i in range(count):
            write_png(tmp_path / name / f"{i}.png", value=10 * i)
    data = load_dataset(f"folder:{tmp_path}")
    assert data.images.shape == (5, 10, 12, 1) and data.name == f"folder:{tmp_path.name}"
    assert data.labels.tolist() == [0, 0, 0, 1, 1]  # "ant" sorts before "zebra"
    assert Path(data.paths[0]).parent.name == "ant" and Path(data.paths[-1]).parent.name == "zebra"


def test_flat_folder_is_unlabelled_and_skips_corrupt_files(tmp_path: Path) -> None:
    write_png(tmp_path / "a.png")
    write_png(tmp_path / "c.jpg", mode="RGB")
    (tmp_path / "b.png").write_bytes(b"not a png")
    (tmp_path / "notes.txt").write_text("ignored")
    with pytest.warns(UserWarning, match="b.png"):
        data = load_dataset(f"folder:{tmp_path}")
    assert data.labels is None and data.n == 2
    assert data.channels == 3  # a grey and a colour image: all become RGB
    assert [Path(path).name for path in data.paths] == ["a.png", "c.jpg"]


def test_folder_sizes_must_agree_unless_a_size_is_given(tmp_path: Path) -> None:
    write_png(tmp_path / "a.png", size=(10, 12))
    write_png(tmp_path / "b.png", size=(20, 20))
    with pytest.raises(ClustError, match="data.size"):
        load_dataset(f"folder:{tmp_path}")
    data = load_dataset(f"folder:{tmp_path}", size=16)
    assert data.images.shape == (2, 16, 16, 1)


def test_empty_or_missing_folder_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(ClustError, match="empty holds no image files"):
        load_dataset(f"folder:{tmp_path / 'empty'}")
    with pytest.raises(ClustError, match="missing does not exist"):
        load_dataset(f"folder:{tmp_path / 'missing'}")


def test_folder_of_corrupt_images_only_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "x.png").write_bytes(b"broken")
    with pytest.warns(UserWarning, match="x.png"), pytest.raises(ClustError, match="could be read"):
        load_dataset(f"folder:{tmp_path}")


def test_load_images_matches_the_training_shape(tmp_path: Path) -> None:
    grey_file = write_png(tmp_path / "g.png", size=(5, 5), value=77)
    colour_file = write_png(tmp_path / "c.png", size=(8, 8), mode="RGB")
    rgb = load_images([grey_file, colour_file], (3, 8, 8))
    assert rgb.shape == (2, 8, 8, 3) and rgb.dtype == np.uint8 and (rgb[0] == 77).all()
    mono = load_images([colour_file], (1, 8, 8))
    assert mono.shape == (1, 8, 8, 1)
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"xx")
    with pytest.raises(ClustError, match="broken.png"):
        load_images([grey_file, broken], (1, 5, 5))


# --- torchvision --------------------------------------------------------------------------------------------------

def test_download_failure_is_a_clust_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    class Offline:
        def __init__(self, *args: object, **kwargs: object) -> None:
            raise urllib.error.URLError("name resolution failed")

    monkeypatch.setattr(torchvision.datasets, "MNIST", Offline)
    with pytest.raises(ClustError, match=r"could not load mnist from torchvision .*npz:PATH"):
        load_dataset("mnist", root=tmp_path)


def test_torchvision_splits_merge_and_map_cifar100_to_20(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    class FakeCifar100:
        def __init__(self, root: str, train: bool, download: bool) -> None:
            count = 4 if train else 2
            self.data = np.full((count, 32, 32, 3), 1 if train else 2, np.uint8)
            self.targets = [0, 1, 2, 99][:count]

    monkeypatch.setattr(torchvision.datasets, "CIFAR100", FakeCifar100)
    data = load_dataset("cifar100-20", root=tmp_path)
    assert data.images.shape == (6, 32, 32, 3) and data.images[4].max() == 2
    assert data.labels.tolist() == [4, 1, 14, 13, 4, 1] and data.name == "cifar100-20"
    assert load_dataset("CIFAR100_20", split="test", root=tmp_path).n == 2


def test_stl10_is_channels_last(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    class FakeStl10:
        def __init__(self, root: str, split: str, download: bool) -> None:
            self.data = np.zeros((3, 3, 96, 96), np.uint8)
            self.labels = np.array([0, 1, 2])

    monkeypatch.setattr(torchvision.datasets, "STL10", FakeStl10)
    assert load_dataset("stl10", root=tmp_path).images.shape == (6, 96, 96, 3)


def test_cifar100_coarse_table() -> None:
    assert len(CIFAR100_COARSE) == 100
    assert Counter(CIFAR100_COARSE) == {coarse: 5 for coarse in range(20)}


# --- ImageSet -----------------------------------------------------------------------------------------------------

def test_imageset_validates_and_subsets() -> None:
    data = ImageSet(images=np.zeros((4, 2, 3, 3), np.uint8), labels=np.array([3, 1, 1, 0], np.int32), name="t")
    assert data.labels.dtype == np.int64 and data.shape == (3, 2, 3) and data.n_classes == 3
    part = data.subset([3, 0])
    assert part.n == 2 and part.labels.tolist() == [0, 3] and part.name == "t"
    with pytest.raises(ClustError, match="uint8"):
        ImageSet(images=np.zeros((2, 2, 2, 1), np.float32))
    with pytest.raises(ClustError, match="channels"):
        ImageSet(images=np.zeros((2, 2, 2, 4), np.uint8))
    with pytest.raises(ClustError, match="labels"):
        ImageSet(images=np.zeros((2, 2, 2, 1), np.uint8), labels=np.zeros(3, np.int64))
    with pytest.raises(ClustError, match="out of range"):
        data.subset([4])


# --- MultiViewDataset ---------------------------------------------------------------------------------------------

@pytest.fixture
def multiview() -> MultiViewDataset:
    images = np.random.default_rng(0).integers(0, 256, (6, 16, 16, 3), dtype=np.uint8)
    data = ImageSet(images=images, labels=np.arange(6), name="random")
    shape = data.shape
    return MultiViewDataset(data, {"clean": build_augmentation("clean", shape),
                                   "strong": build_augmentation("scan_strong", shape),
                                   "grey": build_augmentation("dccs", shape, load_registry().augmentations)})


def test_items_hold_the_index_and_every_view_but_no_label(multiview: MultiViewDataset) -> None:
    item = multiview[2]
    assert list(item) == ["index", "clean", "strong", "grey"] and item["index"] == 2 and len(multiview) == 6
    assert torch.equal(item["clean"], torch.from_numpy(multiview.imageset.images[2]).permute(2, 0, 1) / 255.0)
    for name, channels in (("strong", 3), ("grey", 1)):
        assert item[name].shape == (channels, 16, 16) and item[name].dtype == torch.float32
        assert 0.0 <= item[name].min() and item[name].max() <= 1.0


def test_views_are_random_per_sample_and_reproducible(multiview: MultiViewDataset) -> None:
    twin = MultiViewDataset(multiview.imageset.subset([0, 0]), multiview.views)
    torch.manual_seed(1)
    first, second = twin[0]["strong"], twin[1]["strong"]
    again = twin[0]["strong"]
    assert not torch.equal(first, second) and not torch.equal(first, again)
    torch.manual_seed(1)
    assert torch.equal(twin[0]["strong"], first)


def test_select_and_default_collate(multiview: MultiViewDataset) -> None:
    only = multiview.select(["grey"])
    assert only.view_names == ("grey",)
    batch = next(iter(DataLoader(only, batch_size=4, num_workers=0)))
    assert batch["index"].tolist() == [0, 1, 2, 3] and batch["grey"].shape == (4, 1, 16, 16)
    with pytest.raises(ClustError, match="unknown view"):
        multiview.select(["weak"])
    with pytest.raises(ClustError, match="index"):
        MultiViewDataset(multiview.imageset, {"index": multiview.views["clean"]})
