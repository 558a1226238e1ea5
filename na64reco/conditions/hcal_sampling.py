"""The HCAL's response to a muon, from its sampling structure (25.45 mm Fe + 4 mm Sc layers).

What a muon leaves in one HCAL module, in the calibrated energy of the HCAL (the scale on which
hadronic showers read their energy), is derived here instead of being set to a number:

* Layers: 25.45 mm iron + 4 mm plastic scintillator [code, detector.md]; a module is ~7.5
  lambda_I [paper 002], i.e. 7.5 / (2.545 / 16.77 + 0.4 / 79.2) = 48 layers [PDG lambda_I].
* Sampling fraction of a minimum-ionising particle: f_mip = (dE/dx)_Sc t_Sc / ((dE/dx)_Sc t_Sc
  + (dE/dx)_Fe t_Fe) with the minimum (dE/dx) of PDG: 0.0270.
* Visible energy of a muon: the most probable energy loss in 4 mm of scintillator (PDG eq. for
  Delta_p with the Sternheimer density effect of polyvinyltoluene) at the reference muon energy,
  summed over the 48 layers (the sum of N Landau variables peaks at N Delta_p + N xi ln N):
  ~36 MeV.
* Calibrated scale: the HCAL is calibrated so that hadron showers read their energy, i.e. with
  the sampling fraction of hadron showers f_h = f_mip x h/mip. An Fe/Sc calorimeter is not
  compensating: e/mip ~ 0.8-0.9, e/h ~ 1.2-1.4, hence h/mip ~ 0.6-0.75; ``H_OVER_MIP`` = 0.70
  [choose] is inside that range (it is not published for the NA64 HCAL).
* Its Landau width is N xi on the same scale (0.087 GeV); photo-statistics widen it further
  (``conditions.response``).
* MIP signal per module (most probable): N Delta_p-sum / (f_mip h/mip) = 1.93 GeV. Checked in
  ``tests/test_sim_validation.py`` against paper 004 (a dimuon pair ~12 GeV in three modules,
  2 GeV per muon and module) and paper 002 (~10 GeV in the first two modules, 2.5 GeV).
* Mean energy lost per module (ionisation with the density effect plus radiative losses, PDG
  b_Fe ~ 3.2e-6 g^-1 cm^2) at the reference muon energy: what a muon spends crossing a module
  (it ranges out when that is spent).

Material constants are those of the PDG tables (iron, polyvinyltoluene scintillator).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

ELECTRON_MASS_MEV = 0.51099895
MUON_MASS_MEV = 105.6583755
BETHE_K_MEV_CM2_PER_MOL = 0.307075  # 4 pi N_A r_e^2 m_e c^2 [PDG]
REFERENCE_MUON_GEV = 10.0  # a typical muon of a dimuon pair / of e Z -> mu Z phi [choose]
H_OVER_MIP = 0.70  # hadron-shower / MIP response of the Fe/Sc HCAL [choose, see docstring]
MODULE_INTERACTION_LENGTHS = 7.5  # [paper 002]
FE_THICKNESS_CM = 2.545  # [code, detector.md]
SC_THICKNESS_CM = 0.4  # [code, detector.md]


@dataclass(frozen=True)
class Material:
    """PDG constants of a material: density, Z/A, mean excitation energy, minimum dE/dx,
    nuclear interaction length and the Sternheimer density-effect parameters."""

    density: float  # g/cm^3
    z_over_a: float
    mean_excitation_ev: float
    dedx_min: float  # MeV cm^2/g
    interaction_length_cm: float
    c_bar: float
    x0: float
    x1: float
    a: float
    k: float
    delta0: float

    def density_effect(self, beta_gamma: float) -> float:
        x = math.log10(beta_gamma)
        if x >= self.x1:
            return 2 * math.log(10) * x - self.c_bar
        if x >= self.x0:
            return 2 * math.log(10) * x - self.c_bar + self.a * (self.x1 - x) ** self.k
        return self.delta0 * 10 ** (2 * (x - self.x0))


IRON = Material(
    7.874, 26 / 55.845, 286.0, 1.451, 16.77, 4.2911, -0.0012, 3.1531, 0.14680, 2.9632, 0.12
)
SCINTILLATOR = Material(
    1.032, 0.54141, 64.7, 1.956, 79.2, 3.1997, 0.1464, 2.4855, 0.16101, 3.2393, 0.0
)
IRON_RADIATIVE_B = 3.2e-6  # g^-1 cm^2, muon radiative losses in iron at 10-100 GeV [PDG]


def _kinematics(muon_gev: float) -> tuple[float, float, float]:
    e = muon_gev * 1000.0
    p = math.sqrt(e * e - MUON_MASS_MEV**2)
    return p / MUON_MASS_MEV, (p / e) ** 2, e / MUON_MASS_MEV  # beta gamma, beta^2, gamma


def mean_dedx(m: Material, muon_gev: float) -> float:
    """Bethe mean ionisation loss [MeV cm^2/g] of a muon (PDG eq. 34.5)."""
    bg, b2, g = _kinematics(muon_gev)
    ratio = ELECTRON_MASS_MEV / MUON_MASS_MEV
    t_max = 2 * ELECTRON_MASS_MEV * bg**2 / (1 + 2 * g * ratio + ratio**2)
    i_mev = m.mean_excitation_ev * 1e-6
    log_term = 0.5 * math.log(2 * ELECTRON_MASS_MEV * bg**2 * t_max / i_mev**2)
    return BETHE_K_MEV_CM2_PER_MOL * m.z_over_a / b2 * (log_term - b2 - m.density_effect(bg) / 2)


def most_probable_loss_mev(m: Material, thickness_cm: float, muon_gev: float) -> float:
    """Most probable energy loss [MeV] of a muon in a thin layer (PDG eq. 34.12)."""
    bg, b2, _ = _kinematics(muon_gev)
    xi = 0.5 * BETHE_K_MEV_CM2_PER_MOL * m.z_over_a * m.density * thickness_cm / b2
    i_mev = m.mean_excitation_ev * 1e-6
    return xi * (
        math.log(2 * ELECTRON_MASS_MEV * bg**2 / i_mev)
        + math.log(xi / i_mev)
        + 0.200
        - b2
        - m.density_effect(bg)
    )


def landau_xi_mev(m: Material, thickness_cm: float, muon_gev: float) -> float:
    _, b2, _ = _kinematics(muon_gev)
    return 0.5 * BETHE_K_MEV_CM2_PER_MOL * m.z_over_a * m.density * thickness_cm / b2


def layers_per_module() -> int:
    """Fe/Sc layers of a ~7.5 lambda_I module."""
    per_layer = (
        FE_THICKNESS_CM / IRON.interaction_length_cm
        + SC_THICKNESS_CM / SCINTILLATOR.interaction_length_cm
    )
    return round(MODULE_INTERACTION_LENGTHS / per_layer)


def mip_sampling_fraction() -> float:
    """Fraction of a minimum-ionising particle's energy loss deposited in the scintillator."""
    sc = SCINTILLATOR.dedx_min * SCINTILLATOR.density * SC_THICKNESS_CM
    fe = IRON.dedx_min * IRON.density * FE_THICKNESS_CM
    return sc / (sc + fe)


def mip_signal_per_module_gev(muon_gev: float = REFERENCE_MUON_GEV) -> float:
    """Most probable calibrated HCAL signal [GeV] of a muon crossing one module."""
    n = layers_per_module()
    dp = most_probable_loss_mev(SCINTILLATOR, SC_THICKNESS_CM, muon_gev)
    xi = landau_xi_mev(SCINTILLATOR, SC_THICKNESS_CM, muon_gev)
    visible_mev = n * dp + n * xi * math.log(n)
    return visible_mev / (mip_sampling_fraction() * H_OVER_MIP) / 1000.0


def mip_landau_width_gev(muon_gev: float = REFERENCE_MUON_GEV) -> float:
    """Landau width [GeV, calibrated] of the module's MIP signal: N xi of the scintillator
    layers on the same scale as ``mip_signal_per_module_gev``."""
    n = layers_per_module()
    xi = landau_xi_mev(SCINTILLATOR, SC_THICKNESS_CM, muon_gev)
    return n * xi / (mip_sampling_fraction() * H_OVER_MIP) / 1000.0


def muon_loss_per_module_gev(muon_gev: float = REFERENCE_MUON_GEV) -> float:
    """Mean energy [GeV] a muon loses crossing one module (ionisation + radiative)."""
    fe = (
        IRON.density
        * FE_THICKNESS_CM
        * (mean_dedx(IRON, muon_gev) + IRON_RADIATIVE_B * muon_gev * 1e3)
    )
    sc = SCINTILLATOR.density * SC_THICKNESS_CM * mean_dedx(SCINTILLATOR, muon_gev)
    return layers_per_module() * (fe + sc) / 1000.0


__all__ = [
    "H_OVER_MIP",
    "IRON",
    "REFERENCE_MUON_GEV",
    "SCINTILLATOR",
    "layers_per_module",
    "mean_dedx",
    "mip_landau_width_gev",
    "mip_sampling_fraction",
    "mip_signal_per_module_gev",
    "most_probable_loss_mev",
    "muon_loss_per_module_gev",
]
