"""Views at hardware speed: per-sample (before) vs batched (now) augmentation, and each recipe's step split.

Both sides run in this one command: the "before" side is the code of commit
BEFORE (per-sample torchvision v2 views in a DataLoader), extracted with
``git archive`` and imported ahead of the installed packages in a subprocess;
the "now" side is the working tree. Every measurement runs in a fresh
subprocess on the same machine, one after the other.

1. Augmentations: images/s of each view on one thread, 28x28 grey (MNIST-test)
   and 32x32 colour (CIFAR-10 subset): before, one image per call; now,
   batches of 256 with per-sample parameters.
2. Recipes: the main training stage of each recipe on the first 1,024 images,
   timed over ``--steps`` optimiser steps after ``--warmup`` (the stage's
   once-per-epoch dataset labels are computed before the clock starts): images/s
   and the split of a step into views / forward + losses / backward + optimiser /
   everything else, on the machine's threads.
3. End to end: ``clust run --plugin spice --recipe spice-self --set pretrain.epochs=1
   --set cluster.epochs=2`` on digits (the issue's measured run), wall time of
   the whole command, with a fresh stage cache each time.

    .venv/bin/python benchmarks/throughput.py [--steps 20] [--recipes dccm dccs ...] [--out FILE]
"""
from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tarfile
import io
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS_DIR, dataset_path, machine_rows, markdown_table, write_report  # noqa: E402

BEFORE = "4657e13"
"""The last commit with per-sample views."""
REPO = Path(__file__).resolve().parents[1]
OLD_ROOT = Path("/tmp/clust_views_before")
DATASETS = {"mnist_test": "MNIST-test 28x28 grey", "cifar10_subset5k": "CIFAR-10 subset 32x32 colour"}
AUGMENTATIONS = ("clean", "weak", "scan_strong", "fixmatch_strong", "mocov2", "dccs", "dccm")
RECIPES = {  # recipe -> (stage, extra --set overrides)
    "dccm": ("train", []),
    "dccs": ("train", []),
    "jule": ("jule", []),
    "spice-pretrain": ("pretrain", ["pretrain.cache=off"]),
    "spice-cluster": ("cluster", ["pretrain.cache=off"]),
    "spice-joint": ("joint", ["pretrain.cache=off"]),
}
SUBSET = 1024


def extract_before() -> Path:
    """The BEFORE commit's core/ and plugins laid out as importable packages under OLD_ROOT."""
    marker = OLD_ROOT / BEFORE
    if marker.is_file():
        return OLD_ROOT
    archive = subprocess.run(["git", "archive", BEFORE, "core", "cli", "plugins"], cwd=REPO, capture_output=True,
                             check=True).stdout
    OLD_ROOT.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(OLD_ROOT / "src", filter="data")
    (OLD_ROOT / "src" / "core" / "cli").symlink_to(OLD_ROOT / "src" / "cli")
    pkg = OLD_ROOT / "path"
    pkg.mkdir(exist_ok=True)
    link = pkg / "clust_core"
    if not link.exists():
        link.symlink_to(OLD_ROOT / "src" / "core")
    for plugin in (OLD_ROOT / "src" / "plugins").iterdir():
        for module in plugin.glob("clust_*"):
            target = pkg / module.name
            if not target.exists():
                target.symlink_to(module)
    marker.write_text("extracted\n")
    return OLD_ROOT


def side_env(side: str) -> dict[str, str]:
    """The environment of a subprocess of ``side``: "before" imports the old code first."""
    import os
    return {**os.environ, "PYTHONPATH": str(extract_before() / "path")} if side == "before" else dict(os.environ)


def run_worker(side: str, task: dict) -> dict:
    """Run one measurement in a fresh interpreter."""
    out = subprocess.run([sys.executable, __file__, "--worker", json.dumps({**task, "side": side})],
                         env=side_env(side), capture_output=True, text=True, cwd=REPO)
    if out.returncode:
        raise SystemExit(f"error: worker failed ({side}, {task}): {out.stderr.strip().splitlines()[-1]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


# ----------------------------------------------------------------------------------------------- workers
def load_images(name: str, n: int):
    import numpy as np
    from clust_core.data import ImageSet
    arrays = np.load(dataset_path(name))
    images = arrays["images"][:n]
    if images.ndim == 3:
        images = images[..., None]
    return ImageSet(images=images, labels=arrays["labels"][:n], name=name)


def augmentation_rate(task: dict) -> dict:
    """Images/s of one augmentation on one thread."""
    import torch
    from clust_core.augment import build_augmentation
    from clust_core.registry import load_registry
    torch.set_num_threads(1)
    images = load_images(task["data"], 512)
    pixels = torch.from_numpy(images.images).permute(0, 3, 1, 2).contiguous()
    view = build_augmentation(task["augmentation"], images.shape, load_registry().augmentations)
    torch.manual_seed(0)
    if task["side"] == "before":
        def once() -> int:
            for image in pixels[:256]:
                view(image.clone())
            return 256
    else:
        def once() -> int:
            view(pixels[:256])
            return 256
    once()
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < task["seconds"]:
        done += once()
    return {"rate": done / (time.perf_counter() - start)}


class _Clock:
    """Wall time spent inside wrapped callables, by category (outermost call only)."""

    def __init__(self, sync=lambda: None) -> None:
        self.spent: dict[str, float] = {}
        self.depth, self.sync = 0, sync

    def wrap(self, category: str, fn):
        def timed(*args, **kwargs):
            if self.depth:
                return fn(*args, **kwargs)
            self.depth += 1
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.sync()
                self.depth -= 1
                self.spent[category] = self.spent.get(category, 0.0) + time.perf_counter() - start
        return timed


class _Enough(Exception):
    pass


def recipe_split(task: dict) -> dict:
    """Images/s and the step split of one recipe's main stage."""
    import torch
    from clust_core.accelerate import Accelerator
    from clust_core.engine.stage import build_stage
    from clust_core.engine.trainer import StageTrainer, TrainerHooks
    from clust_core.components import BuildContext
    from clust_core.registry import load_registry
    from clust_core.resolve import RunRequest, resolve

    plugin = task["recipe"].split("-")[0]
    stage_name, sets = RECIPES[task["recipe"]]
    device = task.get("device", "cpu")
    registry = load_registry()
    images = load_images(task["data"], SUBSET)
    torch.manual_seed(0)
    sets = [*sets, *task.get("sets", []), "report=false"]
    config, images = resolve(registry, RunRequest(plugin=plugin, recipe="spice" if plugin == "spice" else None,
                                                  sets=sets, device=device, seed=0), images=images)
    stage = config.stages[stage_name]
    acc = Accelerator(device)
    ctx = BuildContext(shape=images.shape, k=config.k, n=images.n, dataset=images.name, device=acc.device, seed=0)
    parts = build_stage(registry, stage_name, stage, ctx)
    hooks = TrainerHooks.silent()
    trainer = StageTrainer(parts, images, acc, hooks, seed=0)
    trainer._refresh_dataset_labels(0)
    trainer._refresh_dataset_labels = lambda epoch: None
    clock = _Clock(torch.cuda.synchronize if acc.device.type == "cuda" else lambda: None)
    if task["side"] == "before":
        from clust_core.data import MultiViewDataset
        MultiViewDataset.__getitem__ = clock.wrap("views", MultiViewDataset.__getitem__)
    else:
        from clust_core.engine.views import ViewService
        ViewService.batch = clock.wrap("views", ViewService.batch)
    rep = parts.representation
    rep.forward = clock.wrap("forward", rep.forward)
    for key, module in parts.losses.items():
        module.forward = clock.wrap(f"loss:{key}", module.forward)
    acc.backward = clock.wrap("backward", acc.backward)
    optimizers = [trainer.optimizer, *(opt for _, opt in trainer.adversaries.values())]
    for optimizer in optimizers:
        optimizer.step = clock.wrap("backward", optimizer.step)
    counted = {"steps": 0, "images": 0, "start": 0.0, "losses": []}
    step_name = "_step" if task["side"] == "before" else "train_step"  # the old trainer's private step took `fresh`
    inner_step = getattr(trainer, step_name)

    def step(batch, *args):
        if counted["steps"] == task["warmup"]:
            clock.spent.clear()
            counted["start"] = time.perf_counter()
        result = inner_step(batch, *args)
        counted["losses"].append(result["loss"])
        counted["steps"] += 1
        if counted["steps"] > task["warmup"]:
            counted["images"] += len(next(v for k, v in batch.items() if k != "index"))
        if counted["steps"] == task["warmup"] + task["steps"]:
            raise _Enough
        return result

    setattr(trainer, step_name, step)
    try:
        while True:
            trainer.fit()
            trainer.config.epochs += 1
    except _Enough:
        pass
    total = time.perf_counter() - counted["start"]
    losses = {k: v / total for k, v in clock.spent.items() if k.startswith("loss:")}
    spent = {k: clock.spent.get(k, 0.0) for k in ("views", "forward", "backward")}
    spent["forward"] += sum(v for k, v in clock.spent.items() if k.startswith("loss:"))
    spent["other"] = max(0.0, total - sum(spent.values()))
    return {"rate": counted["images"] / total, "seconds": total, "split": {k: v / total for k, v in spent.items()},
            "losses": losses, "step_seconds": total / task["steps"],
            "steps": task["steps"], "threads": torch.get_num_threads(),
            "finite": all(math.isfinite(value) for value in counted["losses"]), "amp": getattr(stage.optimizer, "amp", getattr(stage, "amp", None)),  # before: a stage field
            "device": str(acc.device)}


END_TO_END = ["run", "--plugin", "spice", "--recipe", "spice-self", "--set", "pretrain.epochs=1",
              "--set", "cluster.epochs=2", "--set", "report=false"]


def end_to_end(side: str) -> tuple[float, str]:
    """Wall seconds of the issue's short SPICE-Self run on digits, and its summary line."""
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        env = {**side_env(side), "CLUST_CACHE_DIR": tmp}
        start = time.perf_counter()
        out = subprocess.run([sys.executable, "-m", "clust_core.cli", *END_TO_END, "--out", tmp], env=env,
                             capture_output=True, text=True, cwd=REPO)
        seconds = time.perf_counter() - start
    if out.returncode:
        raise SystemExit(f"error: end-to-end run failed ({side}): {out.stderr.strip().splitlines()[-1]}")
    lines = [line for line in out.stdout.splitlines() if "ACC" in line or "acc" in line]
    return seconds, lines[-1].strip() if lines else ""


def worker(task: dict) -> None:
    result = augmentation_rate(task) if "augmentation" in task else recipe_split(task)
    print(json.dumps(result))


# ----------------------------------------------------------------------------------------------- main
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=3.0, help="per augmentation measurement")
    parser.add_argument("--recipes", nargs="*", default=list(RECIPES))
    parser.add_argument("--augmentations", nargs="*", default=list(AUGMENTATIONS))
    parser.add_argument("--datasets", nargs="*", default=list(DATASETS))
    parser.add_argument("--recipe-datasets", nargs="*", help="datasets of the recipe section (default: --datasets)")
    parser.add_argument("--end-to-end", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "throughput.md")
    args = parser.parse_args()
    if args.worker:
        worker(json.loads(args.worker))
        return
    sections = ["## Machine\n\n" + markdown_table(("field", "value"), machine_rows())]
    rows = []
    for data in args.datasets:
        for name in args.augmentations:
            rates = {side: run_worker(side, {"augmentation": name, "data": data, "seconds": args.seconds})["rate"]
                     for side in ("before", "now")}
            rows.append((DATASETS[data], name, f"{rates['before']:,.0f}", f"{rates['now']:,.0f}",
                         f"{rates['now'] / rates['before']:.1f}x"))
            print(rows[-1], flush=True)
    sections.append("## Augmentations, one thread (images/s)\n\nbefore: one image per call (torchvision v2, commit "
                    f"{BEFORE}); now: batches of 256, parameters per sample.\n\n"
                    + markdown_table(("data", "view", "before", "now", "now / before"), rows))
    rows = []
    for data in args.recipe_datasets or args.datasets:
        for recipe in args.recipes:
            task = {"recipe": recipe, "data": data, "steps": args.steps, "warmup": args.warmup}
            result = {side: run_worker(side, task) for side in ("before", "now")}
            for side in ("before", "now"):
                split = result[side]["split"]
                rows.append((DATASETS[data], recipe, side, f"{result[side]['rate']:,.0f}",
                             *(f"{100 * split[k]:.0f} %" for k in ("views", "forward", "backward", "other")),
                             f"{result[side]['seconds']:.1f}"))
                print(rows[-1], flush=True)
            rows.append(("", "", "now / before", f"{result['now']['rate'] / result['before']['rate']:.1f}x",
                         "", "", "", "", ""))
    sections.append(f"## Main training stage of each recipe, first {SUBSET} images, {args.steps} steps after "
                    f"{args.warmup} warm-up steps, CPU (all threads)\n\n"
                    + markdown_table(("data", "recipe / stage", "side", "images/s", "views", "forward + losses",
                                      "backward + optimiser", "everything else", "seconds"), rows))
    if args.end_to_end:
        runs = {side: end_to_end(side) for side in ("before", "now")}
        rows = [(side, f"{seconds:.1f}", line) for side, (seconds, line) in runs.items()]
        rows.append(("now / before", f"{runs['before'][0] / runs['now'][0]:.2f}x faster", ""))
        print(rows, flush=True)
        sections.append("## End to end: `clust " + " ".join(END_TO_END) + "` on digits\n\n"
                        + markdown_table(("side", "seconds", "result"), rows))
    write_report(args.out, "Views at hardware speed: before vs now", sections)


if __name__ == "__main__":
    main()
