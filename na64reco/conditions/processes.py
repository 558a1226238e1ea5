"""The process table: what fills the recorded data, how often, and with which kinematics.

Each process is generated in a *generation region* of phase space that contains everything that
can fire the physics trigger; ``rate_per_eot`` is the number of such events per electron on
target. The simulation draws N ~ Poisson(rate x EOT) events per process, generates them in that
region, applies the trigger exactly, and writes those that pass: a run of 1e9 EOT costs work in
proportion to its recorded events, not to its EOT. Pile-up (process 4 of detector.md) is not a
separate entry: extra beam particles are overlaid on every event (``pileup_mean``), so region III
of paper 002 Fig. 2 (E_ECAL + E_HCAL > E0) emerges from overlays on hadronic events.

Regions refer to the (E_ECAL, E_HCAL) plane of paper 002 Fig. 2.
"""

from __future__ import annotations

from dataclasses import dataclass

from na64reco.conditions.periods import RunPeriod
from na64reco.conditions.response import RESPONSE
from na64reco.conditions.upstream import UPSTREAM_Y_MIN, beam_line

PROCESS_IDS: dict[str, int] = {
    "random": 0,
    "em_shower": 1,
    "hadron_electroproduction": 2,
    "dimuon": 3,
    "beam_hadron": 4,
    "hadron_decay": 5,
    "upstream_interaction": 6,
    "beam_muon": 7,
    "low_energy_electron": 8,
    "signal": 10,
    "calib_ecal_scan": 11,
    "calib_muon": 12,
}
PROCESS_NAMES = {v: k for k, v in PROCESS_IDS.items()}


@dataclass(frozen=True)
class ProcessSpec:
    """One row of the process table."""

    name: str
    rate_per_eot: float
    region: str  # the generation region, in words
    kinematics: str  # what is generated, in words
    source: str  # where the rate comes from


# Rates per electron on target [choose unless stated], chosen so that the simulated recorded data
# reproduce the numbers of detector.md ("Numbers the simulated data should reproduce"):
#  * ~5e4 SR-tagged events in the (E_ECAL, E_HCAL) plane per 2.75e9 EOT [paper 002] -> the bulk is
#    hadron electroproduction (2.8e-5) plus dimuons, pile-up and the others below. A naive
#    photonuclear track-length estimate gives a few 1e-4 for E_had > 20 GeV; paper 002 Fig. 2 is
#    "an earlier phase of the analysis" and we follow the published count.
#  * ~5e3 clean dimuons with E_ECAL <~ 60 GeV per 2.75e9 EOT [paper 002] -> 4.2e-6 for x_gamma > 0.2
#    (the fraction with x_gamma > 0.4 of the bremsstrahlung spectrum is 0.54; trigger, SR tag and
#    dead time keep ~85%).
#  * the box background of papers 000 and 001 -> the upstream escape parameters UPSTREAM_* below
#    (the upstream rate itself follows from the beam-line material, ``conditions.upstream``).
HADRON_ELECTROPRODUCTION_RATE = 2.8e-5
HADRON_ELECTROPRODUCTION_YMIN = 0.12  # E_had > 12 GeV: below, E_ECAL > 88 GeV fails the trigger
PUNCH_THROUGH_PROBABILITY = 2e-7  # all hadrons escape the HCAL through cracks [choose]
DIMUON_RATE = 4.2e-6
DIMUON_XMIN = 0.2
# Beam hadrons fire Tr(X) only if a hard interaction in the first ~4 X0 puts > 0.3 GeV in the PS
# within the gate. We take P = 2e-3 per beam hadron [choose], so that hadron-induced triggers are
# ~2e-5 per EOT, the order of the SR-tagged rate. A Geant4 estimate of an early interaction
# (0.16 lambda_I in the PS) would give up to ~0.1 and a recorded stream ~100x larger than the
# few 1e6 events per 2.84e11 EOT this project is sized for; with real data, measure it from the
# untagged physics triggers.
BEAM_HADRON_TRIGGER_PROBABILITY = 2e-3
CHARGE_EXCHANGE_FRACTION = 0.05  # pi- p -> pi0 n among hadron interactions [choose]
# Decays in flight of beam hadrons in the 15 m after the magnets: K_e3 (BR 5.07%) and
# pi -> e nu (BR 1.23e-4) [PDG]; gamma c tau = 751 m (K, 100 GeV), 5585 m (pi).
DECAY_LENGTH_M = 15.0
KAON_E3_BR = 0.0507
PION_ENU_BR = 1.23e-4
KAON_DECAY_LENGTH_M = 751.0
PION_DECAY_LENGTH_M = 5585.0
# e- interactions in beam-line material (windows, counters, trackers) [paper 000, 001, 003]: the
# dominant box background. The rate per EOT and the share before/after the magnets follow from
# the material of the period's beam line (``conditions.upstream``: 1.3e-5 per EOT, 35% after the
# magnets). A hadronic system takes y E0 (dN/dy ~ 1/y); with probability
# UPSTREAM_ESCAPE_PROB * (y / 0.5) * exp(-y E0 / UPSTREAM_ESCAPE_SCALE_GEV) every secondary leaves
# at large angle undetected (no tracker hit, no VETO, no HCAL), otherwise charged secondaries
# cross the trackers and part of the energy reaches the HCAL. NA64 sees the clean sideband
# (E_HCAL < 1 GeV, E_ECAL < E0) fall exponentially towards low E_ECAL and extrapolates it with an
# exponential [paper 001]: the y factor, which cancels the 1/y of the spectrum, makes the
# simulated clean spectrum exactly that exponential [choose: the escape probability is not
# published; its shape is set by the observed sideband]. UPSTREAM_ESCAPE_PROB is the one number
# set on a background figure [choose]: the 2016-2018 box, 0.53 +- 0.17 events for 2.84e11 EOT in
# all [paper 000], 0.4 +- 0.2 of them from upstream interactions [paper 001]. The same
# probability holds for 2021-2022, whose figure (0.3 +- 0.2 [paper 001]) is then a check: there
# the zero-degree HCAL3 catches part of the escaping systems (``sim.upstream``).
UPSTREAM_YMIN = UPSTREAM_Y_MIN
UPSTREAM_ESCAPE_PROB = 1.4e-3
UPSTREAM_ESCAPE_SCALE_GEV = 8.0
UPSTREAM_EXTRA_CHARGED_MEAN = 2.5  # mean extra charged secondaries when detected
BEAM_MUON_TRIGGER_PROBABILITY = 1e-3  # mu Z -> mu Z gamma with a hard photon in the PS [choose]
LOW_ENERGY_TAIL_RANGE_GEV = (50.0, 95.0)


def pileup_mean(period: RunPeriod) -> float:
    """Mean number of extra beam particles within the read-out window of one event."""
    rate_per_ns = period.intensity_per_spill / (period.spill_length_s * 1e9)
    return rate_per_ns * RESPONSE.pileup_tau_ns


def process_table(period: RunPeriod) -> dict[str, ProcessSpec]:
    """Rates and kinematics of the background processes of one run period."""
    f_h = period.beam_hadron_fraction
    f_k = period.beam_kaon_to_hadron
    decay_rate = f_h * (
        f_k * DECAY_LENGTH_M / KAON_DECAY_LENGTH_M * KAON_E3_BR
        + (1 - f_k) * DECAY_LENGTH_M / PION_DECAY_LENGTH_M * PION_ENU_BR
    )
    rows = [
        ProcessSpec(
            "em_shower",
            float("nan"),  # derived in the generator from the ECAL resolution tail
            "beam e- whose measured ECAL energy falls below the trigger threshold",
            "full-energy EM shower of a 100 GeV e- in the beam cell; only the low resolution tail "
            "fires Tr(X); the bulk is recorded through the prescaled beam trigger",
            "process 1 of detector.md; ECAL resolution [paper 003]",
        ),
        ProcessSpec(
            "hadron_electroproduction",
            HADRON_ELECTROPRODUCTION_RATE,
            f"y = E_had / E0 > {HADRON_ELECTROPRODUCTION_YMIN}",
            "eA -> e + hadrons in the ECAL (region II): dN/dy ~ 1/y; the e- and the EM part shower "
            "in the ECAL, the hadrons in the ECAL and HCAL; E_ECAL + E_HCAL ~ E0",
            "[choose] to reproduce 5e4 SR-tagged events per 2.75e9 EOT [paper 002]",
        ),
        ProcessSpec(
            "dimuon",
            DIMUON_RATE,
            f"x_gamma > {DIMUON_XMIN}",
            "e Z -> e Z gamma, gamma -> mu+ mu- (region I): bremsstrahlung x_gamma, Bethe-Heitler "
            "energy sharing; two MIPs through the HCAL (~10-12 GeV)",
            "[paper 002] ~5e3 clean dimuons with E_ECAL < 60 GeV per 2.75e9 EOT",
        ),
        ProcessSpec(
            "beam_hadron",
            f_h * BEAM_HADRON_TRIGGER_PROBABILITY,
            "beam pi-/K- interacting in the PS",
            "hadron shower starting in the first 4 X0 (5% charge exchange pi- p -> pi0 n), no SR: "
            "the SRD sees a knock-on fake with probability 1e-3",
            "hadron fraction 1% [paper 000]; trigger probability [choose]",
        ),
        ProcessSpec(
            "hadron_decay",
            decay_rate,
            "K_e3 and pi -> e nu decays in the 15 m after the magnets",
            "the decay e- (and the pi0 of K_e3) shower in the ECAL, the neutrino escapes; momentum "
            "measured on the hadron; SR tag only through the knock-on fake",
            "[paper 002 Table I; PDG]",
        ),
        ProcessSpec(
            "upstream_interaction",
            beam_line(period).interaction_rate(UPSTREAM_YMIN),
            f"y > {UPSTREAM_YMIN}",
            "e- interacting in beam-line material before or after the magnets: degraded e- "
            "(1 - y) E0 reaches the ECAL, hadrons at large angle mostly leave straw/MM hits",
            "beam-line material x electronuclear yield per X0 (conditions.upstream); escape "
            "probability [choose] on the 2016-2018 box [papers 000, 001]",
        ),
        ProcessSpec(
            "beam_muon",
            period.beam_muon_fraction * BEAM_MUON_TRIGGER_PROBABILITY,
            "beam mu- radiating a hard photon in the PS",
            "mu Z -> mu Z gamma: EM shower of the photon, the muon as a MIP through the HCAL",
            "muon fraction [choose]",
        ),
        ProcessSpec(
            "low_energy_electron",
            period.beam_low_tail_fraction,
            f"beam e- with {LOW_ENERGY_TAIL_RANGE_GEV[0]}-{LOW_ENERGY_TAIL_RANGE_GEV[1]} GeV",
            "low-energy tail of the beam, deflected more by the magnets: lands off the beam cell",
            "[paper 002] the tail exists; fraction [choose]",
        ),
    ]
    return {row.name: row for row in rows}
