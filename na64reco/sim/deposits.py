"""True energy deposits per read-out channel, the simulation's intermediate product.

An event has two layers: the *in-time* layer (the triggering particle and everything it makes,
at time 0) and the *pile-up* layer (extra beam particles in the read-out window, all at one time
``pileup_dt`` per event: the approximation is that a second pile-up particle in the same window,
rare at the simulated intensities, arrives together with the first).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from na64reco.eventtree.contract import DETECTOR_SHAPES


@dataclass
class Deposits:
    """Deposited energy [GeV] per channel; arrays of shape (n_events, *channel_shape)."""

    ecal: np.ndarray
    hcal: np.ndarray
    srd: np.ndarray
    veto: np.ndarray
    counter: np.ndarray

    @classmethod
    def zeros(cls, n: int) -> Deposits:
        return cls(**{k: np.zeros((n, *shape)) for k, shape in DETECTOR_SHAPES.items()})

    @classmethod
    def concatenate(cls, parts: list[Deposits]) -> Deposits:
        return cls(
            **{f.name: np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(cls)}
        )

    def take(self, index: np.ndarray) -> Deposits:
        return Deposits(**{f.name: getattr(self, f.name)[index] for f in fields(self)})

    def __len__(self) -> int:
        return len(self.ecal)
