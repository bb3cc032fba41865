"""Where a training stage's time goes: torch.profiler over one stage's epochs, against the machine's GEMM peak.

Builds the recipe's stage ``--stage`` on ``--dataset`` (earlier stages untrained: their weights do not change a
step's cost), runs the budget's calibration probe untimed as a warm-up, then profiles ``--epochs`` epochs of
the stage's own loop and reports:

- seconds per optimiser step (the profiler's own overhead included, so a little above an unprofiled run);
- the operators with the most self CPU time, with their input shapes;
- the achieved GFLOP/s of the matrix products and convolutions (the profiler's FLOP counts over their self
  time) next to a plain ``torch.mm`` of 1024 x 1024 float32 matrices on the same threads: the ratio says how
  close the stage's arithmetic runs to what this machine can do.

    .venv/bin/python benchmarks/profile_stage.py --plugin dccs [--stage train] [--epochs 2] [--set K=V ...]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS_DIR, machine_load, machine_rows, markdown_table, write_report  # noqa: E402

from clust_core.accelerate import Accelerator  # noqa: E402
from clust_core.data import load_dataset  # noqa: E402
from clust_core.engine.trainer import StageTrainer, TrainerHooks  # noqa: E402
from clust_core.registry import load_registry  # noqa: E402
from clust_core.resolve import RunRequest, resolve  # noqa: E402
from clust_core.runner import Runner  # noqa: E402

ARITHMETIC = ("aten::mm", "aten::addmm", "aten::bmm", "aten::mkldnn_convolution", "aten::convolution_backward")
"""Operators whose FLOPs count as the stage's arithmetic."""


def gemm_peak(size: int = 1024, repeats: int = 20) -> float:
    """GFLOP/s of ``torch.mm`` on two ``size`` x ``size`` float32 matrices (median of ``repeats``)."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    for _ in range(3):
        torch.mm(a, b)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        torch.mm(a, b)
        times.append(time.perf_counter() - started)
    return 2 * size ** 3 / sorted(times)[len(times) // 2] / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--plugin", required=True)
    parser.add_argument("--recipe", default=None)
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--stage", default=None, help="the stage to profile (default: the recipe's last)")
    parser.add_argument("--epochs", type=int, default=2, help="epochs of the stage under the profiler")
    parser.add_argument("--set", dest="sets", action="append", default=[], help="a config override, KEY=VALUE")
    parser.add_argument("--rows", type=int, default=15, help="operators listed")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    machine = machine_rows()
    registry = load_registry()
    images = load_dataset(args.dataset)

    def request(*extra: str) -> RunRequest:
        return RunRequest(plugin=args.plugin, recipe=args.recipe, dataset=args.dataset, sets=[*args.sets, *extra],
                          device="cpu")

    stage = args.stage or list(resolve(registry, request(), images=images)[0].stages)[-1]
    config, images = resolve(registry, request(f"{stage}.epochs={args.epochs}"), images=images)
    parts = Runner(registry, config, images, Accelerator("cpu"), None).built(stage)
    quiet = TrainerHooks.silent()
    StageTrainer(parts, images, Accelerator("cpu"), quiet, seed=config.seed).probe(1.0)  # warm-up
    trainer = StageTrainer(parts, images, Accelerator("cpu"), quiet, seed=config.seed)
    with profile(activities=[ProfilerActivity.CPU], record_shapes=True, with_flops=True) as prof:
        started = time.perf_counter()
        trainer.fit()
        seconds = time.perf_counter() - started
    events = prof.key_averages(group_by_input_shape=True)
    total = sum(event.self_cpu_time_total for event in events) / 1e6
    top = sorted(events, key=lambda event: event.self_cpu_time_total, reverse=True)[:args.rows]
    rows = [(event.key, str(event.input_shapes)[:90], event.count, f"{event.self_cpu_time_total / 1e6:.3f}",
             f"{100 * event.self_cpu_time_total / 1e6 / total:.1f}") for event in top]
    arithmetic = [event for event in prof.key_averages() if event.key in ARITHMETIC]
    flops = sum(event.flops for event in arithmetic)
    busy = sum(event.self_cpu_time_total for event in arithmetic) / 1e6
    peak = gemm_peak()
    achieved = flops / busy / 1e9 if busy else 0.0
    summary = [
        ("recipe / stage", f"{config.recipe} / {stage}"),
        ("data", f"{images.name}: {images.n} images, {images.shape}"),
        ("steps profiled", f"{trainer.step} ({args.epochs} epochs)"),
        ("seconds per step (profiled)", f"{seconds / max(trainer.step, 1):.4f}"),
        ("self CPU time in matrix products and convolutions",
         f"{busy:.2f} s of {total:.2f} s ({100 * busy / total:.0f} %)"),
        ("their achieved GFLOP/s (profiler FLOP counts)", f"{achieved:.1f}"),
        ("torch.mm 1024 x 1024 float32, GFLOP/s", f"{peak:.1f}"),
        ("ratio achieved / mm peak", f"{achieved / peak:.2f}"),
    ]
    sections = [
        "## Machine\n\n" + markdown_table(["field", "value"], machine)
        + f"\n\nMachine load at the end: {machine_load()}",
        "## Stage\n\n" + markdown_table(["figure", "value"], summary),
        "## Operators by self CPU time\n\n"
        + markdown_table(["operator", "input shapes", "calls", "self s", "%"], rows),
    ]
    for section in sections[1:]:
        print(section + "\n")
    name = f"profile_{config.recipe}_{stage}_{images.name}.md".replace("-", "_")
    write_report(args.out or RESULTS_DIR / name, f"Profile: {config.recipe}, stage {stage}, on {images.name}",
                 sections)


if __name__ == "__main__":
    main()
