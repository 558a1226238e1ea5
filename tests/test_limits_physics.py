"""Physics core of the limit module against the numbers printed in papers 000-004."""

import numpy as np
import pytest

from na64reco.constants import ALPHA_EM, ELECTRON_MASS_GEV, GEV2_TO_PB, LEAD_Z, MUON_MASS_GEV
from na64reco.limits import g2, yields
from na64reco.limits.downstream import Downstream
from na64reco.limits.kfactor import K_FACTOR_POINTS, k_factor
from na64reco.limits.models import MODELS, get_model
from na64reco.physics.cascade import track_lengths
from na64reco.physics.emission import total_cross_section
from na64reco.physics.zprime import pi_mixing_zero

EOT_EFF = 2.84e11 * 0.6


# ---------------------------------------------------------------------------- g-2: muon, Z'
def test_pi_zero_and_zprime_eps():
    assert pi_mixing_zero(1.0) == pytest.approx(0.0144, rel=0.01)  # paper 003 Sec. II
    assert yields.zprime_eps2(1e-4, 1.0) == pytest.approx(pi_mixing_zero(1.0) ** 2, rel=1e-3)


def test_f_vector_limits():
    # F(0) = 1 -> delta a_mu = g^2 / 8 pi^2 (Schwinger-like); F(x) -> 2 / (3 x^2) for x >> 1
    assert g2.f_vector(0.0) == 1.0
    assert g2.f_vector(1e-4) == pytest.approx(1.0, rel=1e-3)  # 1 - O(x)
    assert g2.f_vector(1000.0) == pytest.approx(2.0 / 3.0 / 1000.0**2, rel=1e-3)
    heavy = g2.zprime_delta_a_mu(1e-3, 1000 * MUON_MASS_GEV)
    assert heavy == pytest.approx(1e-6 / (12 * np.pi**2) / 1000.0**2, rel=1e-3)


def test_zprime_g45e4_solves_g2():
    # paper 001: g_Z' ~ 4.5e-4, m_Z' << m_mu solves the anomaly; paper 003: (251 +- 59)e-11.
    da = g2.zprime_delta_a_mu(4.5e-4, 1e-5)
    assert da == pytest.approx((4.5e-4) ** 2 / (8 * np.pi**2), rel=1e-4)
    assert da == pytest.approx(g2.DELTA_A_MU_2021[0], rel=0.05)  # 2.56e-9 vs 2.51e-9
    assert da == pytest.approx(g2.DELTA_A_MU_2023[0], rel=0.05)  # paper 001: 2.49e-9


def test_zprime_band_matches_paper003():
    lo, hi = g2.zprime_g2_band(1e-5)  # 2 sigma, (251 +- 59)e-11
    assert lo == pytest.approx(3.2e-4, rel=0.03)
    assert hi == pytest.approx(5.5e-4, rel=0.03)
    lo_h, hi_h = g2.zprime_g2_band(1.0)  # heavier Z' needs larger g
    assert lo_h > lo
    assert hi_h > hi


def test_aprime_mu_band_scales_as_zprime():
    # same loop: eps e <-> g_Z'
    lo_a, _ = g2.aprime_g2_band(0.02)
    lo_z, _ = g2.zprime_g2_band(0.02)
    assert lo_a * g2.E_CHARGE == pytest.approx(lo_z, rel=1e-9)


# ---------------------------------------------------------------------------- g-2: electron
@pytest.mark.parametrize("kind", g2.KINDS)
def test_delta_a_exact_reduces_to_paper000_eqs(kind):
    exact = g2.delta_a(kind, 1e-4, 1.0)
    heavy = g2.delta_a(kind, 1e-4, 1.0, exact=False)
    assert exact == pytest.approx(heavy, rel=2e-5)
    assert g2.delta_a(kind, 1e-4, 0.1) == pytest.approx(g2.delta_a_heavy(kind, 1e-4, 0.1), rel=2e-3)


def test_delta_a_paper000_values_and_signs():
    m, g = 0.1, 1e-4
    r2 = (ELECTRON_MASS_GEV / m) ** 2
    pref = g * g / (4 * np.pi**2) * r2
    lg = np.log(m / ELECTRON_MASS_GEV)
    expect = {
        "scalar": pref * (lg - 7 / 12),
        "pseudoscalar": pref * (-lg + 11 / 12),
        "vector": pref / 3,
        "axial": -5 / 3 * pref,
    }
    for kind, val in expect.items():
        assert g2.delta_a_heavy(kind, g, m) == pytest.approx(val, rel=1e-12)
    for m in (1e-4, 1e-3, 0.01, 0.1, 1.0):
        assert g2.delta_a("scalar", g, m) > 0
        assert g2.delta_a("vector", g, m) > 0
        assert g2.delta_a("pseudoscalar", g, m) < 0
        assert g2.delta_a("axial", g, m) < 0
    # light-boson limits: 3g^2/16pi^2, -g^2/16pi^2, g^2/8pi^2
    assert g2.delta_a("scalar", 1.0, 1e-9) == pytest.approx(3 / (16 * np.pi**2), rel=1e-4)
    assert g2.delta_a("pseudoscalar", 1.0, 1e-9) == pytest.approx(-1 / (16 * np.pi**2), rel=1e-4)
    assert g2.delta_a("vector", 1.0, 1e-9) == pytest.approx(1 / (8 * np.pi**2), rel=1e-4)
    # eps convention of paper 000: g = eps e
    assert g2.delta_a_e("vector", 1e-4, 0.1) == pytest.approx(
        g2.delta_a("vector", 1e-4 * g2.E_CHARGE, 0.1)
    )


def test_electron_bands_sign_logic():
    lo, hi = g2.electron_g2_band("vector", 0.02)  # LKB (4.8 +- 3.0)e-13, 1 sigma
    assert g2.delta_a_e("vector", lo, 0.02) == pytest.approx(1.8e-13, rel=1e-6)
    assert g2.delta_a_e("vector", hi, 0.02) == pytest.approx(7.8e-13, rel=1e-6)
    lo, hi = g2.electron_g2_band("axial", 0.02)  # Berkeley (-8.8 +- 3.6)e-13
    assert g2.delta_a_e("axial", lo, 0.02) == pytest.approx(-5.2e-13, rel=1e-6)
    assert g2.delta_a_e("axial", hi, 0.02) == pytest.approx(-12.4e-13, rel=1e-6)
    lo, hi = g2.electron_g2_band("axial", 0.02, measurement=g2.DELTA_A_E_LKB)
    assert np.isnan(lo)
    assert np.isnan(hi)
    # paper 000: required couplings 1e-4 <~ |g| <~ 1e-3 ... eps ~ g / e
    assert 1e-4 < lo_eps_times_e(0.02) < 1e-2


def lo_eps_times_e(m):
    return g2.electron_g2_band("vector", m)[0] * g2.E_CHARGE


# ---------------------------------------------------------------------------- g-2: phi
def test_phi_h_33e3_explains_anomaly():
    m_phi = 3 * MUON_MASS_GEV
    central, sigma = g2.DELTA_A_MU_2021  # paper 004 eq. 1
    approx = g2.phi_delta_a_mu(3.3e-3, m_phi, exact=False)  # eq. 5 (what eq. 7 uses)
    assert approx == pytest.approx(central, rel=0.05)
    for h in (3.0e-3, 3.6e-3):  # eq. 7 error covers about +-0.5 sigma
        assert abs(g2.phi_delta_a_mu(h, m_phi, exact=False) - central) < sigma
    exact = g2.phi_delta_a_mu(3.3e-3, m_phi)  # eqs. 3-4: L = 0.368 instead of 1/3
    assert abs(exact - central) < sigma
    assert g2.phi_loop_l(100.0) == pytest.approx(1 / 3, rel=1e-3)
    lo, c, hi = g2.phi_band_eq6(m_phi)
    assert (lo, c, hi) == pytest.approx((3.0e-3, 3.3e-3, 3.6e-3), rel=0.02)
    # Delta a_e / Delta a_mu = (m_e / m_mu)^2 for m_phi >> m_mu (paper 004 after eq. 5)
    ratio = g2.phi_delta_a_e(1.0, 50.0) / g2.phi_delta_a_mu(1.0, 50.0)
    assert ratio == pytest.approx((ELECTRON_MASS_GEV / MUON_MASS_GEV) ** 2, rel=1e-2)


# ---------------------------------------------------------------------------- yields
def test_former_k_factor_kept_for_comparison():
    for m, k in K_FACTOR_POINTS:
        assert k_factor(m) == pytest.approx(k, rel=1e-12)
    assert k_factor(1e-3) == 1.0
    assert k_factor(5.0) == 2.1
    iww = yields.radiative_yield("vector", 0.1, cross_section="iww")
    assert yields.radiative_yield("vector", 0.1, cross_section="iww-k") == pytest.approx(
        iww / 1.65, rel=1e-9
    )


def test_window_integral_matches_direct_quadrature():
    # the nodes/interpolation of yields against emission.total_cross_section at every cascade bin
    ds = Downstream()
    w, _ = yields.radiative_terms("vector", 0.05, ds, "iww")
    casc = track_lengths(100.0, 40.0)
    sel = casc.energy > 50.0
    occ = casc.occupancy_minus[sel] + casc.occupancy_plus[sel]
    sig = [total_cross_section("vector", 0.05, float(e), x_min=50.0 / e) for e in casc.energy[sel]]
    assert w == pytest.approx(yields.N_TARGET * float(np.sum(occ * np.array(sig))), rel=5e-3)


def test_radiative_yield_numbers_and_secondaries():
    base = yields.radiative_yield("vector", 0.02, secondaries=False)
    full = yields.radiative_yield("vector", 0.02)
    assert 1.02 < full / base < 1.10  # secondaries: a few per cent for E_X > 50 GeV
    etl = full
    iww = yields.radiative_yield("vector", 0.02, cross_section="iww")
    assert 1.1 < iww / etl < 1.25  # ETL / IWW in the window at 20 MeV (1.18)
    model = MODELS["aprime"]
    n = model.yield_per_eot(1e-4, 0.02)
    assert 1e-11 < n < 1e-10  # 3.7e-11 per EOT
    eps = model.coupling_from_signal_limit(2.3, EOT_EFF, 0.02)
    assert EOT_EFF * model.yield_per_eot(eps, 0.02) == pytest.approx(2.3, rel=1e-9)
    # the box edge comes from the period: a lower E_ECAL edge (harder cut) gives fewer events
    assert model.yield_per_eot(1e-4, 0.02, Downstream(ecal_max_gev=30.0)) < n
    # a lower beam energy, same emitted-energy threshold (50 GeV): fewer bosons above it
    assert model.yield_per_eot(1e-4, 0.02, Downstream(90.0, ecal_max_gev=40.0)) < n


@pytest.mark.parametrize("name", ["aprime", "scalar", "pseudoscalar", "axial", "phi"])
def test_yield_scales_as_coupling_squared(name):
    model = MODELS[name]
    m = 0.3 if name == "phi" else 0.05
    y1 = model.yield_per_eot(1e-4, m)
    y2 = model.yield_per_eot(3e-4, m)
    assert y2 / y1 == pytest.approx(9.0, rel=1e-12)
    c = model.coupling_from_signal_limit(2.3, EOT_EFF, m)
    assert EOT_EFF * model.yield_per_eot(c, m) == pytest.approx(2.3, rel=1e-9)


def test_multi_period_exposures_add():
    model = MODELS["vector"]
    a, b = Downstream(ecal_max_gev=50.0), Downstream(ecal_max_gev=47.0)
    c = model.coupling_from_signal_limit(2.3, [(1e11, a), (2e11, b)], 0.02)
    n = 1e11 * model.yield_per_eot(c, 0.02, a) + 2e11 * model.yield_per_eot(c, 0.02, b)
    assert n == pytest.approx(2.3, rel=1e-9)


def test_zprime_yield_scaling_and_iteration():
    model = MODELS["zprime"]
    y1 = model.yield_per_eot(1e-3, 0.01)
    assert model.yield_per_eot(2e-3, 0.01) / y1 == pytest.approx(4.0, rel=1e-6)
    # radiative Z' = vector * |Pi|^2 below 2 m_mu (B_inv = 1, resonance far below the box)
    ref = yields.zprime_eps2(0.01, 1e-3) * yields.radiative_yield("vector", 0.01)
    assert y1 == pytest.approx(ref, rel=1e-6)
    for name in ("zprime", "zprime_dark"):
        for m in (0.01, 0.23, 0.4):
            g = MODELS[name].coupling_from_signal_limit(2.3, EOT_EFF, m)
            assert EOT_EFF * MODELS[name].yield_per_eot(g, m) == pytest.approx(2.3, rel=1e-4)
    # above 2 m_mu the vanilla Z' decays half into muons; the dark one stays invisible
    assert yields.zprime_invisible_fraction(0.4, 1e-3) == pytest.approx(0.5, abs=0.1)
    assert yields.zprime_invisible_fraction(0.4, 1e-3, alpha_d=0.1) > 0.999


def test_resonant_channel_switches_on_through_eta_down():
    lo, _hi = yields.resonant_mass_window()
    assert lo == pytest.approx(np.sqrt(2 * ELECTRON_MASS_GEV * 50.0), rel=1e-4)  # ~226 MeV
    ds = Downstream()
    ms = np.linspace(0.20, 0.33, 131)
    y = yields.resonant_yield(ms)  # narrow line: eta_down(E_R) * Z T_+(E_R) 2 pi^2 alpha / m_e
    e_r = yields.resonant_energy(ms)
    analytic = (
        yields.N_TARGET
        * LEAD_Z
        * track_lengths(100.0, 40.0).t_plus(e_r)
        * ds.eta(e_r + ELECTRON_MASS_GEV)
        * 2
        * np.pi**2
        * ALPHA_EM
        / ELECTRON_MASS_GEV
        * GEV2_TO_PB
    )
    inside = analytic > 1e-3 * analytic.max()
    np.testing.assert_allclose(y[inside], analytic[inside], rtol=2e-3)
    # smooth turn-on across the box edge (E_R = 50 GeV at 226 MeV): half way at the edge, no step
    at_edge = float(yields.resonant_yield(lo))
    plateau = float(yields.resonant_yield(0.236)) * (
        track_lengths(100.0, 40.0).t_plus(50.0) / track_lengths(100.0, 40.0).t_plus(54.5)
    )
    assert at_edge / plateau == pytest.approx(0.5, abs=0.05)
    turn_on = (ms > lo - 0.02) & (ms < lo + 0.02)
    assert np.max(np.abs(np.diff(y[turn_on]))) < 0.1 * y.max()  # 1 MeV steps across the edge
    # it dominates the radiative yield of the A' above the edge, and is off far below it
    a = MODELS["aprime"]
    assert a.unit_yield(0.24) > 5 * MODELS["vector"].unit_yield(0.24)
    assert a.unit_yield(0.05) == pytest.approx(MODELS["vector"].unit_yield(0.05), rel=2e-2)


def test_eta_down_table_weights_the_resonance_not_the_radiative_yield():
    flat = Downstream()
    e_f = tuple(float(e) for e in np.arange(50.5, 100.0, 1.0))
    # a downstream efficiency falling from 0.9 at the box edge to 0.45 at E_F = 100 GeV
    eta = tuple(0.9 - 0.45 * (e - 50.5) / 49.0 for e in e_f)
    table = Downstream(eta_e_f_gev=e_f, eta_values=eta)
    assert table.eta(50.5) == pytest.approx(0.9)
    assert table.eta(48.0) < 0.9 * table.eta(50.5)  # the resolution tail below the table
    v = MODELS["vector"]
    for m in (0.02, 0.15):  # radiative: the efficiency table's definition, unchanged
        assert v.unit_yield(m, table) == pytest.approx(v.unit_yield(m, flat), rel=1e-9)
    # M = 0.24 GeV resonates at E_F = 56 GeV, where eta = 0.85 is above its mean over the
    # (hard) radiative spectrum: the resonance gains relative to the radiative yield
    w, f = yields.radiative_terms("vector", 0.24, table, "etl")
    w0, f0 = yields.radiative_terms("vector", 0.24, flat, "etl")
    res = yields.resonant_yield(0.24, downstream=table)
    res0 = yields.resonant_yield(0.24, downstream=flat)
    mean_eta = (f / w) / (f0 / w0)
    assert 0.5 < mean_eta < 0.8
    assert (res / f) / (res0 / f0) == pytest.approx(float(table.eta(56.4)) / mean_eta, rel=0.05)


def test_phi_window_and_model():
    model = MODELS["phi"]
    y = model.unit_yield(0.3)
    assert y > 0
    # harder muon requirement -> fewer events; yield per h^2 = yield per eps^2 / e^2
    assert model.unit_yield(0.3, min_muon_energy_gev=20.0) < y
    assert y == pytest.approx(yields.radiative_yield("phi", 0.3) / (4 * np.pi * ALPHA_EM))
    with pytest.raises(TypeError, match="unknown yield option"):
        model.unit_yield(0.3, apply_k_factor=False)


# ---------------------------------------------------------------------------- registry
def test_registry_and_mass_errors():
    assert set(MODELS) == {
        "aprime",
        "scalar",
        "pseudoscalar",
        "vector",
        "axial",
        "zprime",
        "zprime_dark",
        "phi",
    }
    assert MODELS["zprime"].coupling_name == "g_Z'"
    assert MODELS["phi"].coupling_name == "h_mu_e"
    assert MODELS["aprime"].coupling_name == "epsilon"
    with pytest.raises(ValueError, match=r"'aprime'.*5\.0.*\[1e-06, 1\]"):
        MODELS["aprime"].yield_per_eot(1e-4, 5.0)
    with pytest.raises(ValueError, match=r"'phi'.*0\.05"):
        MODELS["phi"].coupling_from_signal_limit(2.3, EOT_EFF, 0.05)
    with pytest.raises(ValueError, match="zprime_dark"):
        MODELS["zprime_dark"].unit_yield(2.0)
    with pytest.raises(ValueError, match="unknown model"):
        get_model("axion")


def test_bands_from_registry():
    lo, hi = MODELS["zprime"].g2_band(1e-4)
    assert (lo, hi) == pytest.approx((3.2e-4, 5.5e-4), rel=0.03)
    lo, hi = MODELS["phi"].g2_band(3 * MUON_MASS_GEV)
    assert lo < 3.3e-3 < hi
    assert MODELS["vector"].delta_a(1e-4, 0.02) > 0
    assert MODELS["pseudoscalar"].delta_a(1e-4, 0.02) < 0
