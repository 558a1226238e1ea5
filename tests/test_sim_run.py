"""Simulated runs: planning, determinism, event-tree round trip, metadata, accounting."""

from __future__ import annotations

import numpy as np
import pytest

from na64reco.conditions import get_period
from na64reco.conditions.processes import PROCESS_IDS
from na64reco.conditions.truth_calibration import STATUS_ABSENT, true_calibration
from na64reco.errors import ConditionsError
from na64reco.eventtree import content_digest, contract, open_event_file
from na64reco.fileset import load_fileset
from na64reco.sim.run import SimRequest, generate_run, plan_runs, simulate, update_fileset


@pytest.fixture(scope="module")
def physics_2016():
    request = SimRequest(period="2016", eot=5e7, seed=11)
    plan = plan_runs(request)[0]
    return request, plan, *generate_run(request, plan)


def test_plan_physics_runs_split_by_spills():
    period = get_period("2018")
    per_run = period.spills_per_run * period.intensity_per_spill
    plans = plan_runs(SimRequest(period="2018", eot=2.5 * per_run))
    assert [p.run for p in plans] == [period.first_run + i for i in range(3)]
    assert sum(p.eot for p in plans) == pytest.approx(2.5 * per_run)
    assert plans[-1].spills == period.spills_per_run // 2


def test_full_exposure_fits_in_the_period_run_ranges():
    for name in ("2016", "2017", "2018", "2021", "2022"):
        period = get_period(name)
        plans = plan_runs(SimRequest(period=name, eot=period.published_eot))
        assert plans[-1].run <= period.last_run


def test_plan_rejects_runs_outside_the_period():
    with pytest.raises(ConditionsError, match=r"run 2467 is outside period 2016"):
        plan_runs(SimRequest(period="2016", eot=4e8, first_run=2467))


@pytest.mark.parametrize(
    ("request_kwargs", "message"),
    [
        ({"period": "2016"}, "needs a positive EOT"),
        (
            {
                "period": "2016",
                "kind": "signal",
                "events": 10,
                "signal_model": "axion",
                "mass_gev": 0.1,
            },
            "unknown signal model 'axion'",
        ),
        (
            {"period": "2016", "kind": "signal", "events": 10, "signal_model": "aprime"},
            "needs a positive mass",
        ),
        ({"period": "2016", "kind": "muon"}, "needs a positive number of events"),
        ({"period": "2016", "eot": 1e8, "rate_scale": {"upstream": 10.0}}, "unknown process"),
    ],
)
def test_bad_requests_are_clear_errors(request_kwargs, message):
    with pytest.raises(ValueError, match=message):
        plan_runs(SimRequest(**request_kwargs))


def test_unknown_period_is_a_clear_error():
    with pytest.raises(ConditionsError, match="unknown run period '2019'"):
        plan_runs(SimRequest(period="2019", eot=1e8))


def test_same_seed_same_events_other_seed_other_events(physics_2016):
    request, plan, arrays, _ = physics_2016
    again, _ = generate_run(request, plan)
    for name in ("ecal_amp", "hcal_t", "trigger", "mc_process", "spill", "event"):
        np.testing.assert_array_equal(arrays[name], again[name])
    assert arrays["mm"].tolist() == again["mm"].tolist()
    other, _ = generate_run(SimRequest(period="2016", eot=5e7, seed=12), plan)
    assert len(other["run"]) != len(arrays["run"]) or not np.array_equal(
        other["ecal_amp"], arrays["ecal_amp"]
    )


def test_run_content_is_independent_of_other_runs():
    period = get_period("2016")
    per_run = period.spills_per_run * period.intensity_per_spill
    two = plan_runs(SimRequest(period="2016", eot=2 * per_run, seed=5))
    alone = SimRequest(period="2016", eot=per_run, seed=5, first_run=two[1].run)
    a, _ = generate_run(SimRequest(period="2016", eot=2 * per_run, seed=5), two[1])
    b, _ = generate_run(alone, plan_runs(alone)[0])
    np.testing.assert_array_equal(a["ecal_amp"], b["ecal_amp"])


def test_recorded_events_are_triggered_and_accounted(physics_2016):
    _request, plan, arrays, summary = physics_2016
    trig = arrays["trigger"]
    assert np.all(trig != 0)
    assert summary["events"] == len(trig)
    assert sum(summary["recorded_by_process"].values()) == len(trig)
    period = get_period("2016")
    # beam triggers: Poisson(EOT / prescale) x live fraction
    expected_beam = plan.eot / period.trigger.beam_prescale * period.daq_live_fraction
    assert summary["trigger_counts"]["beam"] == pytest.approx(
        expected_beam, rel=5 / np.sqrt(expected_beam)
    )
    expected_random = plan.spills * period.trigger.random_per_spill * period.daq_live_fraction
    assert summary["trigger_counts"]["random"] == pytest.approx(expected_random, rel=0.15)
    # background processes are only written when they fired the physics trigger
    background = ~np.isin(arrays["mc_process"], [PROCESS_IDS["random"]]) & ((trig & 2) == 0)
    assert np.all(trig[background] & contract.TRIGGER_PHYSICS)


def test_events_are_in_beam_order_within_spills(physics_2016):
    _, plan, arrays, _ = physics_2016
    spill, event = arrays["spill"], arrays["event"]
    assert np.all(np.diff(spill) >= 0)
    assert spill.min() >= 1
    assert spill.max() <= plan.spills
    starts = np.r_[True, spill[1:] != spill[:-1]]
    assert np.all(event[starts] == 1)
    assert np.all(np.diff(event)[~starts[1:]] == 1)


def test_raw_amplitudes_follow_the_true_calibration(physics_2016):
    """Random triggers carry pedestals with the true noise; beam electrons the true gains."""
    _, _, arrays, _ = physics_2016
    truth = true_calibration("2016")
    random = (arrays["trigger"] & contract.TRIGGER_RANDOM) > 0
    # random triggers without pile-up: the main ECAL section is pedestal + noise
    quiet = random & (arrays["mc_n_pileup"] == 0)
    amp = arrays["ecal_amp"][quiet]
    ok = truth["ecal"]["status"] != STATUS_ABSENT
    standard_error = truth["ecal"]["noise"][ok] / np.sqrt(len(amp))
    pull = (amp.mean(axis=0)[ok] - truth["ecal"]["pedestal"][ok]) / standard_error
    assert np.all(np.abs(pull) < 5)
    noise = amp.std(axis=0)[ok]
    np.testing.assert_allclose(noise, truth["ecal"]["noise"][ok], rtol=0.3)
    assert arrays["ecal_amp"].dtype == np.float32
    assert np.all((arrays["ecal_amp"] >= 0) & (arrays["ecal_amp"] <= 4095))


def test_signal_sample_writes_triggered_events_and_generated_count(tmp_path):
    request = SimRequest(
        period="2016", kind="signal", events=400, signal_model="aprime", mass_gev=0.02, seed=3
    )
    summaries = simulate(request, tmp_path)
    ef = open_event_file(summaries[0]["path"])
    meta = ef.metadata
    signal = meta["signal"]
    assert (signal["model"], signal["mass_gev"], signal["events_generated"]) == (
        "aprime",
        0.02,
        400,
    )
    # the true missing-energy spectrum of every generated event, the efficiency denominator
    assert sum(signal["e_miss_generated"]) == 400
    assert len(signal["e_miss_edges_gev"]) == len(signal["e_miss_generated"]) + 1
    arrays = ef.arrays(["trigger", "mc_process", "mc_signal_mass", "mc_e_miss"])
    assert 0 < ef.num_entries < 400
    assert np.all(arrays["trigger"] & contract.TRIGGER_PHYSICS)
    assert np.all(arrays["mc_process"] == PROCESS_IDS["signal"])
    assert np.all(arrays["mc_signal_mass"] == np.float32(0.02))
    assert np.all(arrays["mc_e_miss"] > 0)


def test_calibration_runs_use_the_calibration_trigger(tmp_path):
    for kind, process in (("ecal-scan", "calib_ecal_scan"), ("muon", "calib_muon")):
        request = SimRequest(period="2022", kind=kind, events=300, seed=4)
        path = simulate(request, tmp_path)[0]["path"]
        ef = open_event_file(path)
        arrays = ef.arrays(["trigger", "mc_process", "run", "ecal_amp"])
        assert np.all(arrays["trigger"] == contract.TRIGGER_CALIBRATION)
        assert np.all(arrays["mc_process"] == PROCESS_IDS[process])
        assert arrays["run"][0] == get_period("2022").last_run - {"ecal-scan": 0, "muon": 1}[kind]
        # 2022: the sixth ECAL column is not instrumented and reads zero
        assert np.all(arrays["ecal_amp"][:, :, 5, :] == 0)


def test_file_round_trip_and_metadata(tmp_path, physics_2016):
    request = SimRequest(period="2016", eot=5e7, seed=11)
    summaries = simulate(request, tmp_path)
    _, _, arrays, _ = physics_2016
    ef = open_event_file(summaries[0]["path"])
    back = ef.arrays()
    for name, value in arrays.items():
        if name in ("mm", "st"):
            assert back[name].tolist() == value.tolist()
        else:
            np.testing.assert_array_equal(back[name], value, err_msg=name)
    meta = ef.metadata
    assert meta["schema_version"] == contract.SCHEMA_VERSION
    assert meta["period"] == "2016"
    assert meta["simulation"] is True
    assert meta["eot"] == pytest.approx(5e7)
    assert meta["generator"]["seed"] == 11
    truth = true_calibration("2016")
    np.testing.assert_allclose(
        meta["true_calibration"]["constants"]["ecal"]["gain"], truth["ecal"]["gain"], rtol=1e-6
    )
    # a second simulation with the same seed has the same content
    again = simulate(request, tmp_path / "again")
    assert content_digest(again[0]["path"]) == content_digest(summaries[0]["path"])


def test_fileset_manifest_accumulates_and_validates(tmp_path):
    physics = SimRequest(period="2016", eot=2e7, seed=1)
    random = SimRequest(period="2016", kind="random", events=50, seed=1)
    s1 = simulate(physics, tmp_path)
    update_fileset(tmp_path / "fileset.json", physics, s1, command="na64 simulate A")
    s2 = simulate(random, tmp_path)
    update_fileset(tmp_path / "fileset.json", random, s2, command="na64 simulate B")
    fs = load_fileset(tmp_path / "fileset.json", verify_checksums=True)
    assert [f.kind for f in fs.files] == ["physics", "random"]
    assert fs.total_eot == pytest.approx(2e7)
    assert fs.files[0].events == s1[0]["events"]
    assert fs.command == "na64 simulate A\nna64 simulate B"
