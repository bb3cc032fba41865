"""``--k auto``: the number of clusters estimated without labels (clust_core.k_estimate)."""
from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner
from sklearn.datasets import make_blobs

from clust_core.cli import build_cli
from clust_core.errors import ClustError
from clust_core.k_estimate import CRITERIA, KEstimate, default_k_max, estimate_k, pixel_features
from clust_core.resolve import RunRequest, resolve
from clust_core.registry import load_registry
from clust_core.settings import write_toml


def blobs(k: int, seed: int = 3) -> np.ndarray:
    """k well-separated Gaussian blobs of 60-200 points each in 12 dimensions (std 1, centres in [-10, 10])."""
    sizes = [int(size) for size in np.random.default_rng(seed * 10 + k).integers(60, 200, k)]
    points, _ = make_blobs(n_samples=sizes, n_features=12, cluster_std=1.0, center_box=(-10, 10),
                           random_state=seed * 10 + k)
    return points.astype(np.float32)


@pytest.mark.parametrize("criterion", CRITERIA)
@pytest.mark.parametrize("k", [3, 5, 8])
def test_both_criteria_recover_well_separated_blobs(k, criterion):
    estimate = estimate_k(blobs(k), 10, criterion)
    assert isinstance(estimate, KEstimate)
    assert (estimate.k, estimate.criterion) == (k, criterion)
    assert sorted(estimate.scores) == list(range(2, 11))
    assert estimate.scores[k] == max(estimate.scores.values())
    line = estimate.describe()
    assert line.startswith(f"k = {k} by ") and "\n" not in line and f"{k}: " in line


def test_eigengap_of_two_far_apart_tight_groups_is_two():
    """Two groups of 11 equidistant points (0.01·e_i), 100 apart. Each point's 10 neighbours are the rest of
    its group, all at d² = 2e-4 = σ², so W = e^-1 (J − I) within each group and 0 across: each group's
    L = I − (J − I)/10 has eigenvalues 0 and 1.1 (×10). The whole spectrum is 0, 0, 1.1, 1.1, …: the only
    gap is λ_3 − λ_2 = 1.1, at K = 2."""
    group = 0.01 * np.eye(11)
    points = np.concatenate([group, group + 100 * np.eye(11)[0]])
    estimate = estimate_k(points, 6, "eigengap")
    assert estimate.k == 2
    assert estimate.scores == pytest.approx({2: 1.1, 3: 0.0, 4: 0.0, 5: 0.0, 6: 0.0}, abs=1e-4)
    assert "eigengap" in estimate.describe()


def test_sparse_eigensolver_agrees_with_the_dense_one(monkeypatch):
    import clust_core.k_estimate as k_estimate

    points = blobs(5)
    monkeypatch.setattr(k_estimate, "DENSE_MAX_N", 10**6)
    dense = estimate_k(points, 8, "eigengap")
    monkeypatch.setattr(k_estimate, "DENSE_MAX_N", 10)
    sparse = estimate_k(points, 8, "eigengap")
    assert sparse.k == dense.k == 5
    assert np.allclose([sparse.scores[k] for k in range(2, 9)], [dense.scores[k] for k in range(2, 9)], atol=1e-5)


@pytest.mark.parametrize("args, mention", [
    ((10, "gap"), "'gap'"),
    ((100, "eigengap"), "100"),
    ((20, "silhouette"), "20"),
    ((1, "eigengap"), "k_max = 1"),
])
def test_bad_requests_are_one_line_errors(args, mention):
    with pytest.raises(ClustError, match=mention) as error:
        estimate_k(np.zeros((20, 3), np.float32), *args)
    assert "\n" not in str(error.value)


def test_default_k_max_and_pixel_features():
    assert (default_k_max(1797), default_k_max(30)) == (50, 29)
    images = np.full((4, 2, 2, 1), 255, np.uint8)
    features = pixel_features(images)
    assert features.shape == (4, 4) and features.dtype == np.float32 and features.max() == 1.0


def test_resolve_keeps_an_integer_k_and_notes_the_estimate():
    notes: list[str] = []
    config, _ = resolve(load_registry(), RunRequest(k="auto", device="cpu"), log=notes.append)
    assert isinstance(config.k, int) and 2 <= config.k <= 50
    assert len(notes) == 1 and notes[0].startswith(f"k = {config.k} by the eigengap") and "--k auto" in notes[0]
    assert config.k_source == "estimate"


def test_the_source_of_k_is_recorded_and_survives_a_saved_config(tmp_path):
    registry = load_registry()
    sources = {}
    requests = {"labels": RunRequest(), "user": RunRequest(k=7), "set": RunRequest(sets=("k=7",))}
    for name, request in requests.items():
        config, _ = resolve(registry, request)
        sources[name] = (config.k, config.k_source)
    assert sources == {"labels": (10, "labels"), "user": (7, "user"), "set": (7, "user")}
    config, _ = resolve(registry, RunRequest(k="auto"))
    saved = tmp_path / "config.toml"
    write_toml(config, saved)
    again, _ = resolve(registry, RunRequest(config_file=str(saved)))
    assert (again.k, again.k_source) == (config.k, "estimate")
    changed, _ = resolve(registry, RunRequest(config_file=str(saved), k=config.k + 1))
    assert changed.k_source == "user"


@pytest.fixture(scope="module")
def cli():
    return build_cli()


def test_clust_run_k_auto_notes_the_estimate(cli, tmp_path):
    result = CliRunner().invoke(cli, ["run", "--plugin", "kmeans", "--k", "auto", "--set", "report=false",
                                      "--out", str(tmp_path)])
    assert result.exit_code == 0, (result.output, result.exception)
    notes = [line for line in result.stderr.splitlines() if line.startswith("note: k = ")]
    assert len(notes) == 1 and "eigengap" in notes[0] and "--k auto" in notes[0], result.stderr
    k = int(notes[0].split()[3])
    assert f"k={k}," in result.stdout


def test_clust_show_k_auto(cli):
    result = CliRunner().invoke(cli, ["show", "--k", "auto"])
    assert result.exit_code == 0, (result.output, result.exception)
    assert "note: k = " in result.stderr and "eigengap" in result.stderr
    assert ", k=" in result.stdout


@pytest.mark.parametrize("command", ["run", "show"])
def test_a_bad_k_is_a_usage_error(cli, command, tmp_path):
    result = CliRunner().invoke(cli, [command, "--k", "zero", *(["--out", str(tmp_path)] if command == "run" else [])])
    assert result.exit_code == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "'zero'" in lines[0], result.stderr
    assert "Traceback" not in result.output
