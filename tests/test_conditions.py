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


def test_bethe_reproduces_the_pdg_minimum_ionisation():
    """The Bethe + Sternheimer implementation of the HCAL sampling gives PDG's printed minimum
    dE/dx of iron (1.451) and of plastic scintillator (1.956 MeV cm^2/g) within 1%."""
    from scipy import optimize

    from na64reco.conditions.hcal_sampling import IRON, SCINTILLATOR, mean_dedx

    for material in (IRON, SCINTILLATOR):
        res = optimize.minimize_scalar(
            lambda p, m=material: mean_dedx(m, p), bounds=(0.15, 2.0), method="bounded"
        )
        assert res.fun == pytest.approx(material.dedx_min, rel=0.01)


def test_hcal_mip_signal_from_the_sampling_structure():
    """48 layers of 25.45 mm Fe + 4 mm Sc make the ~7.5 lambda_I module [paper 002]; a muon's
    most probable signal per module lies between paper 004 (~2 GeV: a pair leaves ~12 GeV in
    three modules) and paper 002 (~2.5 GeV: ~10 GeV in two); it loses ~1.9 GeV per module."""
    from na64reco.conditions import RESPONSE
    from na64reco.conditions import hcal_sampling as h

    assert h.layers_per_module() == 48
    sc = 0.4 * 1.032 * 1.956
    assert h.mip_sampling_fraction() == pytest.approx(sc / (sc + 2.545 * 7.874 * 1.451))
    assert 1.8 < h.mip_signal_per_module_gev() < 2.5
    assert RESPONSE.hcal_mip_per_module_gev == h.mip_signal_per_module_gev()
    assert 1.7 < h.muon_loss_per_module_gev() < 2.2
    # the most probable loss grows only through the density-effect plateau
    assert h.mip_signal_per_module_gev(50.0) == pytest.approx(
        h.mip_signal_per_module_gev(3.0), rel=0.02
    )


def test_electronuclear_yield_and_beam_lines():
    """Upstream interactions per X0 from equivalent photons x photonuclear probability, checked
    against an independent quadrature; both setups share the material, 2021-2022 adds the
    zero-degree HCAL [paper 001]."""
    from scipy import integrate

    from na64reco.conditions import upstream as u
    from na64reco.constants import ELECTRON_MASS_GEV

    def dndy(y):
        q2min = ELECTRON_MASS_GEV**2 * y**2 / (1 - y)
        return (
            u.FINE_STRUCTURE / np.pi * (1 - y + y * y / 2) / y * np.log(u.RHO_MASS_GEV**2 / q2min)
        )

    ref, _ = integrate.quad(dndy, 0.1, 1.0, limit=200)
    assert u.equivalent_photons(0.1) == pytest.approx(ref, rel=1e-3)
    # CH per X0: 43.79 / 13.02 x N_A units x (12^0.91 + 1) x 0.12 mb
    assert u.photonuclear_probability_per_x0() == pytest.approx(2.58e-3, rel=0.01)
    assert u.electronuclear_yield_per_x0() == pytest.approx(ref * 2.58e-3, rel=0.01)
    old, new = u.BEAM_LINES["2016-2018"], u.BEAM_LINES["2021-2022"]
    assert not old.zero_degree_hcal
    assert new.zero_degree_hcal
    assert 5e-6 < old.interaction_rate() < 3e-5
    assert 0.2 < old.after_fraction < 0.6
    assert u.beam_line(get_period("2018")) is old
    assert u.beam_line(get_period("2022")) is new
    assert process_table(get_period("2017"))["upstream_interaction"].rate_per_eot == (
        pytest.approx(old.interaction_rate())
    )
