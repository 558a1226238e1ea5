"""Fed the published inputs (EOT, efficiencies, backgrounds, observed counts), the limits
reproduce the conclusions printed in the papers.

Each test states the published claim, what we get and the tolerance. The limits are computed as
`na64 limit` does (the inputs' own signal-yield uncertainty, exact/hybrid CLs, exact-tree-level
spectra unless the paper used IWW, each paper's own Delta a_mu for its g-2 band). Measured:

- paper 002 (2.75e9 EOT, IWW as in that paper, Delta a_mu = (287 +- 80)e-11): the A' limit
  crosses the band's lower edge at ~86 MeV ("m_A' <~ 100 MeV"); with ETL spectra at ~63 MeV.
- paper 003 (2.84e11 EOT): the Z' limit reaches the band at 1 MeV: 5.33e-4 = 0.97 x its upper
  edge (5.48e-4).
- paper 001 (9.1e11 EOT): the whole band (2 sigma of (249 +- 48)e-11) is excluded from 1 keV to
  ~1.0 MeV (limit / lower edge = 0.72 below 0.1 MeV, flat), and the limit stays below the band's
  upper edge up to ~2.4 MeV. The paper's "excluding the band for 1 keV < m <~ 2 MeV" is met for
  the upper edge; the whole band only to ~1 MeV (paper 003's touching at 1 MeV and the ~2.4 x
  larger exposure x efficiency imply ~1 MeV: see docs/limits.md).
- paper 000 (2.84e11 EOT), with the paper's treatment ("for m_X <~ 10 MeV ... corrections from
  the exact calculations": ETL up to 10 MeV, IWW above): |Delta a_X| 1.2e-15 (V) - 9.7e-14 (S)
  for 1 MeV - 0.5 GeV; at 1 GeV V 4.7e-15, A 2.4e-14, P 2.0e-13, S 2.1e-13 (S and P 2.1 x the
  quoted 1e-13 at that end point). ETL everywhere: S, P 6.2-6.5e-13 at 1 GeV.
- paper 004 (2.84e11 EOT, 3 observed events counted as background), with the paper's class of
  cross section (DMG4's approximate e -> mu phi one; IWW here): the phi limit is 0.80-0.94 x the
  (g-2)_mu 3 sigma bound h < 1.42e-3 m_phi / m_mu over 0.15-0.5 GeV ("more stringent for
  m_phi <~ 0.5 GeV") and enters the 1 sigma favoured band at 0.3-0.5 GeV (0.96-0.98 x its upper
  edge: "excluding part of the parameter space favoured"). With the ETL cross section (1.65-1.8 x
  smaller) it is 0.99-1.06 x the 3 sigma bound: equal, not stronger. The count "several"
  [choose: 3] and the efficiency [choose: 0.5] are not given by the paper.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from na64reco.constants import MUON_MASS_GEV
from na64reco.limit_inputs import load_limit_inputs
from na64reco.limits import scan as sc

PUBLISHED = Path(sc.__file__).parent / "published"


def published_limit(paper: str, model: str, masses, **kw) -> tuple[np.ndarray, dict]:
    """Observed coupling limits from a paper's inputs, as `na64 limit` computes them."""
    inputs = load_limit_inputs(PUBLISHED / f"{paper}.json")
    unc = float(inputs.provenance.get("signal_yield_rel_unc", 0.0))
    res = sc.scan(inputs, model, masses, signal_corr_unc=unc, **kw)
    return np.asarray(res["coupling"]["observed"]), res


def band_of(paper: str, model: str, masses) -> tuple[np.ndarray, np.ndarray]:
    """The g-2 band with the paper's own Delta a (the scan's ``g2_band``)."""
    _, res = published_limit(paper, model, masses)
    lo, hi = res["g2_band"]
    return np.asarray(lo, dtype=float), np.asarray(hi, dtype=float)


def test_aprime_paper002_excludes_the_g2_band_below_about_100_mev():
    masses = [0.080, 0.120]
    lo, _ = band_of("paper002", "aprime", masses)
    iww, res = published_limit("paper002", "aprime", masses, cross_section="iww")
    assert res["settings"]["cross_section"] == "iww"
    # paper 002's treatment (IWW): crossing between 80 and 120 MeV ("<~ 100 MeV"; ours ~86)
    assert iww[0] < lo[0]
    assert iww[1] > lo[1]
    # the exact tree level (weaker by sqrt(ETL/IWW) ~ 1.2 here): crossing 55-75 MeV (ours ~63)
    etl, _ = published_limit("paper002", "aprime", [0.055, 0.075])
    lo_e, _ = band_of("paper002", "aprime", [0.055, 0.075])
    assert etl[0] < lo_e[0]
    assert etl[1] > lo_e[1]


def test_zprime_paper003_reaches_the_band_at_1_mev():
    limit, _ = published_limit("paper003", "zprime", [0.001])
    lo, hi = band_of("paper003", "zprime", [0.001])
    assert hi[0] == pytest.approx(5.5e-4, rel=0.01)  # paper 003: [3.2, 5.5]e-4 at 2 sigma
    assert lo[0] < limit[0] < hi[0]  # inside the band (ours 0.97 x its upper edge)
    assert limit[0] / hi[0] > 0.85  # touching it, not deep inside


def test_zprime_paper001_probes_the_band_from_1_kev_to_2_mev():
    masses = [1e-6, 1e-5, 1e-4, 9e-4, 2.0e-3, 3.0e-3]
    limit, _ = published_limit("paper001", "zprime", masses)
    lo, hi = band_of("paper001", "zprime", masses)
    assert np.all(limit[:4] < lo[:4])  # the whole band excluded at 1 keV - 0.9 MeV
    assert limit[0] == pytest.approx(limit[1], rel=0.01)  # flat for m_Z' << m_e (paper 001)
    assert limit[4] < hi[4]  # the band still probed at 2 MeV ("<~ 2 MeV")
    assert limit[5] > hi[5]  # above it at 3 MeV


@pytest.mark.parametrize("model", ["scalar", "pseudoscalar", "vector", "axial"])
def test_spva_paper000_delta_a_between_1e_15_and_1e_13(model):
    low, high = [0.001, 0.01], [0.02, 0.1, 0.3, 0.5, 1.0]
    # paper 000: exact (ETL) below ~10 MeV, IWW above
    _, res_low = published_limit("paper000", model, low)
    _, res_high = published_limit("paper000", model, high, cross_section="iww")
    delta_a = np.concatenate(
        [res_low["delta_a"]["observed"], res_high["delta_a"]["observed"]]
    ).astype(float)
    assert np.all(delta_a > 1e-15)
    assert np.all(delta_a[:-1] < 1e-13)  # 1 MeV - 0.5 GeV inside the published range
    # 1 GeV: V, A inside; S, P 2.0-2.1e-13, twice the quoted upper end (missed by that factor)
    assert delta_a[-1] < (1e-13 if model in ("vector", "axial") else 2.5e-13)
    if model == "vector":
        assert delta_a.min() < 2e-15  # the lowest of the published range (1e-15)
    # exact tree level everywhere: S, P ~6e-13 at 1 GeV
    _, res_etl = published_limit("paper000", model, [1.0])
    assert res_etl["delta_a"]["observed"][0] > delta_a[-1]


def test_phi_paper004_stronger_than_g2_below_half_a_gev():
    masses = np.array([0.15, 0.2, 0.3, 0.4, 0.5])
    three_sigma_bound = 1.42e-3 * masses / MUON_MASS_GEV  # paper 004, text after eq. 7
    _, hi = band_of("paper004", "phi", masses)
    limit, res = published_limit("paper004", "phi", masses, cross_section="iww")
    assert res["n_up"]["observed"][0] > 4.0  # 3 observed, all counted as background
    assert np.all(limit < 0.95 * three_sigma_bound)  # ours 0.80-0.94
    assert np.any(limit[2:] < hi[2:])  # part of the favoured band excluded (0.96-0.98 x edge)
    # the exact tree level: equal to the 3 sigma bound within 8 % over 0.2-0.5 GeV
    etl, _ = published_limit("paper004", "phi", masses[1:])
    np.testing.assert_allclose(etl / three_sigma_bound[1:], 1.0, atol=0.08)


def test_aprime_limits_on_both_exposures():
    """The A' at 2.84e11 (paper 000's inputs) and 9.37e11 EOT (2016-2022, paper 001's data):
    background-free scaling ~ sqrt(EOT eff) in the radiative region, and paper 003's ratio
    method: its Z' limit at 1 MeV (g = 5.5e-4, the band's edge it touches) implies
    eps = Pi(0)/g x 5.5e-4 = 7.9e-6 for the A' on 2.84e11 EOT (ours within 15 %)."""
    m = [0.001, 0.1]
    small, _ = published_limit("paper000", "aprime", m)
    big, _ = published_limit("aprime_2016_2022", "aprime", m)
    assert small[0] == pytest.approx(0.0144 * 5.5e-4, rel=0.15)
    ratio = small / big
    assert np.all((ratio > 1.4) & (ratio < 1.7))  # sqrt(9.37e11 x 0.48 / 2.84e11 x 0.69) = 1.52
