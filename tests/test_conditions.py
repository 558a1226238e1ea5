"""Conditions: periods, run ranges, true calibration constants."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from na64reco.conditions import PERIODS, get_period, period_of_run
from na64reco.conditions.processes import PROCESS_IDS, PROCESS_NAMES, pileup_mean, process_table
from na64reco.conditions.truth_calibration import (
    STATUS_ABSENT,
    STATUS_DEAD,
    STATUS_NOISY,
    true_calibration,
)
from na64reco.errors import ConditionsError


def test_periods_and_published_exposure():
    assert list(PERIODS) == ["2016", "2017", "2018", "2021", "2022"]
    # 2016-2018: 2.84e11 EOT [paper 000]; 2016-2022: 9.37e11 [paper 001, detector.md]
    assert sum(PERIODS[p].published_eot for p in ("2016", "2017", "2018")) == pytest.approx(2.84e11)
    assert sum(p.published_eot for p in PERIODS.values()) == pytest.approx(9.37e11)


def test_run_ranges_do_not_overlap_and_match_p348reco():
    ranges = sorted((p.first_run, p.last_run) for p in PERIODS.values())
    for (a0, a1), (b0, _) in itertools.pairwise(ranges):
        assert a1 < b0
        assert a0 <= a1
    assert get_period("2016").last_run == 2466  # runs < 2467 [code]
    assert (get_period("2018").first_run, get_period("2018").last_run) == (3855, 4223)
    assert (get_period("2021").first_run, get_period("2021").last_run) == (5021, 5186)
    assert get_period("2022").first_run == 6035


def test_period_of_run_and_unknown_run():
    assert period_of_run(4000).name == "2018"
    with pytest.raises(ConditionsError, match="run 4500 is in no known run period"):
        period_of_run(4500)


def test_trigger_thresholds_per_period():
    assert get_period("2017").trigger.ecal_max_gev == 80.0  # [paper 000]
    assert get_period("2022").trigger.ecal_max_gev == 90.0  # [paper 001]
    assert all(p.trigger.ps_min_gev == 0.3 for p in PERIODS.values())


def test_true_calibration_is_per_period_and_reproducible():
    a = true_calibration("2016")
    b = true_calibration("2016")
    assert a is b  # cached, read-only
    with pytest.raises(ValueError, match="read-only"):
        a["ecal"]["gain"][0, 0, 0] = 1.0
    other = true_calibration("2017")
    assert not np.allclose(a["ecal"]["gain"], other["ecal"]["gain"])
    epoch1 = true_calibration("2016", epoch=1)
    assert not np.allclose(a["ecal"]["gain"], epoch1["ecal"]["gain"])


def test_true_gain_spread_and_special_channels():
    for name in PERIODS:
        c = true_calibration(name)
        status = c["ecal"]["status"]
        main = c["ecal"]["gain"][1][status[1] != STATUS_ABSENT]
        spread = main.std() / main.mean()
        assert 0.08 < spread < 0.2  # a realistic 10-20% spread (issue 2)
        assert np.count_nonzero(status == STATUS_DEAD) == 1
        assert np.count_nonzero(status == STATUS_NOISY) == 1
        assert np.count_nonzero(c["hcal"]["status"] == STATUS_DEAD) == 1
        assert np.all(c["hcal"]["status"][:, 1, 1] == 0)  # the beam axis crosses the centre
        # no dead or noisy channel in the 3x3 cells around the beam cell
        bx, by = get_period(name).geometry.beam_cell
        assert np.all(status[:, bx - 1 : bx + 2, by - 1 : by + 2] == 0)
    absent = true_calibration("2022")["ecal"]["status"] == STATUS_ABSENT
    assert absent[:, 5, :].all()
    assert not absent[:, :5, :].any()


def test_process_table_documents_every_generated_process():
    table = process_table(get_period("2016"))
    for name, row in table.items():
        assert name in PROCESS_IDS
        assert row.region
        assert row.kinematics
        assert row.source
    assert PROCESS_NAMES[PROCESS_IDS["dimuon"]] == "dimuon"


def test_pileup_grows_with_intensity():
    # 7.5% in-window pile-up at 1.4e6 e-/spill [paper 002] sets the time constant
    from dataclasses import replace

    low = replace(get_period("2016"), intensity_per_spill=1.4e6)
    assert 1 - np.exp(-pileup_mean(low)) == pytest.approx(0.073, abs=0.005)
    assert pileup_mean(get_period("2018")) > pileup_mean(get_period("2016"))
