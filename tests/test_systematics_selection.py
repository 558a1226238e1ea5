"""Systematic variations evaluated in one pass by the selection processor (issue 19).

On the shipped 2016 and 2022 physics files with the shipped constants: a declared 2% ECAL gain
shift gives exactly the counts of a run with hand-shifted constants, no declared variation
leaves the output as it was, and every variation keeps the signal region hidden.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from coffea import processor

from na64reco.calibration.constants import CalibrationDB
from na64reco.calibration.io import load_calibration
from na64reco.cutsets import load_cutset
from na64reco.eventtree import NA64Schema
from na64reco.processors import SelectionProcessor
from na64reco.systematics.config import Systematics

ROOT = Path(__file__).resolve().parents[1]
CALIB = ROOT / "calib" / "na64sim-2016-2022.json"
PHYSICS = [
    ROOT / "data_samples" / "na64sim_2016_physics_run01800.root",
    ROOT / "data_samples" / "na64sim_2022_physics_run06035.root",
]


def _run(proc):
    runner = processor.Runner(
        processor.IterativeExecutor(status=False), schema=NA64Schema, chunksize=100_000
    )
    return runner(
        {"d": {"files": {str(f): "events" for f in PHYSICS}}},
        treename="events",
        processor_instance=proc,
    )


def _syst(*variations) -> Systematics:
    return Systematics.model_validate(
        {"name": "invisible", "version": 1, "description": "test", "variations": variations}
    )


def _scaled(db: CalibrationDB, det: str, factor: float) -> CalibrationDB:
    sets = []
    for c in db.sets:
        d = c.detector(det)
        sets.append(dataclasses.replace(c, **{det: dataclasses.replace(d, gain=d.gain * factor)}))
    return CalibrationDB(sets=tuple(sets), source=db.source)


@pytest.fixture(scope="module")
def calibration():
    return load_calibration(CALIB)


@pytest.fixture(scope="module")
def cutset():
    return load_cutset("invisible")


@pytest.fixture(scope="module")
def ecal_two_percent(calibration, cutset):
    syst = _syst({"name": "ecal_scale", "kind": "calibration", "detector": "ecal", "shift": 0.02})
    return _run(SelectionProcessor(cutset, calibration, systematics=syst))


def _sideband_rows(out, period):
    blocks = out["sideband_events"].get(period, [])
    return np.concatenate(blocks)[:, 3:5] if len(blocks) else np.zeros((0, 2))


@pytest.mark.parametrize(("direction", "factor"), [("up", 1.02), ("down", 0.98)])
def test_declared_ecal_shift_equals_hand_shifted_constants(
    ecal_two_percent, calibration, cutset, direction, factor
):
    """The must-show point: the variation's cutflow and sideband events are those of a
    separate run whose ECAL gains were multiplied by 1.02 (0.98) by hand."""
    hand = _run(SelectionProcessor(cutset, _scaled(calibration, "ecal", factor)))
    label = f"ecal_scale__{direction}"
    var = ecal_two_percent["variations"]
    for period in ("2016", "2022"):
        assert var["cutflow"][label][period] == hand["cutflow"][period], period
        rows = np.concatenate(var["sideband"][label][period])
        np.testing.assert_allclose(
            np.sort(rows[:, 0]), np.sort(_sideband_rows(hand, period)[:, 0]), rtol=1e-6
        )
        h = var["ecal_sideband"][{"syst": label, "period": period}]
        assert h.sum(flow=True) == len(rows)
    # the shift moves something: the trigger stage (ECAL threshold) of 2016
    nominal = ecal_two_percent["cutflow"]["2016"]["trigger"]
    assert var["cutflow"][label]["2016"]["trigger"] != nominal


def test_nominal_part_unchanged_by_variations(ecal_two_percent, calibration, cutset):
    """Declaring variations changes nothing of the nominal output; declaring none (or only
    simulation-weight variations, which data do not carry) adds nothing to it."""
    plain = _run(SelectionProcessor(cutset, calibration))
    only_weights = _run(
        SelectionProcessor(
            cutset,
            calibration,
            systematics=_syst(
                {"name": "intensity", "kind": "weight", "weight": "pileup", "up": 1.2, "down": 0.8}
            ),
        )
    )
    assert set(plain) == set(only_weights)
    assert "variations" not in plain
    for out in (ecal_two_percent, only_weights):
        assert out["cutflow"] == plain["cutflow"]
        assert out["files"] == plain["files"]
        np.testing.assert_array_equal(out["plane"].view(flow=True), plain["plane"].view(flow=True))
        for cut, h in plain["nminus1"].items():
            np.testing.assert_array_equal(out["nminus1"][cut].view(flow=True), h.view(flow=True))
        for period in ("2016", "2022"):
            np.testing.assert_array_equal(
                _sideband_rows(out, period), _sideband_rows(plain, period)
            )
    nominal = ecal_two_percent["variations"]["ecal_sideband"][{"syst": "nominal"}]
    for period in ("2016", "2022"):
        assert nominal[{"period": period}].sum(flow=True) == len(_sideband_rows(plain, period))


def test_every_variation_keeps_the_signal_region_hidden(calibration, cutset):
    """An ECAL scale of +10% would carry box events (E_ECAL < 50 GeV, E_HCAL < 1 GeV with the
    blinding constants) above the box edge, a box edge moved to 45 GeV would leave 45-50 GeV
    open: neither shows any of them, in the cutflow, the sideband or the histogram."""
    syst = _syst(
        {"name": "ecal_big", "kind": "calibration", "detector": "ecal", "shift": 0.10},
        {"name": "box_low", "kind": "cut", "cut": "box", "bound": "max", "up": 0.0, "down": -5.0},
    )
    out = _run(SelectionProcessor(cutset, calibration, systematics=syst))
    var = out["variations"]
    scale = {"ecal_big__up": 1.10, "ecal_big__down": 0.90, "box_low__up": 1.0, "box_low__down": 1.0}
    for label, k in scale.items():
        for period, blocks in var["sideband"][label].items():
            rows = np.concatenate(blocks)
            in_region = (rows[:, 0] / k < 50.0 - 1e-6) & (rows[:, 1] < 1.0)
            assert not in_region.any(), (label, period, rows[in_region])
        h = var["ecal_sideband"][{"syst": label}]
        for period in h.axes["period"]:
            # the E_ECAL histogram of the sideband stage: nothing below the (varied) box edge
            # with the variation's own E_HCAL < 1 GeV can be there: the box count is zero
            assert var["cutflow"][label][period]["box"] == 0, (label, period)
    # what a cut variation hides is a superset of the nominal box: counts never exceed nominal
    for label in ("box_low__down",):
        for period, flow in var["cutflow"][label].items():
            assert flow["all"] <= out["cutflow"][period]["all"]


def test_event_normals_depend_on_the_event_only():
    """The smearing of an event is the same in any chunk, in any order; standard normal."""
    from na64reco.systematics.apply import event_normals

    rng = np.random.default_rng(3)
    run = np.full(20_000, 1800)
    spill = rng.integers(1, 50, 20_000)
    event = np.arange(20_000)
    z = event_normals(run, spill, event, 72, "ecal_res")
    order = rng.permutation(20_000)[:500]
    np.testing.assert_array_equal(
        event_normals(run[order], spill[order], event[order], 72, "ecal_res"), z[order]
    )
    assert abs(z.mean()) < 0.003
    assert abs(z.std() - 1.0) < 0.003
    other = event_normals(run, spill, event, 72, "hcal_res")  # another variation: independent
    assert abs(np.corrcoef(z.ravel(), other.ravel())[0, 1]) < 0.003


def test_resolution_variation_smears_by_the_declared_width(calibration, cutset):
    """ECAL +5% per-channel smearing: for showers above 50 GeV the change of E_ECAL is
    Gaussian with sigma = 0.05 sqrt(sum of cell energies squared) (within 10%); down is the
    nominal; the run's nominal output is unchanged."""
    import uproot

    from na64reco.reco.event import reconstruct_event
    from na64reco.systematics.apply import smeared_arrays
    from na64reco.systematics.config import CalibrationShift

    var = CalibrationShift(
        kind="calibration", name="ecal_res", detector="ecal", quantity="resolution", shift=0.05
    )
    with uproot.open(PHYSICS[0]) as f:
        t = f["events"]
        arrays = t.arrays(["run", "spill", "event", "trigger"], library="np")
        for det in ("ecal", "hcal", "srd", "veto", "counter"):
            arrays.update(t.arrays([f"{det}_amp", f"{det}_t"], library="np"))
    cset = calibration.for_run(int(arrays["run"][0]))
    nominal = reconstruct_event(arrays, cset)
    smeared = reconstruct_event(smeared_arrays(arrays, cset, var), cset)
    e, e2 = nominal["ecal_e"], smeared["ecal_e"]
    cells = nominal["ecal_cell_e"].reshape(len(e), -1)
    sel = e > 50.0
    pull = (e2 - e)[sel] / (0.05 * np.sqrt(np.square(cells[sel]).sum(axis=1)))
    assert sel.sum() > 200
    assert abs(pull.std() - 1.0) < 0.1, pull.std()
    np.testing.assert_array_equal(smeared["hcal_e"], nominal["hcal_e"])  # only the ECAL
    syst = _syst(var.model_dump(exclude={"description"}))
    out = _run(SelectionProcessor(cutset, calibration, systematics=syst))
    flows = out["variations"]["cutflow"]
    assert flows["ecal_res__down"] == out["cutflow"]
    assert flows["ecal_res__up"] != out["cutflow"]
