"""Simulated events before digitisation: deposits, track segments, truth, trigger bits."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from na64reco.sim.deposits import Deposits

SEGMENT_FIELDS = (
    "event",
    "x_kick_cm",
    "y_kick_cm",
    "slope_x_up",
    "slope_y",
    "p_at_magnet_gev",
    "z_start_m",
    "z_end_m",
    "t_ns",
)

TRUTH_DEFAULTS: dict[str, tuple[str, float]] = {
    "mc_process": ("u1", 0),
    "mc_beam_pdg": ("i4", 0),
    "mc_beam_energy": ("f4", 0.0),
    "mc_e_miss": ("f4", 0.0),
    "mc_n_extra_charged": ("u1", 0),
    "mc_n_muons": ("u1", 0),
    "mc_n_showers": ("u1", 1),
    "mc_n_pileup": ("u1", 0),
    "mc_signal_mass": ("f4", 0.0),
}


@dataclass
class EventBatch:
    """Events of one or more processes, generated but not yet triggered or digitised."""

    intime: Deposits
    pileup: Deposits
    pileup_dt: np.ndarray  # ns, per event; NaN when there is no pile-up particle
    truth: dict[str, np.ndarray]
    trigger_bits: np.ndarray  # bits set by the generator (beam, random, calibration)
    segments: dict[str, list[np.ndarray]] = field(default_factory=dict)
    # (n, 2) cm: the ECAL table position of a cell scan; every beam particle of the event, pile-up
    # included, hits the calorimeters displaced by it (zero for physics runs)
    table_offset: np.ndarray | None = None
    # (n,) an upper bound of the probability that the event's ECAL sum passes the trigger's
    # E_ECAL threshold, by which the generator thinned it (1: not thinned). The hardware trigger
    # keeps a thinned event with P(pass) / bound and draws its analogue noise conditioned on the
    # pass (``na64reco.sim.hardware.analogue_trigger``): the recorded events are then exactly
    # those of an unthinned draw (the em_shower tail, ``generators.generate_em_shower``).
    trigger_prior: np.ndarray | None = None
    # thinned events whose probability exceeded the generator's bound (bookkeeping, should be 0)
    bound_violations: int = 0

    def __post_init__(self) -> None:
        if self.table_offset is None:
            self.table_offset = np.zeros((len(self.pileup_dt), 2))
        if self.trigger_prior is None:
            self.trigger_prior = np.ones(len(self.pileup_dt))

    @classmethod
    def empty(cls, n: int, process_id: int) -> EventBatch:
        truth = {k: np.full(n, v, dtype=dt) for k, (dt, v) in TRUTH_DEFAULTS.items()}
        truth["mc_process"][:] = process_id
        return cls(
            intime=Deposits.zeros(n),
            pileup=Deposits.zeros(n),
            pileup_dt=np.full(n, np.nan),
            truth=truth,
            trigger_bits=np.zeros(n, dtype=np.uint16),
            segments={k: [] for k in SEGMENT_FIELDS},
        )

    def __len__(self) -> int:
        return len(self.pileup_dt)

    def add_segments(self, **arrays: np.ndarray) -> None:
        """Append track segments (``event`` indexes rows of this batch)."""
        n = len(np.atleast_1d(arrays["event"]))
        for name in SEGMENT_FIELDS:
            value = arrays.get(name, 0.0)
            self.segments[name].append(np.broadcast_to(np.asarray(value, dtype=float), (n,)))

    def segment_arrays(self) -> dict[str, np.ndarray]:
        return {k: (np.concatenate(v) if v else np.zeros(0)) for k, v in self.segments.items()}

    def take(self, index: np.ndarray) -> EventBatch:
        """The events ``index`` (in that order), with their track segments re-indexed."""
        index = np.asarray(index, dtype=np.int64)
        segs = self.segment_arrays()
        new_of_old = np.full(len(self), -1, dtype=np.int64)
        new_of_old[index] = np.arange(len(index))
        keep = new_of_old[segs["event"].astype(np.int64)] >= 0 if len(segs["event"]) else []
        out = EventBatch(
            intime=self.intime.take(index),
            pileup=self.pileup.take(index),
            pileup_dt=self.pileup_dt[index],
            truth={k: v[index] for k, v in self.truth.items()},
            trigger_bits=self.trigger_bits[index],
            segments={k: [] for k in SEGMENT_FIELDS},
            table_offset=self.table_offset[index],
            trigger_prior=self.trigger_prior[index],
            bound_violations=self.bound_violations,
        )
        if len(segs["event"]):
            kept = {k: v[keep] for k, v in segs.items()}
            kept["event"] = new_of_old[kept["event"].astype(np.int64)].astype(float)
            out.add_segments(**kept)
        return out

    @classmethod
    def concatenate(cls, parts: list[EventBatch]) -> EventBatch:
        offsets = np.cumsum([0] + [len(p) for p in parts[:-1]])
        out = cls(
            intime=Deposits.concatenate([p.intime for p in parts]),
            pileup=Deposits.concatenate([p.pileup for p in parts]),
            pileup_dt=np.concatenate([p.pileup_dt for p in parts]),
            truth={k: np.concatenate([p.truth[k] for p in parts]) for k in parts[0].truth},
            trigger_bits=np.concatenate([p.trigger_bits for p in parts]),
            segments={k: [] for k in SEGMENT_FIELDS},
            table_offset=np.concatenate([p.table_offset for p in parts]),
            trigger_prior=np.concatenate([p.trigger_prior for p in parts]),
            bound_violations=sum(p.bound_violations for p in parts),
        )
        for off, p in zip(offsets, parts, strict=True):
            segs = p.segment_arrays()
            if len(segs["event"]):
                segs["event"] = segs["event"] + off
                out.add_segments(**segs)
        return out
