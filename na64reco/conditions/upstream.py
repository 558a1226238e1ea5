"""The beam line in front of the ECAL, per setup: its material, the hadronic interactions of the
beam electrons in it, and what vetoes them.

The dominant box background: an electron interacts in the material upstream of the ECAL (counters,
tracker planes, windows, air), a hadronic system takes y E0 and the degraded electron (1 - y) E0
reaches the ECAL [papers 000, 001, 003].

* Rate: t radiation lengths of material give t x Y(y_min) interactions with y > y_min per
  electron. Y is derived (``electronuclear_yield_per_x0``): the electron's equivalent photons
  (Weizsaecker-Williams, dN/dy = alpha / pi (1 - y + y^2 / 2) / y ln(Q2max (1 - y) / (m_e^2 y^2))
  with Q2max = m_rho^2, the scale above which virtual photons stop interacting like real ones
  [choose]) times the photonuclear interaction probability per X0 of the material
  (sigma_gamma_A = A^0.91 x 0.12 mb per nucleon at 10-100 GeV [PDG], A^0.91 for shadowing).
  For polystyrene-like material Y(0.1) = 1.7e-4 per X0.
* Material per setup (``BeamLine``): the stations of the conditions (``TrackerStation.x_over_x0``)
  plus the counters, windows and air listed with their source. No material budget is published;
  the items are [choose] and both setups share the tracker stations simulated.
* Veto: most interactions leave charged secondaries in the trackers (straws, Micromegas) or energy
  in the VETO and HCAL; the rare ones whose secondaries all leave at large angle are the
  background (``conditions.processes.UPSTREAM_ESCAPE_PROB``). From 2021 a fourth HCAL module sits
  at zero degrees "to capture neutral particles produced by the beam interacting with upstream
  materials" [paper 001] (``zero_degree_hcal``): it also sees large-angle neutrals that the
  in-line HCAL misses on its side (``sim.upstream``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

from na64reco.conditions.periods import PERIODS, RunPeriod
from na64reco.constants import ELECTRON_MASS_GEV

FINE_STRUCTURE = 1 / 137.035999
AVOGADRO = 6.02214076e23
RHO_MASS_GEV = 0.775  # Q2max = m_rho^2 of the equivalent-photon spectrum [choose, VMD scale]
PHOTON_NUCLEON_MB = 0.12  # sigma(gamma p) at 10-100 GeV [PDG]
SHADOWING_POWER = 0.91  # sigma(gamma A) = A^0.91 sigma(gamma N) [PDG, real photons]
# Beam-line material: polystyrene-like CH (scintillators, foils, gas) [choose]:
# X0 = 43.79 g/cm^2 [PDG], per CH unit one carbon (A = 12) and one proton, 13.02 g/mol.
MATERIAL_X0_G_CM2 = 43.79
MATERIAL_UNIT_G_MOL = 13.02
MATERIAL_NUCLEI = (12.0, 1.0)
UPSTREAM_Y_MIN = 0.1  # hadronic energy fraction of the generated interactions
SCINTILLATOR_X0_CM = 42.4  # [PDG, polyvinyltoluene]


def photonuclear_probability_per_x0() -> float:
    """Probability per radiation length of material that a real photon interacts hadronically."""
    sigma_cm2 = sum(a**SHADOWING_POWER for a in MATERIAL_NUCLEI) * PHOTON_NUCLEON_MB * 1e-27
    return MATERIAL_X0_G_CM2 / MATERIAL_UNIT_G_MOL * AVOGADRO * sigma_cm2


def equivalent_photons(y_min: float, steps: int = 4000) -> float:
    """Equivalent (virtual) photons of an electron with energy fraction y > y_min."""
    total = 0.0
    log_lo = math.log(y_min)
    h = -log_lo / steps
    for i in range(steps):  # midpoint rule in ln y
        y = math.exp(log_lo + (i + 0.5) * h)
        q2_min = ELECTRON_MASS_GEV**2 * y**2 / (1 - y)
        dndy = (
            FINE_STRUCTURE / math.pi * (1 - y + y * y / 2) / y * math.log(RHO_MASS_GEV**2 / q2_min)
        )
        total += dndy * y * h
    return total


@lru_cache(maxsize=4)
def electronuclear_yield_per_x0(y_min: float = UPSTREAM_Y_MIN) -> float:
    """Hadronic interactions with y > y_min per electron and radiation length of material."""
    return equivalent_photons(y_min) * photonuclear_probability_per_x0()


@dataclass(frozen=True)
class Material:
    """One item of beam-line material."""

    name: str
    x_over_x0: float
    source: str


@dataclass(frozen=True)
class BeamLine:
    """The beam line of one setup: material before and after the magnets' kick, and whether a
    zero-degree HCAL module catches neutral secondaries."""

    setup: str
    before_magnets: tuple[Material, ...]
    after_magnets: tuple[Material, ...]
    zero_degree_hcal: bool

    @property
    def x0_before(self) -> float:
        return sum(m.x_over_x0 for m in self.before_magnets)

    @property
    def x0_after(self) -> float:
        return sum(m.x_over_x0 for m in self.after_magnets)

    def interaction_rate(self, y_min: float = UPSTREAM_Y_MIN) -> float:
        """Hadronic interactions (y > y_min) per electron on target in the whole beam line."""
        return (self.x0_before + self.x0_after) * electronuclear_yield_per_x0(y_min)

    @property
    def after_fraction(self) -> float:
        """Fraction of the interactions that happen downstream of the magnets."""
        return self.x0_after / (self.x0_before + self.x0_after)


def _stations(period: RunPeriod, after: bool) -> tuple[Material, ...]:
    g = period.geometry
    stations = [*g.mm_stations, *g.straw_stations]
    return tuple(
        Material(s.name, s.x_over_x0, "TrackerStation.x_over_x0 [choose]")
        for s in stations
        if (s.z_m > g.magnet_kick_z_m) == after
    )


def _beam_line(setup: str, reference: RunPeriod, zero_degree_hcal: bool) -> BeamLine:
    counters = 3 * 0.5 / SCINTILLATOR_X0_CM  # S0-S2, 0.5 cm of scintillator each [choose]
    return BeamLine(
        setup=setup,
        before_magnets=(
            Material("counters S0-S2", counters, "3 x 0.5 cm scintillator [choose]"),
            *_stations(reference, after=False),
            Material("beam-pipe windows", 0.002, "2 x 0.2 mm Mylar-like foils [choose]"),
            Material("air", 0.007, "~2 m of air in front of the magnets [choose]"),
        ),
        after_magnets=(
            *_stations(reference, after=True),
            Material("vacuum-vessel windows", 0.0014, "2 x 0.1 mm Mylar-like foils [choose]"),
            Material("air before the ECAL", 0.003, "~1 m of air [choose]"),
        ),
        zero_degree_hcal=zero_degree_hcal,
    )


# 2016-2018: one setup and one published background [papers 000, 001]; 2021-2022: the new setup
# with the zero-degree HCAL module [paper 001]. The tracker stations are those of the conditions.
BEAM_LINES: dict[str, BeamLine] = {
    "2016-2018": _beam_line("2016-2018", PERIODS["2016"], zero_degree_hcal=False),
    "2021-2022": _beam_line("2021-2022", PERIODS["2021"], zero_degree_hcal=True),
}
SETUP_OF_PERIOD = {"2016": "2016-2018", "2017": "2016-2018", "2018": "2016-2018"} | {
    "2021": "2021-2022",
    "2022": "2021-2022",
}


def beam_line(period: RunPeriod | str) -> BeamLine:
    """The beam line of a run period."""
    name = period if isinstance(period, str) else period.name
    return BEAM_LINES[SETUP_OF_PERIOD[name]]


__all__ = [
    "BEAM_LINES",
    "BeamLine",
    "Material",
    "beam_line",
    "electronuclear_yield_per_x0",
    "equivalent_photons",
    "photonuclear_probability_per_x0",
]
