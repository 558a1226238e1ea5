"""The per-event variables cut sets may use: name -> (unit, meaning).

``na64reco.reco.event.reconstruct_event`` computes every one of them as a flat numpy array; a
cut set naming anything else is rejected on load. This table is the contract between
reconstruction and selection (and the axis labels of the N-1 plots); ``VARIABLE_KINDS`` says which
take whole values.
"""

from __future__ import annotations

VARIABLES: dict[str, tuple[str, str]] = {
    "trigger_physics": ("", "the physics trigger bit (1) is recorded"),
    "trigger_emulated": ("", "Tr(X) of paper 000 eq. 8 emulated from reconstructed energies"),
    "momentum": ("GeV", "incoming track momentum from the deflection in the magnets (NaN: none)"),
    "srd_e": ("GeV", "in-time SRD energy, sum of the modules"),
    "srd_modules_fired": ("", "SRD modules with an in-time signal above noise"),
    "ecal_e": ("GeV", "in-time ECAL energy (preshower + main)"),
    "ecal_ps": ("GeV", "in-time preshower energy"),
    "ecal_out_of_time": ("GeV", "ECAL energy in pulses out of time (pile-up)"),
    "hcal_e": ("GeV", "in-time HCAL energy, sum of all modules"),
    "hcal_out_of_time": ("GeV", "HCAL energy in pulses out of time (pile-up)"),
    "hcal_inline_min": ("GeV", "smallest in-time energy of the HCAL modules in line with the beam"),
    "hcal_inline_max": ("GeV", "largest in-time energy of the HCAL modules in line with the beam"),
    "in_beam_cell": ("", "the ECAL cell with most energy is the period's beam cell"),
    "shower_chi2": ("", "shower-shape chi2 per degree of freedom of the 3x3 cells"),
    "veto_e": ("GeV", "largest VETO module energy (sqrt(a1 a2) rule)"),
    "n_mm_extra_upstream": ("", "extra in-time Micromegas clusters upstream of the magnets"),
    "n_mm_extra_downstream": ("", "extra in-time Micromegas clusters downstream of the magnets"),
    "n_straw_extra": ("", "extra in-time straw-tube hits beyond the track's"),
    "n_saturated": ("", "ECAL and HCAL channels whose ADC saturated (energy unknown)"),
}

#: the variables that take whole values: booleans and counts (``equals`` is allowed on these
#: only; every other variable is continuous)
VARIABLE_KINDS: dict[str, str] = {
    "trigger_physics": "bool",
    "trigger_emulated": "bool",
    "in_beam_cell": "bool",
    "srd_modules_fired": "int",
    "n_mm_extra_upstream": "int",
    "n_mm_extra_downstream": "int",
    "n_straw_extra": "int",
}


def variable_kind(name: str) -> str:
    """``bool``, ``int`` or ``float``."""
    return VARIABLE_KINDS.get(name, "float")


__all__ = ["VARIABLES", "VARIABLE_KINDS", "variable_kind"]
