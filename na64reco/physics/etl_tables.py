"""Tabulated exact-tree-level (ETL) spectra: fast dsigma/dx for the yields (and the simulation).

For each model the ratio R = ETL / IWW of the spectra (physics.etl / physics.emission, eps^2 = 1)
is computed on a grid of masses (8 per decade above 0.1 MeV, 2 per decade below, where R is
constant), emitter energies (8, log-spaced 25-100 GeV) and N_U nodes of a normalised x coordinate
u (log-spaced in x on the lower half of the kinematic range, in 1 - x on the upper half), and
interpolated in ln R: linearly in ln m and ln E, monotone-cubic (PCHIP) in u; ETL = IWW * R.
The ratio is far smoother than either spectrum (the IWW end-point peak and the 1/m^2 scaling
divide out). Interpolation error < 2 % on the spectra, < 0.5 % on the window integrals (tests,
against direct integrations off the grid points).

Tables are content-hashed (grids, constants, quadrature, the symbolic squared amplitude, probe
values of the IWW spectrum) and shipped in ``physics/data``; a mismatch (changed physics) makes
them be recomputed once into the user cache (physics.cache; ~1-2 min per model on 2 cores).
``python -m na64reco.physics.etl_tables`` rebuilds the shipped files.

``etl_spectrum(model, m, E, x)`` is the public fast spectrum; the signal sampler
(physics.sampling) still uses the IWW spectra, and could switch to this function.
"""

from __future__ import annotations

import functools
import logging
import os
from concurrent.futures import ProcessPoolExecutor

import numpy as np
from scipy.interpolate import PchipInterpolator

from na64reco.constants import ALPHA_EM, ELECTRON_MASS_GEV, LEAD_A_G_PER_MOL, LEAD_Z, MUON_MASS_GEV
from na64reco.physics import emission
from na64reco.physics.amplitudes import ETL_MODELS, symbolic_squared_amplitude
from na64reco.physics.cache import DATA_DIR, content_hash, load_or_build, write_table
from na64reco.physics.etl import NUCLEUS_MASS_GEV, Quadrature, etl_dsigma_dx, etl_x_range

__all__ = [
    "ENERGIES_GEV",
    "N_U",
    "TABLE_VERSION",
    "EtlTable",
    "etl_ratio",
    "etl_spectrum",
    "table",
    "table_masses",
    "u_of_x",
    "x_of_u",
]

logger = logging.getLogger(__name__)

TABLE_VERSION = 1
N_U = 64
ENERGIES_GEV = tuple(float(e) for e in np.geomspace(25.0, 100.0, 8))
QUADRATURE = Quadrature(24, 8, 12)  # converged to < 1e-3 (tests)


def table_masses(model: str) -> tuple[float, ...]:
    """Mass nodes [GeV] of a model's table."""
    if model == "phi":
        lo, hi = emission.MASS_RANGES_GEV["phi"]
        n = int(np.ceil(8 * np.log10(hi / lo))) + 1
        return tuple(float(m) for m in np.geomspace(lo, hi, n))
    low = np.geomspace(1e-6, 1e-4, 5)
    high = np.geomspace(1e-4, 1.0, 33)
    return tuple(float(m) for m in np.concatenate([low, high[1:]]))


def _u_nodes() -> np.ndarray:
    return (np.arange(N_U) + 0.5) / N_U


def x_of_u(u, lo: float, hi: float):
    """Normalised coordinate u in [0, 1] -> x in [lo, hi] (log in x, then log in 1 - x)."""
    u = np.asarray(u, float)
    mid = 0.5 * (lo + hi)
    left = lo * (mid / lo) ** (2.0 * u)
    right = 1.0 - (1.0 - mid) * ((1.0 - hi) / (1.0 - mid)) ** (2.0 * u - 1.0)
    return np.where(u <= 0.5, left, right)


def u_of_x(x, lo: float, hi: float):
    """Inverse of x_of_u."""
    x = np.asarray(x, float)
    mid = 0.5 * (lo + hi)
    with np.errstate(divide="ignore", invalid="ignore"):
        left = 0.5 * np.log(np.maximum(x, lo) / lo) / np.log(mid / lo)
        right = 0.5 + 0.5 * np.log((1.0 - np.minimum(x, hi)) / (1.0 - mid)) / np.log(
            (1.0 - hi) / (1.0 - mid)
        )
    return np.where(x <= mid, left, right)


def _iww_model(model: str) -> str:
    return "vector" if model == "zprime" else model


def _row(args) -> np.ndarray:
    """ln(ETL / IWW) at the u nodes for every table energy, one mass."""
    model, m = args
    out = np.empty((len(ENERGIES_GEV), N_U))
    for j, e in enumerate(ENERGIES_GEV):
        lo, hi = etl_x_range(model, m, e)
        xs = x_of_u(_u_nodes(), lo, hi)
        etl = etl_dsigma_dx(model, m, e, xs, QUADRATURE)
        iww = emission.dsigma_dx(xs, e, m, _iww_model(model))
        with np.errstate(divide="ignore"):
            out[j] = np.log(np.where((etl > 0) & (iww > 0), etl / np.maximum(iww, 1e-300), np.nan))
        # rare empty nodes (kinematic edge): nearest valid neighbour
        bad = ~np.isfinite(out[j])
        if bad.all():
            raise RuntimeError(f"{model} m={m} E={e}: no valid ETL/IWW node")
        if bad.any():
            idx = np.flatnonzero(~bad)
            out[j, bad] = out[j, idx[np.abs(idx[:, None] - np.flatnonzero(bad)).argmin(axis=0)]]
    return out


def _description(model: str) -> dict:
    masses = table_masses(model)
    probes = []
    for m in (masses[0], masses[len(masses) // 2], masses[-1]):
        for e in (ENERGIES_GEV[0], ENERGIES_GEV[-1]):
            lo, hi = emission.x_range(_iww_model(model), m, e)
            xs = x_of_u(np.array([0.25, 0.75]), lo, hi)
            probes.extend(f"{v:.9e}" for v in emission.dsigma_dx(xs, e, m, _iww_model(model)))
    return {
        "kind": "etl-over-iww",
        "version": TABLE_VERSION,
        "model": model,
        "masses": [f"{m:.9e}" for m in masses],
        "energies": [f"{e:.9e}" for e in ENERGIES_GEV],
        "n_u": N_U,
        "quadrature": QUADRATURE.key(),
        "constants": [
            ALPHA_EM,
            ELECTRON_MASS_GEV,
            MUON_MASS_GEV,
            NUCLEUS_MASS_GEV,
            LEAD_Z,
            LEAD_A_G_PER_MOL,
        ],
        "amplitude": content_hash({"terms": repr(symbolic_squared_amplitude(model))}),
        "iww_probes": probes,
    }


def _build(model: str, workers: int | None = None) -> dict[str, np.ndarray]:
    masses = table_masses(model)
    workers = workers or min(2, os.cpu_count() or 1)
    jobs = [(model, m) for m in masses]
    if workers > 1:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            rows = list(pool.map(_row, jobs))
    else:
        rows = [_row(j) for j in jobs]
    return {
        "masses": np.array(masses),
        "energies": np.array(ENERGIES_GEV),
        "ln_ratio": np.array(rows, dtype=np.float32),
    }


class EtlTable:
    """ln(ETL / IWW) on (mass, energy, u) nodes with trilinear interpolation."""

    def __init__(self, model: str, arrays: dict[str, np.ndarray]):
        self.model = model
        self.masses = np.asarray(arrays["masses"], float)
        self.energies = np.asarray(arrays["energies"], float)
        self.ln_ratio = np.asarray(arrays["ln_ratio"], float)
        self.content_hash = str(arrays["content_hash"])
        self._lm, self._le = np.log(self.masses), np.log(self.energies)

    def _check(self, m: float, e: float) -> None:
        if not self.masses[0] * (1 - 1e-9) <= m <= self.masses[-1] * (1 + 1e-9):
            raise ValueError(
                f"model {self.model!r}: mass {m:g} GeV outside the ETL table "
                f"[{self.masses[0]:g}, {self.masses[-1]:g}] GeV"
            )
        if not self.energies[0] * (1 - 1e-9) <= e <= self.energies[-1] * (1 + 1e-9):
            raise ValueError(
                f"model {self.model!r}: emitter energy {e:g} GeV outside the ETL table "
                f"[{self.energies[0]:g}, {self.energies[-1]:g}] GeV"
            )

    @staticmethod
    def _bracket(grid: np.ndarray, v: float) -> tuple[int, float]:
        i = int(np.clip(np.searchsorted(grid, v) - 1, 0, len(grid) - 2))
        f = float(np.clip((v - grid[i]) / (grid[i + 1] - grid[i]), 0.0, 1.0))
        return i, f

    def ratio(self, mass_gev: float, energy_gev: float, x) -> np.ndarray:
        """ETL / IWW at (m, E) for the given x (array)."""
        self._check(mass_gev, energy_gev)
        im, fm = self._bracket(self._lm, np.log(mass_gev))
        ie, fe = self._bracket(self._le, np.log(energy_gev))
        lo, hi = etl_x_range(self.model, mass_gev, energy_gev)
        u = np.clip(u_of_x(x, lo, hi), _u_nodes()[0], _u_nodes()[-1])
        nodes = _u_nodes()
        plane = (
            (1 - fm) * (1 - fe) * self.ln_ratio[im, ie]
            + (1 - fm) * fe * self.ln_ratio[im, ie + 1]
            + fm * (1 - fe) * self.ln_ratio[im + 1, ie]
            + fm * fe * self.ln_ratio[im + 1, ie + 1]
        )
        return np.exp(PchipInterpolator(nodes, plane)(u))


@functools.lru_cache(maxsize=16)
def table(model: str) -> EtlTable:
    """The ETL table of a model ('zprime' uses the vector table), shipped or cached."""
    base = "vector" if model == "zprime" else model
    if base not in ETL_MODELS:
        raise ValueError(f"no ETL table for model {model!r}; known: {', '.join(ETL_MODELS)}")
    arrays = load_or_build(f"etl_{base}", _description(base), lambda: _build(base))
    return EtlTable(base, arrays)


def etl_ratio(model: str, mass_gev: float, energy_gev: float, x) -> np.ndarray:
    """ETL / IWW spectrum ratio from the table."""
    return table(model).ratio(float(mass_gev), float(energy_gev), x)


def etl_spectrum(model: str, mass_gev: float, energy_gev: float, x) -> np.ndarray:
    """Exact-tree-level dsigma/dx [pb per nucleus] (eps^2 = 1; g_Z' = 1 for 'zprime', i.e. times
    |Pi(m^2)|^2) from the tables: the drop-in replacement of physics.emission.dsigma_dx."""
    iww = emission.dsigma_dx(x, energy_gev, mass_gev, model)
    return iww * etl_ratio(model, mass_gev, energy_gev, x)


def build_shipped(models=ETL_MODELS, workers: int | None = None) -> None:
    """Recompute the shipped tables (``python -m na64reco.physics.etl_tables``)."""
    import json

    for model in models:
        desc = _description(model)
        arrays = _build(model, workers)
        arrays["content_hash"] = np.array(content_hash(desc))
        arrays["description"] = np.array(json.dumps(desc, sort_keys=True, default=str))
        path = write_table(DATA_DIR / f"etl_{model}.npz", arrays)
        logger.info("wrote %s", path)


if __name__ == "__main__":  # pragma: no cover - maintenance entry point
    import sys

    logging.basicConfig(level=logging.INFO)
    build_shipped(tuple(sys.argv[1:]) or ETL_MODELS)
