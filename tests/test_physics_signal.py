"""Signal-physics core checked against numbers from the papers and independent calculations."""

import numpy as np
import pytest
from scipy import integrate, special, stats

from na64reco.constants import LEAD_Z, MUON_MASS_GEV, TAU_MASS_GEV
from na64reco.physics import emission, formfactors, sampling, tracklength, zprime


def test_pi_zero_is_00144_gz():
    # paper 003 eq. 6: Pi(0) = e g ln(m_tau/m_mu)/(6 pi^2) ~ 0.0144 g_Z'
    assert zprime.pi_mixing(0.0, 1.0).real == pytest.approx(0.0144, rel=5e-3)
    assert zprime.pi_mixing(1e-10, 2.0).real == pytest.approx(2 * zprime.pi_mixing_zero(), rel=1e-6)


def test_pi_peak_at_two_muon_masses():
    # paper 003: |Pi| maximal at q^2 = 4 m_mu^2, ~1.5 x Pi(0)
    q2 = np.linspace(0.5, 2.0, 61) * 4 * MUON_MASS_GEV**2
    v = np.abs(zprime.pi_mixing(q2))
    assert abs(q2[np.argmax(v)] / (4 * MUON_MASS_GEV**2) - 1) < 0.05
    assert v.max() / zprime.pi_mixing_zero() == pytest.approx(1.5, abs=0.06)


def test_pi_imaginary_part_matches_eq6():
    # direct evaluation of eq. 6 with q^2 -> q^2 + i delta vs the analytic imaginary part
    q2 = 0.2
    delta = 1e-7

    def f(x):
        z = x * (1 - x) * complex(q2, delta)
        return x * (1 - x) * (np.log(TAU_MASS_GEV**2 - z) - np.log(MUON_MASS_GEV**2 - z))

    b = np.sqrt(1 - 4 * MUON_MASS_GEV**2 / q2)
    im, _ = integrate.quad(lambda x: f(x).imag, 0, 1, points=[(1 - b) / 2, (1 + b) / 2], limit=400)
    pref = zprime.E_CHARGE / (2 * np.pi**2)
    assert zprime.pi_mixing(q2).imag == pytest.approx(pref * im, rel=1e-3)


def test_chi_elastic_closed_form():
    # for t_min -> 0 the elastic chi has a closed form: int_0^T dt/t G2_el (partial fractions)
    z, a_m = LEAD_Z, 207.2
    a = 111 * z ** (-1 / 3) / 0.51099895e-3
    d = 0.164 * a_m ** (-2 / 3)
    for tmax in (1e-4, 1e-2, 1.0):
        r = a * a * d
        yy = a * a * tmax
        # int_0^Y y r^2 / ((1+y)^2 (r+y)^2) dy
        c = r * r / (r - 1) ** 2

        def prim(y, r=r, c=c):
            return c * ((1 + r) / (r - 1) * np.log((1 + y) / (r + y)) + 1 / (1 + y) + r / (r + y))

        exact = z * z * (prim(yy) - prim(0.0))
        num = formfactors.chi(1e9, 1.0, tmin=1e-30, tmax=tmax, elastic_only=True)
        assert num == pytest.approx(exact, rel=1e-4)


def test_chi_lead_values_and_inelastic_small():
    c = formfactors.chi(100.0, np.array([0.001, 0.02, 0.1, 1.0]))
    assert np.all(c / LEAD_Z**2 > 3)
    assert np.all(c / LEAD_Z**2 < 15)
    inel = c - formfactors.chi(100.0, np.array([0.001, 0.02, 0.1, 1.0]), elastic_only=True)
    assert np.all(inel / c < 0.03)


def test_vector_spectrum_shape():
    x = np.linspace(0.05, 0.95, 19)
    heavy = emission.dsigma_dx(x, 100.0, 0.1, "vector")
    assert np.all(np.diff(heavy) > 0)  # rises towards x -> 1 for m >> m_e
    # m << m_e: independent of m for x >= 0.5 (paper 001)
    xx = np.linspace(0.5, 0.95, 10)
    s1 = emission.dsigma_dx(xx, 100.0, 1e-5, "vector")
    s2 = emission.dsigma_dx(xx, 100.0, 5e-5, "vector")
    c1, c2 = formfactors.chi(100.0, 1e-5), formfactors.chi(100.0, 5e-5)
    np.testing.assert_allclose(s1 / c1, s2 / c2, rtol=0.02)


def test_pseudoscalar_harder_than_vector_at_20mev():
    # paper 000 Fig. 2: P spectrum much harder than V at 20 MeV
    def mean_x(model):
        xs = emission.x_grid(model, 0.02, 100.0, 4000)
        y = emission.dsigma_dx(xs, 100.0, 0.02, model)
        return integrate.trapezoid(xs * y, xs) / integrate.trapezoid(y, xs)

    assert mean_x("pseudoscalar") > mean_x("vector") + 0.04
    x = np.array([0.2, 0.5])
    rv = emission.dsigma_dx(x, 100.0, 0.02, "vector")
    rp = emission.dsigma_dx(x, 100.0, 0.02, "pseudoscalar")
    assert (rp / rv)[0] < (rp / rv)[1]


def test_axial_is_vector_plus_longitudinal():
    x = np.linspace(0.1, 0.9, 9)
    m = 0.05
    v = emission.dsigma_dx(x, 100.0, m, "vector")
    a = emission.dsigma_dx(x, 100.0, m, "axial")
    np.testing.assert_allclose(a, v, rtol=0.01)
    # scalar ~ pseudoscalar for m >> m_e (chiral symmetry)
    s = emission.dsigma_dx(x, 100.0, m, "scalar")
    p = emission.dsigma_dx(x, 100.0, m, "pseudoscalar")
    np.testing.assert_allclose(s, p, rtol=0.01)


def test_zprime_is_vector_times_pi2():
    m = 0.05
    r = emission.total_cross_section("zprime", m) / emission.total_cross_section("vector", m)
    assert r == pytest.approx(abs(zprime.pi_mixing(m * m)) ** 2, rel=1e-6)


def test_mass_range_errors():
    with pytest.raises(ValueError, match=r"pseudoscalar.*2\.5.*valid range"):
        emission.dsigma_dx(0.5, 100.0, 2.5, "pseudoscalar")
    with pytest.raises(ValueError, match="phi"):
        sampling.sample_signal_emission(np.random.default_rng(0), 10, "phi", 0.05)
    with pytest.raises(ValueError, match="unknown model"):
        emission.total_cross_section("tensor", 0.1)


def test_track_length_normalisation():
    # int_{E1}^{E2} T(E) dE = int_0^T dt [P(bt, ln(E0/E1)) - P(bt, ln(E0/E2))] (I_e normalised)
    y = np.geomspace(np.log(100 / 99.0), np.log(100.0), 300)
    e = 100.0 * np.exp(-y)
    total = integrate.trapezoid(tracklength.primary_track_length(e, 100.0, 10.0) * e, y)
    expect, _ = integrate.quad(
        lambda t: special.gammainc(4 / 3 * t, y[-1]) - special.gammainc(4 / 3 * t, y[0]), 0, 10
    )
    assert total == pytest.approx(expect, rel=0.01)
    assert 2.5 < expect < 5.0  # mean energy 100 GeV x 2^(-4t/3) falls below 1 GeV at t ~ 5
    for t in (0.5, 2.0, 5.0):

        def integrand(y, t=t):
            e = 100.0 * np.exp(-y)  # E dE-weighted: dE = E dy
            return e * e * tracklength.primary_energy_density(100.0, e, t)

        mean, _ = integrate.quad(integrand, 0, 80, limit=200)
        assert mean == pytest.approx(100.0 * 2 ** (-4 / 3 * t), rel=0.02)
        # vs the radiative loss E0 exp(-t): off by exp(0.076 t), i.e. < 20 % for t <= 2 X0
        assert mean == pytest.approx(100.0 * np.exp(-t), rel=0.2 if t <= 2 else 0.5)
    # deep in the shower T(E) -> X0 / (b E)
    assert tracklength.primary_track_length(0.1, 100.0, 40.0) == pytest.approx(7.5, rel=0.01)
    assert tracklength.secondary_track_length(10.0) > 0


def test_sampled_x_matches_spectrum():
    rng = np.random.default_rng(12345)
    d = sampling.sample_signal_emission(rng, 100_000, "vector", 0.02)
    sel = d["emitter_energy"] > 95.0
    xs, es = d["x"][sel], d["emitter_energy"][sel]
    assert xs.size > 2000
    # conditional on E_e ~ 97.5 GeV the x distribution follows dsigma/dx(E=97.5)
    grid = emission.x_grid("vector", 0.02, 97.5, 4000)
    y = emission.dsigma_dx(grid, 97.5, 0.02, "vector")
    cdf = np.concatenate([[0], np.cumsum(0.5 * (y[1:] + y[:-1]) * np.diff(grid))])
    cdf /= cdf[-1]
    ks = stats.kstest(xs, lambda v: np.interp(v, grid, cdf))
    assert ks.statistic < 0.03
    np.testing.assert_allclose(d["boson_energy"], d["x"] * d["emitter_energy"])
    assert np.all(es <= 100.0)


def test_sampled_energy_and_depth_follow_track_length():
    rng = np.random.default_rng(7)
    n = 100_000
    d = sampling.sample_signal_emission(rng, n, "pseudoscalar", 0.05)
    # depth distribution of emitters with E_e > 50 GeV: P(t) ~ P(E_e > 50 | t) sigma ~ const
    t = d["depth_x0"][d["emitter_energy"] > 50.0]
    grid = np.linspace(0, 6, 601)
    dens = special.gammainc(4 / 3 * np.maximum(grid, 1e-9), np.log(2.0))
    cdf = np.concatenate([[0], np.cumsum(0.5 * (dens[1:] + dens[:-1]) * np.diff(grid))])
    cdf /= cdf[-1]
    ks = stats.kstest(t[t < 6], lambda v: np.interp(v, grid, cdf))
    assert ks.statistic < 0.03  # sigma(E) varies by < 5 % between 50 and 100 GeV


def test_phi_muon_energy():
    rng = np.random.default_rng(3)
    d = sampling.sample_signal_emission(rng, 20_000, "phi", 0.3)
    np.testing.assert_allclose(d["muon_energy"] + d["boson_energy"], d["emitter_energy"])
    assert np.all(d["muon_energy"] >= MUON_MASS_GEV * 0.999)
    assert np.all(d["boson_energy"] >= 0.3)


def test_thick_target_yield_scaling():
    y1 = sampling.thick_target_yield("vector", 0.05)
    y2 = sampling.thick_target_yield("vector", 0.1)
    # m >> m_e: sigma ~ chi/m^2 (x log factor): yield ratio ~ (chi2/chi1)/4 within the log
    c1, c2 = formfactors.chi(100.0, 0.05), formfactors.chi(100.0, 0.1)
    assert y2 / y1 == pytest.approx(c2 / c1 / 4, rel=0.15)
    # yield ~ integral of track length x sigma: close to X0-weighted sigma(E0) x ~1/b X0 ... sane
    n_atoms = 11.35 * 6.02214076e23 / 207.2 * 0.5612
    sig = emission.total_cross_section("vector", 0.05) * 1e-36
    assert 0.3 < y1 / (n_atoms * sig) < 5
