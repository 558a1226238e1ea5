"""EOT from the prescaled beam trigger: closure with the simulated files' metadata EOT."""

from __future__ import annotations

from importlib import resources

import numpy as np
import pytest

from na64reco.background.exposure import beam_trigger_counts, dimuon_ratio, eot_from_beam_trigger
from na64reco.eventtree.reader import read_metadata
from na64reco.fileset import load_fileset


def test_eot_from_beam_trigger_matches_metadata():
    samples = resources.files("na64reco.data_samples")
    fs = load_fileset(str(samples / "fileset.json"), verify_checksums=False)
    for entry in fs.files:
        if entry.kind != "physics":
            continue
        meta = read_metadata(entry.path)
        counts = beam_trigger_counts([entry.path])
        (period,) = counts
        e = eot_from_beam_trigger(period, counts[period])
        live = meta["eot"] * meta["daq_live_fraction"]
        assert e["prescale"] == meta["beam_trigger_prescale"]
        # Poisson: the expected count's sigma, 3 standard deviations
        sigma = np.sqrt(live / e["prescale"]) * e["prescale"]
        assert abs(e["eot_live"] - live) < 3 * sigma, (entry.path, e, live)
        assert abs(e["eot_delivered"] - meta["eot"]) < 3 * sigma / meta["daq_live_fraction"]
        assert e["eot_live_stat"] == pytest.approx(np.sqrt(counts[period]) * 1e5)


def test_dimuon_ratio():
    r = dimuon_ratio(100, 2e9, 400, 4e9)
    assert r["predicted"] == pytest.approx(200.0)
    assert r["ratio"] == pytest.approx(0.5)
    assert r["ratio_stat"] == pytest.approx(0.5 * np.sqrt(1 / 100 + 1 / 400))
