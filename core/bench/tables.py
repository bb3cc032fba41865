"""The bench's files: ``results.csv`` (one row per cell) and ``table.md`` (mean ± std per recipe × dataset).

The spread is the sample standard deviation over the seeds that finished (n − 1 in the denominator;
none for one seed), as the papers' "mean ± std over runs" rows. The best mean of each column is bold;
a failed cell is counted next to the mean, never dropped silently.
"""
from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

COLUMNS = ("recipe", "dataset", "seed", "k", "k_source", "status", "acc", "nmi", "nmi_average", "ari",
           "acc_many_to_one", "clusters_found", "k_criterion", "seconds", "wall_seconds", "steps", "budget",
           "budget_fits", "sets", "versions", "command", "error", "run_dir")
METRICS = (("acc", "ACC"), ("nmi", "NMI"), ("ari", "ARI"), ("acc_many_to_one", "many-to-one ACC"))


def write_csv(rows: Iterable[dict[str, Any]], path: Path) -> Path:
    """``results.csv``: :data:`COLUMNS`, lists and mappings as compact JSON."""
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({key: _cell(row.get(key)) for key in COLUMNS})
    return path


def _cell(value: Any) -> Any:
    if isinstance(value, (list, dict)):
        return json.dumps(value, separators=(",", ":"), sort_keys=True)
    return "" if value is None else value


def mean_std(values: Sequence[float]) -> tuple[float, float | None]:
    """Mean and sample standard deviation (None for fewer than two values)."""
    mean = sum(values) / len(values)
    if len(values) < 2:
        return mean, None
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))


def row_label(row: dict[str, Any]) -> str:
    """A table row: the recipe, and the K when the user gave one (a K sweep has a row per K) or ``k auto``."""
    source = row.get("k_source")
    if source == "labels":
        return row["recipe"]
    return f"{row['recipe']} (k auto)" if source == "estimate" else f"{row['recipe']} (k={row.get('k')})"


def table(rows: Sequence[dict[str, Any]], metric: str, digits: int = 3) -> str:
    """A markdown table of ``metric``: mean ± std per row label × dataset, best mean per column bold."""
    labels = list(dict.fromkeys(row_label(r) for r in rows))
    datasets = list(dict.fromkeys(r["dataset"] for r in rows))
    cells: dict[tuple[str, str], tuple[list[float], int, int]] = {}
    for row in rows:
        values, failed, over = cells.get((row_label(row), row["dataset"]), ([], 0, 0))
        if row["status"] == "ok" and row.get(metric) is not None:
            values = [*values, float(row[metric])]
            over += over_budget(row)
        else:
            failed += 1
        cells[(row_label(row), row["dataset"])] = (values, failed, over)
    best = {d: max((mean_std(v)[0] for (_, dd), (v, _, _) in cells.items() if dd == d and v), default=None)
            for d in datasets}
    lines = ["| recipe | " + " | ".join(datasets) + " |", "|---|" + "---|" * len(datasets)]
    for label in labels:
        texts = []
        for dataset in datasets:
            values, failed, over = cells.get((label, dataset), ([], 0, 0))
            texts.append(_format(values, failed, over, best[dataset], digits))
        lines.append(f"| {label} | " + " | ".join(texts) + " |")
    return "\n".join(lines)


def over_budget(row: dict[str, Any]) -> bool:
    """Whether the cell's run could not fit its budget even at one epoch (or step) per stage."""
    return str(row.get("budget_fits")) == "False"


def _format(values: list[float], failed: int, over: int, best: float | None, digits: int) -> str:
    if not values:
        return f"failed ({failed})" if failed else ""
    mean, std = mean_std(values)
    text = f"{mean:.{digits}f}" + ("" if std is None else f" ± {std:.{digits}f}")
    if best is not None and round(mean, digits) == round(best, digits):
        text = f"**{text}**"
    notes = [f"{failed} of {failed + len(values)} failed"] if failed else []
    notes += [f"{over} of {len(values)} over budget"] if over else []
    return text + (f" ({'; '.join(notes)})" if notes else "")


def seconds_table(rows: Sequence[dict[str, Any]]) -> str:
    """Mean run seconds and optimiser steps per row label × dataset (finished cells)."""
    labels = list(dict.fromkeys(row_label(r) for r in rows))
    datasets = list(dict.fromkeys(r["dataset"] for r in rows))
    lines = ["| recipe | " + " | ".join(datasets) + " |", "|---|" + "---|" * len(datasets)]
    for label in labels:
        texts = []
        for dataset in datasets:
            done = [r for r in rows if row_label(r) == label and r["dataset"] == dataset and r["status"] == "ok"]
            texts.append(f"{mean_std([float(r['seconds']) for r in done])[0]:.0f} s, "
                         f"{mean_std([float(r['steps']) for r in done])[0]:.0f} steps" if done else "")
        lines.append(f"| {label} | " + " | ".join(texts) + " |")
    return "\n".join(lines)


def write_markdown(rows: Sequence[dict[str, Any]], path: Path, command: str, machine: str = "") -> Path:
    """``table.md``: the command and machine, then a table per metric, then seconds and steps, then the
    failures."""
    seeds = sorted({int(r["seed"]) for r in rows})
    parts = [f"# clust bench\n\nCommand:\n\n```\n{command}\n```" + (f"\n\nMachine: {machine}." if machine else ""),
             f"Mean ± sample standard deviation over seeds {', '.join(map(str, seeds))} "
             "(the best mean of each column in bold). K is the number of labels unless the row names it."]
    budgets = sorted({str(r.get("budget") or "") for r in rows} - {""})
    if budgets:
        parts.append(f"Budget per cell: {', '.join(budgets)} (`clust run --budget`: each recipe's epochs scaled to "
                     "it after a calibration on this machine; \"over budget\": even one epoch or step per stage "
                     "exceeded it, so that run trained at most that minimum, until its stages' deadlines).")
    for key, title in METRICS:
        parts.append(f"## {title}\n\n{table(rows, key)}")
    parts.append(f"## Run seconds and optimiser steps (mean)\n\n{seconds_table(rows)}")
    criteria = {(r["dataset"], int(r["k"])): r["k_criterion"] for r in rows
                if r.get("k_criterion") not in (None, "") and r.get("k") not in (None, "")}
    if criteria:
        parts.append("## K sweep: the eigengap criterion on the pixels (no labels; largest gap = its choice)\n\n"
                     "| dataset | K | eigengap |\n|---|---|---|\n" + "\n".join(
                         f"| {d} | {k} | {v:.4f} |" for (d, k), v in sorted(criteria.items())))
    failures = [r for r in rows if r["status"] != "ok"]
    if failures:
        parts.append("## Failed cells\n\n" + "\n".join(
            f"- {r['recipe']} on {r['dataset']}, seed {r['seed']}: {r['error']}" for r in failures))
    path.write_text("\n\n".join(parts) + "\n")
    return path
