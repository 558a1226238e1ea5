"""The NA64 event-tree contract, schema v1 (docs/event-tree.md is the prose version).

One TTree named ``events`` per file holding decoded but uncalibrated data, and one TObjString
named ``na64_metadata`` holding a JSON object (schema version, run period, beam energy; for
simulation the generator, seed, exposure and true calibration constants).

Everything that reads or writes files takes branch names, dtypes and shapes from here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

TREE_NAME = "events"
METADATA_NAME = "na64_metadata"
SCHEMA_VERSION = 1
KNOWN_SCHEMA_VERSIONS = (1,)

# Trigger bits (event-tree.md)
TRIGGER_PHYSICS = 1
TRIGGER_BEAM = 2
TRIGGER_RANDOM = 4
TRIGGER_CALIBRATION = 8

#: the digitisers are 12-bit: an amplitude (``*_amp``, pedestal included) lies in [0, ADC_MAX];
#: ADC_MAX itself is the saturation code (a saturated channel: valid, counted, flagged)
ADC_MAX = 4095.0

ECAL_SHAPE = (2, 6, 6)  # [section][x][y]; section 0 = preshower, 1 = main
HCAL_SHAPE = (4, 3, 3)  # [module][x][y]
SRD_SHAPE = (3,)
VETO_SHAPE = (6,)  # 3 modules x 2 PMTs: PMT 2m and 2m+1 read module m
COUNTER_SHAPE = (4,)  # S0, S1, S2, V1
COUNTER_NAMES = ("S0", "S1", "S2", "V1")
# The per-channel arrays of every amplitude/time detector: name -> channel shape (the one list;
# branches ``<name>_amp`` and ``<name>_t``)
DETECTOR_SHAPES = {
    "ecal": ECAL_SHAPE,
    "hcal": HCAL_SHAPE,
    "srd": SRD_SHAPE,
    "veto": VETO_SHAPE,
    "counter": COUNTER_SHAPE,
}
CALORIMETER_DETECTORS = tuple(DETECTOR_SHAPES)  # the detectors with per-channel constants


@dataclass(frozen=True)
class FixedBranch:
    """A branch with one fixed-size value (or array) per event."""

    name: str
    dtype: np.dtype
    shape: tuple[int, ...] = ()
    doc: str = ""


@dataclass(frozen=True)
class JaggedBranch:
    """A branch with a variable number of hits per event, counted by ``counter``."""

    name: str
    dtype: np.dtype
    collection: str  # "mm" or "st": the ROOT counter branch is "n" + collection
    doc: str = ""

    @property
    def counter(self) -> str:
        return "n" + self.collection

    @property
    def field(self) -> str:
        return self.name[len(self.collection) + 1 :]


def _f(name, dtype, shape=(), doc=""):
    return FixedBranch(name, np.dtype(dtype), tuple(shape), doc)


FIXED_BRANCHES: tuple[FixedBranch, ...] = (
    _f("run", "i4", doc="run number; selects the calibration and the cut set of its period"),
    _f("spill", "i4", doc="spill number within the run"),
    _f("event", "i8", doc="event number within the spill"),
    _f("trigger", "u2", doc="trigger bits: 1 physics, 2 prescaled beam, 4 random, 8 calibration"),
    _f("ecal_amp", "f4", ECAL_SHAPE, "ECAL amplitude [ADC], pedestal included"),
    _f("ecal_t", "f4", ECAL_SHAPE, "ECAL pulse time [ns]"),
    _f("hcal_amp", "f4", HCAL_SHAPE, "HCAL amplitude [ADC]"),
    _f("hcal_t", "f4", HCAL_SHAPE, "HCAL pulse time [ns]"),
    _f("srd_amp", "f4", SRD_SHAPE, "SRD module amplitudes [ADC]"),
    _f("srd_t", "f4", SRD_SHAPE, "SRD times [ns]"),
    _f("veto_amp", "f4", VETO_SHAPE, "VETO PMT amplitudes [ADC]"),
    _f("veto_t", "f4", VETO_SHAPE, "VETO times [ns]"),
    _f("counter_amp", "f4", COUNTER_SHAPE, "beam counters S0, S1, S2 and veto V1 [ADC]"),
    _f("counter_t", "f4", COUNTER_SHAPE, "counter times [ns]"),
)

JAGGED_BRANCHES: tuple[JaggedBranch, ...] = (
    JaggedBranch("mm_station", np.dtype("u1"), "mm", "Micromegas station index (MM1 = 0)"),
    JaggedBranch("mm_plane", np.dtype("u1"), "mm", "0 = x strips, 1 = y strips"),
    JaggedBranch("mm_strip", np.dtype("u2"), "mm", "strip number"),
    JaggedBranch("mm_amp", np.dtype("f4"), "mm", "hit amplitude [ADC]"),
    JaggedBranch("mm_t", np.dtype("f4"), "mm", "hit time [ns]"),
    JaggedBranch("st_station", np.dtype("u1"), "st", "straw station index (ST1 = 0)"),
    JaggedBranch("st_plane", np.dtype("u1"), "st", "0 = x wires, 1 = y wires"),
    JaggedBranch("st_wire", np.dtype("u2"), "st", "wire number"),
    JaggedBranch("st_t", np.dtype("f4"), "st", "straw TDC time [ns]"),
)

# Monte Carlo truth (simulated files only; an analysis must never need them).
MC_BRANCHES: tuple[FixedBranch, ...] = (
    _f("mc_process", "u1", doc="process id, see na64reco.conditions.processes.PROCESS_IDS"),
    _f("mc_beam_pdg", "i4", doc="PDG id of the beam particle"),
    _f("mc_beam_energy", "f4", doc="beam particle momentum through the magnets [GeV]"),
    _f("mc_e_miss", "f4", doc="energy carried away invisibly (signal, escaping hadrons) [GeV]"),
    _f("mc_ecal_edep", "f4", doc="true in-time ECAL deposit (EM scale) [GeV]"),
    _f("mc_hcal_edep", "f4", doc="true in-time HCAL deposit [GeV]"),
    _f("mc_veto_edep", "f4", doc="true in-time VETO deposit [GeV]"),
    _f("mc_srd_edep", "f4", doc="true in-time SRD deposit [GeV]"),
    _f("mc_n_extra_charged", "u1", doc="extra charged particles crossing the trackers"),
    _f("mc_n_muons", "u1", doc="muons reaching the HCAL"),
    _f("mc_n_showers", "u1", doc="EM showers entering the ECAL more than one cell apart"),
    _f("mc_n_pileup", "u1", doc="extra beam particles in the readout window"),
    _f("mc_signal_mass", "f4", doc="mass of the emitted dark boson [GeV], 0 for background"),
)

ALL_FIXED_BRANCHES = FIXED_BRANCHES + MC_BRANCHES


def required_branch_names() -> list[str]:
    """Every branch a schema-v1 file must carry (MC branches are optional)."""
    names = [b.name for b in FIXED_BRANCHES]
    names += [b.name for b in JAGGED_BRANCHES]
    return names
