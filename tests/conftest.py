"""Shared fixtures: a seeded generator of valid event batches (reuse ``make_batch`` freely)."""

from __future__ import annotations

from collections.abc import Callable

import awkward as ak
import numpy as np
import pytest

from na64reco.eventtree import contract


@pytest.fixture(scope="session", autouse=True)
def _private_checksum_cache(tmp_path_factory):
    """Tests (and the processes they start) keep the checksum cache out of the user's home."""
    import os

    previous = os.environ.get("NA64_CACHE_DIR")
    os.environ["NA64_CACHE_DIR"] = str(tmp_path_factory.mktemp("na64-cache"))
    yield
    if previous is None:
        os.environ.pop("NA64_CACHE_DIR", None)
    else:
        os.environ["NA64_CACHE_DIR"] = previous


@pytest.fixture(scope="session")
def analyzed_sample(tmp_path_factory):
    """``na64 -q analyze`` on a copy of the shipped sample, once per session, from and into
    folders whose names have non-ASCII characters and spaces (every path of the chain handles
    them). Tests must not change it: copy the folder to rerun stages."""
    import shutil
    from pathlib import Path

    from click.testing import CliRunner

    from na64reco.cli import main

    sample = Path(__file__).resolve().parents[1] / "data_samples"
    root = tmp_path_factory.mktemp("analyze")
    data = root / "données du run"
    shutil.copytree(sample, data, ignore=shutil.ignore_patterns("*.py", "*.sh", "__pycache__"))
    out = root / "résultats é"
    result = CliRunner().invoke(
        main, ["-q", "analyze", str(data / "fileset.json"), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert result.output == ""  # quiet really is quiet
    return out


def _hits(rng: np.random.Generator, n: int, fields: dict[str, tuple], mean: float) -> ak.Array:
    counts = rng.poisson(mean, size=n)
    total = int(counts.sum())
    cols = {}
    for name, (dtype, hi) in fields.items():
        dt = np.dtype(dtype)
        if dt.kind == "f":
            cols[name] = rng.normal(hi, hi / 4, total).astype(dt)
        else:
            cols[name] = rng.integers(0, hi, total).astype(dt)
    return ak.unflatten(ak.zip(cols), counts)


def generate_batch(n: int, seed: int = 1, *, mc: bool = False, run: int = 9000) -> dict:
    """A valid batch of ``n`` events (random values, variable-length hit lists)."""
    rng = np.random.default_rng(seed)
    batch: dict = {
        "run": np.full(n, run, dtype="i4"),
        "spill": (np.arange(n) // 1000 + 1).astype("i4"),
        "event": np.arange(n, dtype="i8"),
        "trigger": rng.choice(np.array([1, 2, 4, 8, 3], dtype="u2"), size=n),
    }
    for spec in contract.FIXED_BRANCHES[4:]:
        scale = 100.0 if spec.name.endswith("_amp") else 20.0
        batch[spec.name] = rng.normal(scale, scale / 5, (n, *spec.shape)).astype(spec.dtype)
    batch["mm"] = _hits(
        rng,
        n,
        {
            "station": ("u1", 6),
            "plane": ("u1", 2),
            "strip": ("u2", 320),
            "amp": ("f4", 50.0),
            "t": ("f4", 30.0),
        },
        mean=6.0,
    )
    batch["st"] = _hits(
        rng,
        n,
        {"station": ("u1", 4), "plane": ("u1", 2), "wire": ("u2", 64), "t": ("f4", 40.0)},
        mean=3.0,
    )
    if mc:
        for spec in contract.MC_BRANCHES:
            if spec.dtype.kind == "f":
                batch[spec.name] = rng.exponential(10.0, n).astype(spec.dtype)
            else:
                batch[spec.name] = rng.integers(0, 5, n).astype(spec.dtype)
        batch["mc_beam_pdg"] = np.full(n, 11, dtype="i4")
    return batch


@pytest.fixture
def make_batch() -> Callable[..., dict]:
    """``make_batch(n, seed, mc=False, run=9000)`` -> a valid writer batch."""
    return generate_batch


@pytest.fixture
def sample_metadata() -> dict:
    """Metadata of a small simulated file."""
    return {
        "period": "2023B",
        "beam_energy_gev": 100.0,
        "simulation": True,
        "generator": {"name": "na64reco.sim", "version": "0.1.0"},
        "seed": 42,
        "eot": 1.0e6,
        "true_calibration": {"ecal_gain": [1.0, 1.1]},
    }


@pytest.fixture
def event_file(tmp_path, make_batch, sample_metadata):
    """A written file (300 events, MC branches) and the batch it holds."""
    from na64reco.eventtree import write_events

    batch = make_batch(300, seed=7, mc=True)
    path = tmp_path / "sample.root"
    write_events(path, batch, sample_metadata)
    return path, batch
