"""Conditions per run period: beam, trigger, data taking and geometry.

Every number that is not a physical constant and not a selection cut lives here (or in
``response.py`` / ``processes.py`` beside this file), with a comment saying where it comes from:
``[paper NNN]`` for the papers in ``shared/papers``, ``[code]`` for public NA64 code (p348reco,
DMG4) as quoted in ``shared/spec/detector.md``, ``[choose]`` for values that are not published
and were chosen to be plausible (with the reason).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from na64reco.errors import ConditionsError


@dataclass(frozen=True)
class TrackerStation:
    """One tracking station: two planes (x and y) of strips or wires."""

    name: str
    z_m: float  # position along the beam, magnet kick at MAGNET_KICK_Z_M
    pitch_mm: float
    n_channels: int  # strips (wires) per plane, centred on the nominal beam trajectory
    efficiency: float  # probability that a crossing particle leaves a hit per plane
    noise_hits_mean: float  # mean number of random noise hits per plane per event
    time_sigma_ns: float
    x_over_x0: float = 0.0  # material in radiation lengths (multiple scattering, upstream rate)


@dataclass(frozen=True)
class Geometry:
    """Detector geometry of one run period (lengths in the unit named)."""

    ecal_nx: int  # instrumented ECAL columns: 6, or 5 in 2021-2022 (column 5 not read out)
    ecal_cell_pitch_cm: float
    beam_cell: tuple[int, int]  # (x, y) ECAL cell the beam is aimed at
    hcal_modules_in_line: int  # HCAL modules a straight-through muon crosses
    hcal_cell_pitch_cm: float
    srd_modules: int
    magnet_bl_tesla_m: float
    magnet_kick_z_m: float
    nominal_momentum_gev: float  # the momentum the magnets bend onto the beam cell (beam energy)
    ecal_z_m: float
    hcal_z_m: float  # face of the first HCAL module
    mm_stations: tuple[TrackerStation, ...]
    straw_stations: tuple[TrackerStation, ...]


@dataclass(frozen=True)
class TriggerConditions:
    """Hardware physics trigger Tr(X) of paper 000 eq. 8 and the other trigger streams."""

    ps_min_gev: float  # PS(E > E_PS^th)
    ecal_max_gev: float  # ECAL(E < E_ECAL^th)
    counter_min_mip: float  # S_i in-time hit above this fraction of a MIP
    veto_v1_min_mip: float  # V1 fires above this fraction of a MIP
    gate_ns: float  # analogue sums integrate deposits within +- gate of the trigger time
    efficiency: float  # physics-trigger efficiency for events that satisfy Tr(X)
    beam_prescale: int  # one unbiased beam trigger per this many electrons on target
    random_per_spill: int  # random (pedestal) triggers per spill


@dataclass(frozen=True)
class RunPeriod:
    """Everything the simulation and reconstruction need to know about one run period."""

    name: str
    first_run: int
    last_run: int
    beam_energy_gev: float
    beam_momentum_spread: float  # relative sigma of the selected beam momentum
    beam_low_tail_fraction: float  # electrons in the low-energy tail (50-95 GeV)
    beam_spot_sigma_cm: float
    beam_hadron_fraction: float  # pi-/K- per beam electron before SRD tagging
    beam_kaon_to_hadron: float
    beam_muon_fraction: float
    srd_hadron_fake_probability: float  # a beam hadron still gives an SR-like SRD signal
    intensity_per_spill: float  # electrons per 4.8 s spill
    spill_length_s: float
    spills_per_run: int
    published_eot: float  # electrons on target of this period in the papers
    daq_live_fraction: float
    trigger: TriggerConditions
    geometry: Geometry
    notes: str = field(default="")


# --- geometry ----------------------------------------------------------------------------------
BEAM_ENERGY_GEV = 100.0  # the H4 electron beam of every NA64-e period [paper 000-004]
# Magnets: two dipoles, integral field ~7 T m [paper 000, 002] -> 21 mrad at 100 GeV. A single
# thin-lens kick at the middle of the two magnets is the approximation [choose].
MAGNET_BL_TESLA_M = 7.0
MAGNET_KICK_Z_M = 2.5

# Micromegas MM1..MM7, 0.25 mm pitch [choose, detector.md], x/y strips. MM1-MM2 upstream of the
# magnets, MM3-MM4 just downstream, MM5-MM7 at the end of the vacuum vessel before the ECAL. Pair
# separations of 0.7 m give delta p / p ~ 1% with 0.25/sqrt(12) mm resolution [paper 002, 003].
# Efficiency 0.985 per plane (NA64 Micromegas reach 98-99%) and ~0.1 noise hits per plane [choose].
# Material ~0.3% X0 per station (two planes, drift and mesh, PCB) [choose].
_MM = tuple(
    TrackerStation(f"MM{i + 1}", z, 0.25, 320, 0.985, 0.1, 5.0, 0.003)
    for i, z in enumerate((-3.5, -2.8, 5.0, 5.7, 17.2, 17.9, 18.6))
)
# Straw tubes ST1, ST2 after the magnets, 6 mm wires, the largest transverse acceptance [paper 000]
# (1.2 m wide planes, 200 wires) [choose]; efficiency 0.95, 0.02 noise hits per plane in the
# 200 ns read-out window [choose]: the "no extra straw hit" cut then costs ~3% of electrons.
# Material ~0.4% X0 per two-plane station with gas and walls [choose].
_ST = tuple(
    TrackerStation(f"ST{i + 1}", z, 6.0, 200, 0.95, 0.02, 10.0, 0.004)
    for i, z in enumerate((6.5, 16.5))
)


def _geometry(ecal_nx: int, beam_cell: tuple[int, int], hcal_in_line: int) -> Geometry:
    return Geometry(
        ecal_nx=ecal_nx,
        ecal_cell_pitch_cm=3.82,  # [code; paper 001]
        beam_cell=beam_cell,
        hcal_modules_in_line=hcal_in_line,
        hcal_cell_pitch_cm=20.0,  # 60 x 60 cm modules of 3 x 3 cells [code]
        srd_modules=3,  # 3 SRD modules [code 2016-2018; choose: same later]
        magnet_bl_tesla_m=MAGNET_BL_TESLA_M,
        magnet_kick_z_m=MAGNET_KICK_Z_M,
        nominal_momentum_gev=BEAM_ENERGY_GEV,  # the spectrometer is tuned to the beam energy
        ecal_z_m=19.5,  # ECAL face ~15 m vacuum vessel after the magnets [paper 002; choose]
        hcal_z_m=20.1,  # behind the ~45 cm ECAL (150 x 3 mm [paper 003]) and the VETO [choose]
        mm_stations=_MM,
        straw_stations=_ST,
    )


def _trigger(ecal_max_gev: float) -> TriggerConditions:
    return TriggerConditions(
        ps_min_gev=0.3,  # E_PS^th ~ 0.3 GeV [paper 000, 001]
        ecal_max_gev=ecal_max_gev,  # 80 GeV 2016-2018 [paper 000, 002], 90 GeV 2021-22 [paper 001]
        counter_min_mip=0.5,  # [choose] half a MIP discriminator threshold
        veto_v1_min_mip=0.5,  # [choose]
        gate_ns=15.0,  # [choose] analogue-sum integration window
        efficiency=0.95,  # trigger efficiency 0.95 +- 0.02 [paper 000]
        # [choose] 1 in 1e5: detector.md suggests ~1e-3, but at 2.84e11 EOT that would record
        # 2.8e8 beam events; 1e-5 keeps the 2016-2018 recorded data at a few 1e6 events (issue 2)
        # and still counts EOT to 0.06% (1/sqrt(2.84e6)).
        beam_prescale=100_000,
        random_per_spill=5,  # [choose] pedestal triggers per spill (1000 per 200-spill run)
    )


_COMMON = dict(
    beam_energy_gev=BEAM_ENERGY_GEV,
    beam_momentum_spread=0.01,  # ~1% [choose, detector.md]
    beam_low_tail_fraction=1e-5,  # [choose] low-energy tail <= 60-80 GeV exists [paper 002]
    beam_spot_sigma_cm=0.6,  # [choose]
    beam_hadron_fraction=0.01,  # pi/e ~ 1% before the SRD [paper 000, 002, 003]
    beam_kaon_to_hadron=0.05,  # [choose] ~5% K- among 100 GeV negative hadrons in H4
    beam_muon_fraction=1e-3,  # [choose, detector.md]
    spill_length_s=4.8,  # [paper 000]
    daq_live_fraction=0.93,  # DAQ dead time factor 0.93 [paper 002]
)

# Period table. Run ranges [code: p348reco invisible-mode ranges]: 2016 runs < 2467,
# 2018 3855-4223, 2021 5021-5186, 2022 >= 6035. The 2016 start, the 2017 range and the 2022 end
# are [choose]. EOT: 2016-2018 total 2.84e11 [paper 000], 2016-2022 total 9.37e11 [paper 001,
# detector.md]; the split between years is [choose]. Beam cells (3,3), (2,2), (2,3) [code]; which
# period used which is [choose]. Intensities: ~1.4e6-4e6 in 2016 [paper 002], 5-9e6 in 2017-2018
# [paper 000], up to 6e6 in 2021-2022 [paper 001]. ECAL 6x6 until 2018, 5x6 from 2021 [paper 001].
# HCAL: 4 modules in line (~30 lambda_I) until 2018 [paper 002]; 3 in line + HCAL3 at zero degrees
# from 2021 [paper 001].
PERIODS: dict[str, RunPeriod] = {
    "2016": RunPeriod(
        name="2016",
        first_run=1800,
        srd_hadron_fake_probability=1e-3,  # SRD suppresses hadrons by ~1e3 in 2016 [paper 002]
        last_run=2466,
        intensity_per_spill=2.0e6,
        spills_per_run=200,
        published_eot=4.3e10,
        trigger=_trigger(80.0),
        geometry=_geometry(6, (3, 3), 4),
        **_COMMON,
    ),
    "2017": RunPeriod(
        name="2017",
        srd_hadron_fake_probability=1e-5,  # "suppressed to a negligible level" [paper 000; choose]
        first_run=2800,
        last_run=3590,
        intensity_per_spill=5.0e6,
        spills_per_run=200,
        published_eot=5.4e10,
        trigger=_trigger(80.0),
        geometry=_geometry(6, (3, 3), 4),
        **_COMMON,
    ),
    "2018": RunPeriod(
        name="2018",
        srd_hadron_fake_probability=1e-5,  # "suppressed to a negligible level" [paper 000; choose]
        first_run=3855,
        last_run=4223,
        intensity_per_spill=7.0e6,
        spills_per_run=200,
        published_eot=1.87e11,
        trigger=_trigger(80.0),
        geometry=_geometry(6, (2, 2), 4),
        **_COMMON,
    ),
    "2021": RunPeriod(
        name="2021",
        srd_hadron_fake_probability=1e-5,  # "suppressed to a negligible level" [paper 000; choose]
        first_run=5021,
        last_run=5186,
        intensity_per_spill=5.0e6,
        spills_per_run=300,  # [choose] longer runs: 2.13e11 EOT must fit in 166 runs
        published_eot=2.13e11,
        trigger=_trigger(90.0),
        geometry=_geometry(5, (2, 3), 3),
        **_COMMON,
    ),
    "2022": RunPeriod(
        name="2022",
        srd_hadron_fake_probability=1e-5,  # "suppressed to a negligible level" [paper 000; choose]
        first_run=6035,
        last_run=8458,
        intensity_per_spill=6.0e6,
        spills_per_run=200,
        published_eot=4.4e11,
        trigger=_trigger(90.0),
        geometry=_geometry(5, (2, 3), 3),
        **_COMMON,
    ),
}


def get_period(name: str | int) -> RunPeriod:
    """The conditions of a run period by name ("2016" ... "2022")."""
    key = str(name)
    if key not in PERIODS:
        raise ConditionsError(f"unknown run period {key!r}; known periods: {', '.join(PERIODS)}")
    return PERIODS[key]


def period_of_run(run: int) -> RunPeriod:
    """The run period a run number belongs to; an error naming the run if none does."""
    for period in PERIODS.values():
        if period.first_run <= run <= period.last_run:
            return period
    ranges = ", ".join(f"{p.name}: {p.first_run}-{p.last_run}" for p in PERIODS.values())
    raise ConditionsError(f"run {run} is in no known run period ({ranges})")
