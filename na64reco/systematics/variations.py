"""The variations of one pass: what each evaluated variation changes, and its cutflow.

``data_variations`` lists, for the calibration and cut variations of a ``Systematics``, the
constants and the cut set each ``<name>__up`` / ``<name>__down`` runs with (data carry no
simulation weight: weight variations apply to signal samples only, ``weights``). The
selection processor reconstructs each calibration variation from the raw columns already in
memory (the nominal tracks reused) and evaluates each cut variation on the nominal variables.
"""

from __future__ import annotations

from dataclasses import dataclass

from na64reco.calibration.constants import CalibrationSet
from na64reco.cutsets.config import CutSet
from na64reco.systematics.apply import shifted_calibration, shifted_cutset, smeared_arrays
from na64reco.systematics.config import CalibrationShift, CutShift, Systematics

__all__ = ["NOMINAL", "DataVariation", "data_variations"]

NOMINAL = "nominal"


@dataclass(frozen=True)
class DataVariation:
    label: str  # <name>__up or <name>__down
    calibration: CalibrationSet  # the nominal set itself when unchanged
    cutset: CutSet  # the nominal cut set itself when unchanged
    smear: CalibrationShift | None = None  # a resolution variation's up: smear the raw arrays

    def arrays(self, arrays: dict) -> dict:
        """The raw arrays this variation reconstructs (smeared for a resolution up)."""
        return (
            arrays if self.smear is None else smeared_arrays(arrays, self.calibration, self.smear)
        )

    @property
    def nominal_variables(self) -> bool:
        """True when the nominal reconstruction serves (constants and arrays unchanged)."""
        return self.smear is None


def data_variations(
    systematics: Systematics | None, cutset: CutSet, cset: CalibrationSet
) -> list[DataVariation]:
    """The calibration and cut variations to evaluate on data, in file order."""
    if systematics is None:
        return []
    out = []
    for var in systematics.variations:
        for direction, label in zip(("up", "down"), var.labels(), strict=True):
            if isinstance(var, CalibrationShift) and var.quantity == "resolution":
                smear = var if direction == "up" else None
                out.append(DataVariation(label, cset, cutset, smear))
            elif isinstance(var, CalibrationShift):
                out.append(DataVariation(label, shifted_calibration(cset, var, direction), cutset))
            elif isinstance(var, CutShift):
                out.append(DataVariation(label, cset, shifted_cutset(cutset, var, direction)))
    return out
