"""Fed the published inputs (EOT, efficiencies, backgrounds, 0 observed), the limits reproduce the
conclusions printed in the papers.

Each test states the published claim, what we get and the tolerance. The limits are computed as
`na64 limit` does (the inputs' own signal-yield uncertainty, exact/hybrid CLs). What we measure
(figures also in the issue-6 closing note):

- paper 002 (2.75e9 EOT): A' excluded as the g_mu-2 explanation for m_A' <~ 100 MeV. That paper's
  yields are IWW without the later exact-tree-level K-factor (its ref. [55]); with
  ``k_factor=False`` our limit crosses the band's lower edge at ~91 MeV; with today's K-factor
  (1.65 at 100 MeV) at ~62 MeV.
- paper 003 (2.84e11 EOT): the Z' limit touches the g-2 band at m_Z' ~ 1 MeV: ours is 1.10 x the
  band's upper edge there.
- paper 001 (9.1e11 EOT): the band probed for 1 keV < m_Z' <~ 2 MeV: ours is below the band's
  lower edge up to ~0.3 MeV (whole band excluded) and below its upper edge up to ~2.2 MeV.
- paper 000 (2.84e11 EOT): |Delta a_X| <~ 1e-15 - 1e-13 for sub-GeV S, P, V, A: ours spans
  1.7e-15 (V) to 1.5e-13 (S) below 0.5 GeV; S and P reach 4.4e-13 at 1 GeV (K-factor of the A'
  applied to S and P: see limits/yields.py).
- paper 004 (~2.8e11 EOT): the phi bound is stronger than the (g-2)_mu 3 sigma bound for
  m_phi <~ 0.5 GeV and excludes part of the favoured band: ours is stronger up to ~0.9 GeV
  (paper 004 counted its "several" observed events as background; our inputs have 0 observed).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from na64reco.constants import MUON_MASS_GEV
from na64reco.limit_inputs import load_limit_inputs
from na64reco.limits import scan as sc
from na64reco.limits.models import MODELS

PUBLISHED = Path(sc.__file__).parent / "published"


def published_limit(paper: str, model: str, masses, **kw) -> tuple[np.ndarray, dict]:
    """Observed coupling limits from a paper's inputs, as `na64 limit` computes them."""
    inputs = load_limit_inputs(PUBLISHED / f"{paper}.json")
    unc = float(inputs.provenance.get("signal_yield_rel_unc", 0.0))
    res = sc.scan(inputs, model, masses, signal_corr_unc=unc, **kw)
    return np.asarray(res["coupling"]["observed"]), res


def band(model: str, masses, n_sigma: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    lo, hi = MODELS[model].g2_band(np.asarray(masses, dtype=float), n_sigma)
    return np.asarray(lo, dtype=float), np.asarray(hi, dtype=float)


def test_aprime_paper002_excludes_the_g2_band_below_about_100_mev():
    masses = [0.080, 0.120]
    lo, _ = band("aprime", masses)
    iww, res = published_limit("paper002", "aprime", masses, k_factor=False)
    assert res["settings"]["k_factor"] is False
    # paper 002's treatment (IWW): crossing between 80 and 120 MeV ("<~ 100 MeV")
    assert iww[0] < lo[0]
    assert iww[1] > lo[1]
    # the K-factor (1.5-1.8 here) weakens the limit by sqrt(K): crossing 55-75 MeV
    with_k, _ = published_limit("paper002", "aprime", [0.055, 0.075])
    lo_k, _ = band("aprime", [0.055, 0.075])
    assert with_k[0] < lo_k[0]
    assert with_k[1] > lo_k[1]


def test_zprime_paper003_touches_the_band_at_1_mev():
    limit, _ = published_limit("paper003", "zprime", [0.001])
    _, hi = band("zprime", [0.001])
    assert 0.9 < limit[0] / hi[0] < 1.25  # measured 1.10


def test_zprime_paper001_probes_the_band_from_1_kev_to_2_mev():
    masses = [1e-6, 1e-5, 1e-4, 1.8e-3, 3.0e-3]
    limit, _ = published_limit("paper001", "zprime", masses)
    lo, hi = band("zprime", masses)
    assert np.all(limit[:3] < lo[:3])  # the whole band excluded at 1 keV - 0.1 MeV
    assert limit[0] == pytest.approx(limit[1], rel=0.01)  # flat for m_Z' << m_e (paper 001)
    assert limit[3] < hi[3]  # still inside the band at 1.8 MeV
    assert limit[4] > hi[4]  # above it at 3 MeV: "<~ 2 MeV"


@pytest.mark.parametrize("model", ["scalar", "pseudoscalar", "vector", "axial"])
def test_spva_paper000_delta_a_between_1e_15_and_1e_13(model):
    masses = [0.001, 0.01, 0.1, 0.3, 1.0]
    _, res = published_limit("paper000", model, masses)
    delta_a = np.asarray(res["delta_a"]["observed"])
    assert np.all(delta_a[:4] > 1e-15)
    assert np.all(delta_a[:4] < 2e-13)  # <~ 1e-13 below 0.3 GeV (S measured 1.5e-13 at 0.46)
    assert delta_a[4] < 5e-13  # S, P at 1 GeV: 4.4e-13 (see module docstring)
    if model == "vector":
        assert delta_a.min() < 3e-15  # the lowest of the published range (1e-15)


def test_phi_paper004_stronger_than_g2_below_half_a_gev():
    masses = np.array([0.15, 0.3, 0.5])
    limit, _ = published_limit("paper004", "phi", masses)
    three_sigma_bound = 1.42e-3 * masses / MUON_MASS_GEV  # paper 004, text after eq. 7
    assert np.all(limit < three_sigma_bound)
    _, hi = band("phi", masses)  # the 2 sigma favoured band, eq. 6
    assert limit[1] < hi[1]  # part of the favoured region excluded
