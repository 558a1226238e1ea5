"""The simulated data reproduce the numbers of detector.md at truth level (stated tolerances).

Each test names the paper number it checks. Tolerances are statistical where the sample is small
and otherwise the "order of" of the papers: the simulation is parametrised, not Geant4.
"""

from __future__ import annotations

import numpy as np
import pytest

from na64reco.calibration.io import load_calibration
from na64reco.conditions import PERIODS, get_period
from na64reco.constants import PDG_ELECTRON, PDG_KAON, PDG_PION
from na64reco.cutsets import load_cutset
from na64reco.cutsets.evaluate import cut_masks
from na64reco.eventtree.contract import TRIGGER_BEAM, TRIGGER_PHYSICS
from na64reco.reco.event import reconstruct_event
from na64reco.shipped import calibration_path
from na64reco.sim.batch import EventBatch
from na64reco.sim.generators import SimContext, add_beam_particles
from na64reco.sim.hardware import truth_deposits
from na64reco.sim.run import SimRequest, generate_run, plan_runs
from na64reco.sim.validation import expected_box_background, sr_tagged

PAPER002_EOT = 2.75e9


@pytest.fixture(scope="module")
def recorded_runs_2016():
    """5.5e8 EOT of 2016 physics runs (a fifth of paper 002's exposure), in memory."""
    request = SimRequest(period="2016", eot=PAPER002_EOT / 5, seed=21)
    return [generate_run(request, plan)[0] for plan in plan_runs(request)]


@pytest.fixture(scope="module")
def recorded_2016(recorded_runs_2016):
    parts = recorded_runs_2016
    keys = [k for k in parts[0] if k not in ("mm", "st")]
    return {k: np.concatenate([p[k] for p in parts]) for k in keys}


def test_sr_tagged_events_in_the_plane_per_paper002_exposure(recorded_2016):
    """~5e4 SR-tagged physics-trigger events per 2.75e9 EOT [paper 002, Fig. 2]: within 30%."""
    a = recorded_2016
    n = np.count_nonzero(((a["trigger"] & TRIGGER_PHYSICS) > 0) & sr_tagged(a)) * 5
    assert n == pytest.approx(5e4, rel=0.3)


def test_events_after_paper002_cuts(recorded_runs_2016):
    """~300 events pass cuts (i)-(iv) per 2.75e9 EOT [paper 002]: the invisible selection up to
    its VETO cut, reconstructed with the shipped calibration, within 30% (measured 290 at the
    full exposure: ~200 hadron electroproduction whose VETO stayed silent, ~90 upstream
    interactions; both leave HCAL energy, none is in the box)."""
    db = load_calibration(calibration_path())
    cutset = load_cutset("invisible")
    n = 0
    for a in recorded_runs_2016:
        v = reconstruct_event(a, db.for_run(int(a["run"][0])))
        passed = np.ones(len(a["run"]), dtype=bool)
        for name, mask in cut_masks(cutset, v, "2016").items():
            passed &= mask
            if name == "veto":
                break
        n += int(passed.sum())
        assert not np.any(passed & (v["hcal_e"] < 1.0) & (v["ecal_e"] < 50.0))
    assert n * 5 == pytest.approx(300, rel=0.3)


def test_dimuon_count_and_band(recorded_2016):
    """~5e3 dimuons with E_ECAL < 60 GeV per 2.75e9 EOT [paper 002] within 30%; their HCAL band.

    A MIP leaves ~2 GeV per module [paper 004: ~12 GeV for a pair in three modules; paper 002:
    ~10 GeV for a pair in the first two, 2.5 GeV]: the band of the four in-line 2016 modules,
    per muon and module, within 10% of 2 GeV (measured 2.00: from the sampling structure,
    conditions/hcal_sampling.py).
    """
    a = recorded_2016
    dimuon = (a["mc_process"] == 3) & ((a["trigger"] & TRIGGER_PHYSICS) > 0) & sr_tagged(a)
    clean = dimuon & (a["mc_ecal_edep"] < 60) & (a["mc_n_muons"] == 2)
    assert np.count_nonzero(clean) * 5 == pytest.approx(5e3, rel=0.3)
    e_hcal = a["mc_hcal_edep"][clean]
    assert np.median(e_hcal) / (2 * 4) == pytest.approx(2.0, rel=0.1)
    # beside it: nothing but noise between the zero-energy threshold and the single-MIP band
    assert np.mean(e_hcal < 6.0) < 0.1


def test_dimuon_band_2022_three_modules():
    """Three in-line modules from 2021: a dimuon pair leaves ~12 GeV [paper 004] (10%;
    measured 12.1 GeV); the zero-degree HCAL3 sees none of it."""
    request = SimRequest(period="2022", eot=2e8, seed=22)
    a, _ = generate_run(request, plan_runs(request)[0])
    clean = (a["mc_process"] == 3) & (a["mc_n_muons"] == 2) & sr_tagged(a)
    assert np.median(a["mc_hcal_edep"][clean]) == pytest.approx(12.0, rel=0.1)


def test_full_energy_electron_resolution(recorded_2016):
    """Beam-trigger electrons: sigma/E = 10%/sqrt(E) (+) 1.5% at 100 GeV within 15%."""
    a = recorded_2016
    beam_e = ((a["trigger"] & TRIGGER_BEAM) > 0) & (a["mc_beam_pdg"] == PDG_ELECTRON)
    beam_e &= a["mc_beam_energy"] > 95
    ratio = a["mc_ecal_edep"][beam_e] / a["mc_beam_energy"][beam_e]
    core = ratio[np.abs(ratio - np.median(ratio)) < 0.15]
    expected = np.hypot(0.10 / np.sqrt(100.0), 0.015)
    assert core.std() == pytest.approx(expected, rel=0.15)
    assert np.median(ratio) == pytest.approx(1.0, abs=0.01)  # containment > 99%


def test_hadron_fraction_and_srd_suppression():
    """Beam hadrons ~1% of the beam [paper 000]; the SRD tags ~97% of electrons and suppresses
    hadrons by ~1e3 in 2016 [paper 002]."""
    ctx = SimContext(get_period("2016"))
    rng = np.random.default_rng(5)
    n = 400_000
    batch = EventBatch.empty(n, 0)
    pdg, _ = add_beam_particles(rng, batch, batch.intime, np.arange(n), ctx)
    deposits = truth_deposits(batch, 15.0)
    hadron = np.isin(pdg, [PDG_PION, PDG_KAON])
    assert hadron.mean() == pytest.approx(0.01, rel=0.1)
    tag = sr_tagged(deposits)
    assert tag[pdg == PDG_ELECTRON].mean() == pytest.approx(0.97, abs=0.02)
    n_had_tagged = np.count_nonzero(tag & hadron)
    expected = 1e-3 * hadron.sum()  # ~4 of ~4000: Poisson, within 3 standard deviations
    assert abs(n_had_tagged - expected) < 3 * np.sqrt(expected)


def _box(periods: tuple[str, ...]) -> tuple[float, float]:
    rows = [
        expected_box_background(
            p, PERIODS[p].published_eot, events_per_process=10000, seed=3, with_errors=True
        )
        for p in periods
    ]
    return sum(r["total"] for r in rows), float(np.sqrt(sum(r["total_err"] ** 2 for r in rows)))


def test_expected_box_background_2016_2018():
    """Truth-level box background for the 2.84e11 EOT of 2016-2018 within paper 000's
    0.53 +- 0.17 (measured 0.44 +- 0.01 at 4x these statistics: K_e3 / pi -> e nu decays with an
    SRD fake in 2016, 0.22, and upstream interactions, 0.20, paper 001: 0.4 +- 0.2)."""
    total, err = _box(("2016", "2017", "2018"))
    assert err < 0.05
    assert 0.53 - 0.17 < total < 0.53 + 0.17


def test_expected_box_background_2021_2022():
    """Truth-level box background for the 6.53e11 EOT of 2021-2022 within paper 001's
    0.3 +- 0.2 (measured 0.41 +- 0.02): the same escape probability as 2016-2018, HCAL3 at zero
    degrees catches part of the escaping systems, the 2021 box ends at 47 GeV."""
    total, err = _box(("2021", "2022"))
    assert err < 0.06
    assert 0.3 - 0.2 < total < 0.3 + 0.2


@pytest.mark.slow
def test_sideband_coverage_2022():
    """The sideband estimate covers the truth in 2022 too (zero-degree HCAL3, fit up to
    85.05 GeV): 40 datasets of 1e10 EOT with the upstream rate x1000 (~6 box events each);
    pull mean within 0.2 and width within 0.8-1.2 up to two standard errors (measured with 150
    datasets: mean -0.13 +- 0.09, width 1.08)."""
    import importlib.util
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "benchmarks" / "validate_background_coverage.py"
    spec = importlib.util.spec_from_file_location("coverage_2022", script)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    res = mod.run(period="2022", datasets=40, truth_factor=10)
    assert res["fitted"] == 40
    assert res["truth"] > 3
    assert abs(res["pull_mean"]) < 0.2 + 2 * res["pull_mean_err"]
    width_err = res["pull_width"] / np.sqrt(2 * (res["fitted"] - 1))
    assert 0.8 - 2 * width_err < res["pull_width"] < 1.2 + 2 * width_err
