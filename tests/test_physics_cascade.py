"""EM-cascade track lengths T-(E), T+(E) in the 40 X0 target (physics.cascade).

Checks of the numerical solution against analytic results that hold for their own assumptions:
- with Tsai's approximate spectrum b / (-ln(1 - y)) the primary electron is exactly Tsai's
  Gamma distribution (physics.tracklength.primary_track_length);
- without ionisation and at infinite depth the cascade is Rossi's approximation A, solved here
  exactly by Mellin inversion with the same spectra, and its low-energy limit is the classic
  T(E) = 0.437 E0 / E^2 (e+ and e-, E_c << E << E0).
"""

from __future__ import annotations

import numpy as np
import pytest

from na64reco.physics import cascade
from na64reco.physics.tracklength import primary_track_length, secondary_track_length

E0 = 100.0


@pytest.fixture(scope="module")
def approx_a_solution():
    return cascade._solve(E0, np.inf, 0.5, 0.005, 0.0, cascade.C9_LEAD)


def _at(energies, values, e):
    return float(values[np.argmin(abs(energies - e))]), float(
        energies[np.argmin(abs(energies - e))]
    )


def test_primary_with_tsai_spectrum_is_tsai_analytic():
    e, tm, tp = cascade._solve(E0, np.inf, 0.5, 0.005, 0.0, cascade.C9_LEAD, kernel="tsai")
    for target in (1.0, 10.0, 50.0, 70.0, 90.0):
        prim, ei = _at(e, tm - tp, target)
        assert prim == pytest.approx(primary_track_length(ei, E0, 1000.0), rel=5e-3)


def test_positrons_match_approximation_a(approx_a_solution):
    e, _tm, tp = approx_a_solution
    for target in (5.0, 30.0, 50.0, 70.0, 90.0):
        val, ei = _at(e, tp, target)
        assert val == pytest.approx(cascade.approximation_a(ei, E0, "plus"), rel=0.01), ei


def test_low_energy_limit_is_rossi_0437(approx_a_solution):
    e, tm, tp = approx_a_solution
    for target in (1.0, 2.0):
        tot, ei = _at(e, tm + tp, target)
        # 0.437 E0 / E^2 holds for E << E0; at E = 1-2 GeV the E/E0 corrections are ~1-2 %
        assert tot * ei**2 / E0 == pytest.approx(0.437, rel=0.03)


def test_forty_radiation_lengths_contain_the_cascade_above_half_a_gev():
    # coarse grid: the depth dependence, not the values, is tested
    e, tm40, tp40 = cascade._solve(E0, 20.0, 0.5, 0.02, cascade.IONISATION_GEV_PER_X0, 0.0324)
    _, tm_inf, tp_inf = cascade._solve(E0, np.inf, 0.5, 0.02, cascade.IONISATION_GEV_PER_X0, 0.0324)
    sel = e > 0.5
    np.testing.assert_allclose(tp40[sel], tp_inf[sel], rtol=1e-3)
    np.testing.assert_allclose(tm40[sel], tm_inf[sel], rtol=1e-3)


def test_table_values_and_the_former_rossi_formula():
    """T+ at 50 / 70 / 90 GeV: the cascade (40 X0, ionisation) against approximation A and the
    former 0.437 E0 / (2 E^2) (1 - E/E0)^2, which was 1.4 / 1.8 / 3.0 x too small."""
    tab = cascade.track_lengths(E0, 40.0)
    for e, low, high in ((50.0, 1.3, 1.45), (70.0, 1.65, 1.85), (90.0, 2.8, 3.2)):
        t_plus = float(tab.t_plus(e))
        assert t_plus == pytest.approx(cascade.approximation_a(e, E0, "plus"), rel=0.015)
        assert low < t_plus / float(secondary_track_length(e, E0, +1)) < high
    # occupancy (track length per bin) sums: the primary's track above 50 GeV ~ 0.8 X0
    sel = tab.energy > 50.0
    primary = np.sum(tab.occupancy_minus[sel] - tab.occupancy_plus[sel])
    assert 0.6 < primary < 1.0
