"""The GPU check in one command (< 8 minutes on one GPU): views, kNN, a bf16 step and images/s per recipe.

1. Batched views on CUDA equal CPU views for the same keys (max difference per view).
2. FAISS kNN on the GPU (when the faiss build has GPU support) equals the exact torch search on the CPU.
3. Each recipe's main stage trains 3 + 10 steps on CUDA with bf16 autocast (the recipes' ``amp``), losses finite.
4. Images/s and the step split per recipe on the CIFAR-10 subset, printed as a table with the device.

    python benchmarks/gpu_check.py [--out benchmarks/results/gpu_check.md]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS_DIR, machine_rows, markdown_table, write_report  # noqa: E402
from throughput import AUGMENTATIONS, RECIPES, load_images, recipe_split  # noqa: E402


def views_match() -> list[tuple[str, str, str]]:
    from clust_core.augment import SampleRandom, build_augmentation
    images = load_images("cifar10_subset5k", 256)
    pixels = torch.from_numpy(images.images).permute(0, 3, 1, 2).contiguous()
    rows = []
    for name in AUGMENTATIONS:
        view = build_augmentation(name, images.shape)
        cpu = view(pixels, SampleRandom(1, torch.arange(256)))
        cuda = view(pixels.cuda(), SampleRandom(1, torch.arange(256, device="cuda"))).cpu()
        diff = (cpu - cuda).abs()
        rows.append((name, f"{float(diff.max()):.2e}", f"{float((diff > 1e-5).float().mean()):.2e}"))
        print(rows[-1], flush=True)
    return rows


def knn_matches() -> list[tuple[str, str]]:
    import faiss  # noqa: F401  (torch first, then faiss)
    from clust_core.neighbors import faiss_gpu_available, knn, knn_torch
    x = torch.nn.functional.normalize(torch.randn(20000, 128, generator=torch.Generator().manual_seed(0)), dim=1)
    _, by_faiss = knn(x, k=20, backend="faiss", exclude_self=True)
    _, by_torch = knn_torch(x, None, 20, "ip", exclude_self=True)
    agree = float((torch.from_numpy(by_faiss) == torch.from_numpy(by_torch)).float().mean())
    return [("faiss GPU build and device", str(faiss_gpu_available())), ("kNN indices equal to torch (share)", f"{agree:.4f}")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "gpu_check.md")
    parser.add_argument("--steps", type=int, default=10)
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("error: no CUDA device: the GPU check has not run", file=sys.stderr)
        raise SystemExit(2)
    sections = ["## Machine\n\n" + markdown_table(("field", "value"), [
        *machine_rows(), ("GPU", torch.cuda.get_device_name(0))])]
    sections.append("## Batched views, CUDA vs CPU (same keys, 256 CIFAR images)\n\n"
                    + markdown_table(("view", "max |difference|", "share of pixels > 1e-5"), views_match()))
    sections.append("## kNN\n\n" + markdown_table(("check", "value"), knn_matches()))
    rows = []
    for recipe in RECIPES:
        result = recipe_split({"recipe": recipe, "data": "cifar10_subset5k", "steps": args.steps, "warmup": 3,
                               "device": "cuda", "side": "now"})
        split = result["split"]
        rows.append((recipe, result["device"], str(result["amp"]), str(result["finite"]), f"{result['rate']:,.0f}",
                     *(f"{100 * split[k]:.0f} %" for k in ("views", "forward", "backward", "other"))))
        print(rows[-1], flush=True)
    sections.append(f"## Recipes on CUDA, CIFAR-10 subset, {args.steps} steps after 3 warm-up steps\n\n"
                    + markdown_table(("recipe / stage", "device", "bf16 autocast", "losses finite", "images/s",
                                      "views", "forward + losses", "backward + optimiser", "everything else"), rows))
    write_report(args.out, "GPU check", sections)


if __name__ == "__main__":
    main()
