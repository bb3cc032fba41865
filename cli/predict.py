"""``clust eval`` and ``clust predict``: read a finished run back."""
from __future__ import annotations

import csv
import sys
from pathlib import Path

import click
import numpy as np

from .. import runs
from ..accelerate import Accelerator
from ..artifacts import load_model, predict_images
from ..data import ImageSet, load_dataset, load_images
from ..errors import ClustError
from ..metrics import evaluate
from ..registry import Registry


@click.command("eval")
@click.argument("run", type=click.Path(file_okay=False))
@click.option("--nmi-average", default="geometric", show_default=True,
              type=click.Choice(["geometric", "arithmetic", "min", "max"]))
def eval_command(run: str, nmi_average: str) -> None:
    """Recompute ACC/NMI/ARI of RUN's assignments against its dataset's labels."""
    run_dir, config = runs.open_run_dir(run)
    images = load_dataset(config.data.spec, split=config.data.split, root=config.data.root, size=config.data.size)
    if images.labels is None:
        raise ClustError(f"dataset {images.name} has no labels to evaluate against")
    predicted = _read_clusters(run_dir / runs.ASSIGNMENTS, images.n)
    metrics = evaluate(images.labels, predicted, nmi_average=nmi_average)
    click.echo(f"ACC {metrics['acc']:.4f}  NMI {metrics['nmi']:.4f} ({nmi_average})  ARI {metrics['ari']:.4f}  "
               f"many-to-one ACC {metrics['acc_many_to_one']:.4f}  (n={metrics['n']}, clusters={metrics['k']})")


def _read_clusters(path: Path, n: int) -> np.ndarray:
    try:
        with open(path, newline="") as handle:
            clusters = np.array([int(row["cluster"]) for row in csv.DictReader(handle)], dtype=np.int64)
    except (OSError, KeyError, ValueError) as exc:
        raise ClustError(f"cannot read assignments {path}: {exc}") from None
    if len(clusters) != n:
        raise ClustError(f"{path} has {len(clusters)} rows but the dataset has {n} images")
    return clusters


@click.command("predict")
@click.argument("run", type=click.Path(file_okay=False))
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("--output", "-o", default="-", show_default=True, type=click.Path(dir_okay=False, allow_dash=True),
              help="CSV to write (- for standard output).")
@click.option("--device", default="auto", show_default=True)
@click.pass_obj
def predict_command(registry: Registry, run: str, paths: tuple[str, ...], output: str, device: str) -> None:
    """Assign new image files PATHS with RUN's trained model; write path,cluster,confidence."""
    run_dir, config = runs.open_run_dir(run)
    parts, shape = load_model(run_dir, config, registry)
    images = ImageSet(images=load_images(paths, shape), labels=None, name="predict", paths=tuple(paths))
    assignment = predict_images(parts, images, Accelerator(device))
    try:
        handle = sys.stdout if output == "-" else open(output, "w", newline="")
    except OSError as exc:
        raise ClustError(f"cannot write {output}: {exc.strerror}") from None
    try:
        writer = csv.writer(handle)
        writer.writerow(["path", "cluster", "confidence"])
        for path, cluster, confidence in zip(paths, assignment.labels, assignment.confidence):
            writer.writerow([path, int(cluster), f"{float(confidence):.6f}"])
    finally:
        if handle is not sys.stdout:
            handle.close()

