"""The downstream signal efficiency eta_down(E_F) of one run period (paper 003 Sec. IV B).

Paper 003 factorises the signal efficiency into an upstream part, the same for every production
channel, and eta_down(E_F), a function of the emitted (invisible) energy E_F only, common to the
radiative and resonant channels; its smooth turn-on around E_F = E0 - E_box comes from the ECAL
resolution folded with the box edge E_ECAL < E_box.

``Downstream`` carries what the yield integral needs from a period: the beam energy E0, the box
edge (``PeriodInputs.box.ecal_max_gev``), and eta_down either

- from a table (``EfficiencyTable.eta_down`` of the limit inputs, measured on the signal samples):
  linear interpolation inside the table; below its lowest E_F (the samples' table starts at the box
  edge) the resolution tail below, scaled to the table's first point; above it, the last value; or
- without a table (published inputs): the resolution model
  eta(E_F) = Phi((E_box - E_ECAL) / sigma(E_ECAL)), E_ECAL = E0 - E_F,
  sigma / E = a / sqrt(E) + b with a = 10 %, b = 4 % (paper 003 Sec. III), normalised to 1 well
  inside the box (the plateau cancels in the yields, limits.yields).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from scipy import special

__all__ = ["ECAL_RESOLUTION_PAPER003", "Downstream", "downstream_from_table"]

#: sigma(E)/E = a / sqrt(E [GeV]) + b of the NA64 ECAL (paper 003 Sec. III)
ECAL_RESOLUTION_PAPER003 = (0.10, 0.04)
_N_SIGMA_TAIL = 6.0  # eta is taken as 0 more than this many sigma outside the box


@dataclass(frozen=True)
class Downstream:
    """Beam energy, box edge and eta_down(E_F) of one period (hashable: yields are cached)."""

    beam_energy_gev: float = 100.0
    ecal_max_gev: float = 50.0
    eta_e_f_gev: tuple[float, ...] = ()
    eta_values: tuple[float, ...] = ()
    resolution: tuple[float, float] = ECAL_RESOLUTION_PAPER003
    depth_x0: float = 40.0
    min_muon_energy_gev: float = 5.0  # phi: the muon must cross the HCAL (~3 modules of iron)

    def __post_init__(self) -> None:
        if not 0.0 < self.ecal_max_gev < self.beam_energy_gev:
            raise ValueError(
                f"box edge E_ECAL < {self.ecal_max_gev!r} GeV must lie in (0, E0 = "
                f"{self.beam_energy_gev!r} GeV)"
            )
        e, v = self.eta_e_f_gev, self.eta_values
        if len(e) != len(v):
            raise ValueError(f"eta_down: {len(e)} energies for {len(v)} values")
        if e:
            if len(e) < 2 or any(b <= a for a, b in itertools.pairwise(e)):
                raise ValueError("eta_down: need >= 2 emitted energies, increasing")
            if any(not 0.0 <= x <= 1.0 for x in v) or max(v) <= 0.0:
                raise ValueError("eta_down: values must lie in [0, 1], not all 0")

    @property
    def threshold_gev(self) -> float:
        """Nominal lower edge of the emitted energy, E_F > E0 - E_box."""
        return self.beam_energy_gev - self.ecal_max_gev

    def sigma_gev(self, e_ecal):
        a, b = self.resolution
        e = np.maximum(np.asarray(e_ecal, float), 0.0)
        return a * np.sqrt(e) + b * e

    @property
    def e_f_min_gev(self) -> float:
        """Below this emitted energy eta_down is negligible (< Phi(-6))."""
        sigma = float(self.sigma_gev(self.ecal_max_gev))
        return max(self.threshold_gev - _N_SIGMA_TAIL * sigma, 0.0)

    def _resolution_eta(self, e_f):
        e_ecal = self.beam_energy_gev - np.asarray(e_f, float)
        sig = np.maximum(self.sigma_gev(e_ecal), 1e-9)
        z = (self.ecal_max_gev - e_ecal) / sig
        return np.where(e_ecal <= 0.0, 1.0, special.ndtr(z))

    def eta(self, e_f):
        """eta_down at the emitted energies e_f [GeV] (module docstring)."""
        e_f = np.asarray(e_f, float)
        res = self._resolution_eta(e_f)
        if not self.eta_e_f_gev:
            return np.where(e_f < self.e_f_min_gev, 0.0, res)
        grid = np.asarray(self.eta_e_f_gev)
        vals = np.asarray(self.eta_values)
        inside = np.interp(e_f, grid, vals)
        anchor = float(self._resolution_eta(grid[0]))
        tail = vals[0] * res / max(anchor, 1e-300)
        out = np.where(e_f < grid[0], np.minimum(tail, vals[0]), inside)
        return np.where(e_f < self.e_f_min_gev, 0.0, out)


def downstream_from_table(
    beam_energy_gev: float, ecal_max_gev: float, eta_down: dict | None, where: str = ""
) -> Downstream:
    """A Downstream from a limit-inputs eta_down dict ({"e_f_gev": [...], "eta": [...]})."""
    if eta_down is None:
        return Downstream(float(beam_energy_gev), float(ecal_max_gev))
    missing = {"e_f_gev", "eta"} - set(eta_down)
    if missing:
        raise ValueError(f"{where}eta_down needs keys 'e_f_gev' and 'eta' (missing {missing})")
    try:
        return Downstream(
            float(beam_energy_gev),
            float(ecal_max_gev),
            tuple(float(x) for x in eta_down["e_f_gev"]),
            tuple(float(x) for x in eta_down["eta"]),
        )
    except ValueError as exc:
        raise ValueError(f"{where}{exc}") from None
