"""What a finished run leaves behind, and how ``clust predict`` reads it back."""
from __future__ import annotations

from pathlib import Path
from typing import Any


from . import runs
from .accelerate import Accelerator, load_checkpoint, save_checkpoint
from .components import Assignment, BuildContext
from .config import RunConfig
from .data import ImageSet
from .engine.passes import dataset_outputs
from .engine.views import ViewService
from .engine.stage import StageParts, build_stage
from .errors import ClustError
from .registry import Registry
from .runner import RunResult, summarize


def write_artifacts(run: Path, result: RunResult, config: RunConfig, registry: Registry,
                    images: ImageSet) -> dict[str, Any]:
    """Write ``model.pt``, ``assignments.csv``, ``summary.json`` and the report; return the summary."""
    parts = result.parts
    save_checkpoint({"stage": parts.name, "shape": list(images.shape), "n": images.n,
                             "representation": parts.representation.state_dict(),
                             "assignment": parts.assignment.state_dict()}, run / runs.MODEL)
    runs.write_assignments(run / runs.ASSIGNMENTS, result.assignment, images.paths)
    summary = {**summarize(result, config, registry, images), "run_dir": str(run)}
    runs.write_json(run / runs.SUMMARY, summary)
    if config.report:
        from .report import write_report
        features = result.outputs.get("embedding", result.outputs.get("probs"))
        write_report(run, images=images.images, labels=result.assignment.labels,
                     confidences=result.assignment.confidence,
                     features=None if features is None else features.numpy(),
                     true_labels=images.labels, records=runs.read_metrics(run))
    return summary


def load_model(run: Path, config: RunConfig, registry: Registry) -> tuple[StageParts, tuple[int, int, int]]:
    """The final stage of a finished run, with its trained weights and fitted assignment,
    and the image shape (C, H, W) it was trained on."""
    path = run / runs.MODEL
    if not path.is_file():
        raise ClustError(f"{run} has no {runs.MODEL}: the run did not finish")
    state = load_checkpoint(path)
    stage = config.stages[state["stage"]]
    shape = tuple(state["shape"])
    ctx = BuildContext(shape=shape, k=config.k, n=state["n"], dataset=config.data.spec,
                       seed=config.seed)
    parts = build_stage(registry, state["stage"], stage, ctx)
    parts.representation.load_state_dict(state["representation"])
    parts.assignment.load_state_dict(state["assignment"])
    return parts, shape


def predict_images(parts: StageParts, images: ImageSet, accelerator: Accelerator) -> Assignment:
    """Assign new images with a loaded model (the assignment's ``predict``, never a refit)."""
    clean = ViewService(images, {"clean": parts.views["clean"]}, accelerator.device)
    outputs = dataset_outputs(parts.representation.to(accelerator.device), clean, accelerator, view="clean",
                              names=parts.assignment_needs, batch_size=parts.config.batch_size,
                              batchnorm=parts.config.evaluation.batchnorm)
    return parts.assignment.predict(outputs)
