"""Processors on simulated data: paper 002 orders of magnitude, dimuons, A' efficiency.

Samples are simulated here (seeded) and calibrated with the constants derived from simulated
calibration runs of the same periods (the shipped calib/ file covers 2016 and 2022).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from coffea import processor

from na64reco.calibration.io import load_calibration
from na64reco.cutsets import load_cutset
from na64reco.eventtree import NA64Schema, read_metadata
from na64reco.processors import (
    CalibrationSpectraProcessor,
    SelectionProcessor,
    SignalEfficiencyProcessor,
)
from na64reco.run.efficiency import efficiencies
from na64reco.sim.run import SimRequest, simulate

CALIB = Path(__file__).resolve().parents[1] / "calib" / "na64sim-2016-2022.json"


def _run(files, proc):
    runner = processor.Runner(
        processor.IterativeExecutor(status=False), schema=NA64Schema, chunksize=100_000
    )
    return runner(
        {"d": {"files": {str(f): "events" for f in files}}},
        treename="events",
        processor_instance=proc,
    )


@pytest.fixture(scope="module")
def physics_2016(tmp_path_factory):
    """5.5e8 EOT of 2016 (a fifth of paper 002's 2.75e9)."""
    out = tmp_path_factory.mktemp("phys2016")
    summaries = simulate(SimRequest(period="2016", eot=5.5e8, seed=31), out)
    return [s["path"] for s in summaries]


def test_invisible_cutflow_orders_of_magnitude(physics_2016):
    """Paper 002: ~5e4 SR-tagged events in the plane per 2.75e9 EOT, a few hundred after the
    cuts on track, SRD, shower shape and VETO. Here: within a factor 2 and 'a few hundred'
    (100-1000) after our equivalent cuts, scaled by 5 to 2.75e9 EOT."""
    out = _run(physics_2016, SelectionProcessor(load_cutset("invisible"), load_calibration(CALIB)))
    flow = out["cutflow"]["2016"]
    tagged = flow["srd"] * 5
    assert 2.5e4 < tagged < 1e5, flow
    after_veto = flow["veto"] * 5
    assert 100 < after_veto < 1000, flow
    # the box is blinded: the plane shows nothing there, the cutflow stops before it
    plane = out["plane"][{"period": "2016"}]
    assert plane[{"stage": "all"}].values()[:50, :1].sum() == 0  # every stage, even before cuts
    assert sum(out["files"].values()) == sum(_entries(f) for f in physics_2016)


def _entries(path):
    import uproot

    with uproot.open(path) as f:
        return f["events"].num_entries


def test_dimuon_band_where_it_belongs(physics_2016):
    """Selected dimuons: every in-line HCAL module carries two MIPs, E_HCAL ~4 x 2 x 2 GeV in
    2016 (paper 002: ~10 GeV in the first two modules), E_ECAL < 60 GeV."""
    out = _run(physics_2016, SelectionProcessor(load_cutset("dimuon"), load_calibration(CALIB)))
    flow = out["cutflow"]["2016"]
    assert flow["ecal_below_60"] * 5 > 1000  # paper 002: ~5e3 clean dimuons per 2.75e9 EOT
    plane = out["plane"][{"period": "2016", "stage": "ecal_below_60"}]
    hcal = plane.project("hcal_e")
    centres = hcal.axes[0].centers
    mean = (hcal.values() * centres).sum() / hcal.values().sum()
    assert 12.0 < mean < 20.0


@pytest.mark.parametrize("mass", [0.001, 0.02, 0.1])
def test_aprime_efficiency(tmp_path, mass):
    """A' signal efficiency 0.5-0.7 for 1-100 MeV (paper 002: 0.69 to 0.55, paper 000: 0.5-0.7),
    relative to A's emitted with E > E0 - 50 GeV, within two statistical standard errors.

    Measured (seed 5, 4000 generated): 0.62 (1 MeV), 0.54 (20 MeV), 0.49 (100 MeV). The drop
    with mass comes mostly from the trigger's preshower threshold: the IWW spectrum peaks at
    x -> 1, and an A' taking all but < 1 GeV leaves too little in the PS (9-13% of the events
    at 20-100 MeV; paper 000 quotes <~5% for this correction with exact tree-level spectra).
    """
    req = SimRequest(
        period="2016", kind="signal", events=4000, signal_model="aprime", mass_gev=mass, seed=5
    )
    files = [s["path"] for s in simulate(req, tmp_path)]
    info = {f: read_metadata(f)["signal"] for f in files}
    cutset = load_cutset("invisible")
    out = _run(files, SignalEfficiencyProcessor(cutset, load_calibration(CALIB), info))
    edges = {f: i["e_miss_edges_gev"] for f, i in info.items()}
    (eff,) = efficiencies(out, cutset, edges).values()
    assert eff["generated_in_region"] > 500
    assert eff["efficiency_stat"] < 0.03
    tolerance = 2 * eff["efficiency_stat"]
    assert 0.5 - tolerance < eff["efficiency"] < 0.7 + tolerance, eff["efficiency"]


def test_calibration_spectra_show_the_peaks():
    samples = Path(__file__).resolve().parents[1] / "data_samples"
    files = sorted(samples.glob("na64sim_2016_muon_*.root")) + sorted(
        samples.glob("na64sim_2016_random_*.root")
    )
    out = _run(files, CalibrationSpectraProcessor())
    hcal = out["spectra"]["hcal"]["amplitude"]
    random = hcal[{"trigger": "random"}].values()
    calib = hcal[{"trigger": "calibration"}].values()
    # random triggers: every channel sits at its pedestal; muons add a MIP peak above it
    centres = hcal.axes["amp"].centers
    ped = (random * centres).sum(axis=1) / random.sum(axis=1)
    mean = (calib * centres).sum(axis=1) / np.maximum(calib.sum(axis=1), 1)
    assert np.all((ped > 50) & (ped < 300))
    assert np.median(mean - ped) > 3  # a ~2 GeV MIP x 20 ADC/GeV in one of 9 cells per module


def test_region_variables_agree_with_reconstruct_event(physics_2016):
    """The blinded regions' variables, reconstructed alone (the calorimeters) with the blinding
    constants, are exactly those of the full reconstruction with the same constants."""
    from na64reco.blinding import REGION_VARIABLES
    from na64reco.eventtree import open_event_file
    from na64reco.processors.selection import region_variables
    from na64reco.reco.event import reconstruct_event

    arrays = open_event_file(physics_2016[0]).arrays(entry_stop=300)
    cset = load_calibration(CALIB).for_run(int(arrays["run"][0]))
    full, alone = reconstruct_event(arrays, cset), region_variables(arrays, cset)
    assert set(alone) == set(REGION_VARIABLES)
    for name in REGION_VARIABLES:
        np.testing.assert_array_equal(alone[name], full[name], err_msg=name)
