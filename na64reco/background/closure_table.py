"""The ABCD closure factors of the default cut set, computed once and shipped with the toolkit.

``background.abcd.closure_factor`` simulates a truth-level (E_ECAL, E_HCAL) plane (~2 s a
period) whose result depends only on its arguments and on the simulation code. Every ``na64
analyze`` asked for the same ones again; this table holds them for every period at the
invisible cut set's box edges and the background stage's defaults, with:

* ``code_digest``: sha256 over the source of the simulation (the box-background table's
  sources, ``na64reco.sim.box_table.SOURCES``) and of the closure code itself;
* per period, every argument the factor was computed with (``arguments``): box edge, HCAL zero,
  EOT, upstream scale, seed.

A lookup that finds anything different returns ``None`` and the caller simulates, so a stale
table costs time, never a wrong number. ``tests/test_background_closure_table.py`` checks that
the table is current and equals a fresh computation; regenerate it with
``python -m na64reco.background.closure_table``.
"""

from __future__ import annotations

import json
import logging
from functools import cache
from importlib import resources
from pathlib import Path

from na64reco.sim.box_table import SOURCES as SIMULATION_SOURCES
from na64reco.sim.box_table import read_shipped_table, source_digest, write_shipped_table

logger = logging.getLogger(__name__)

TABLE = "closure_factors.json"
FORMAT = "na64-abcd-closure-factors"
#: what the result depends on, relative to the na64reco package folder
SOURCES = (*SIMULATION_SOURCES, "background/truth.py", "background/abcd.py")


def table_path() -> Path:
    return Path(str(resources.files("na64reco.background").joinpath(TABLE)))


def closure_key(
    box_hi: float, hcal_zero: float, eot: float, upstream_scale: float, seed: int
) -> dict:
    """The arguments of ``closure_factor`` (but the period) as the table records them."""
    return {
        "box_hi": float(box_hi),
        "hcal_zero": float(hcal_zero),
        "eot": float(eot),
        "upstream_scale": float(upstream_scale),
        "seed": int(seed),
    }


@cache
def _load() -> dict | None:
    digest = source_digest(SOURCES)
    return read_shipped_table(table_path(), FORMAT, digest, "closure factors are")


def lookup(period: str, **arguments) -> dict | None:
    """The shipped result of ``closure_factor(period, **arguments)``, or None when the table
    holds none for exactly these arguments (``closure_key``'s)."""
    table = _load()
    if table is None:
        return None
    entry = table.get("periods", {}).get(period)
    if entry is None or entry.get("arguments") != closure_key(**arguments):
        return None
    return json.loads(json.dumps(entry["result"]))  # a copy the caller may change


def default_arguments(period: str) -> dict:
    """The arguments the background stage passes for the invisible cut set."""
    from na64reco.analyses import resolve_cutset
    from na64reco.background.abcd import CLOSURE_SEED, CLOSURE_UPSTREAM_SCALE
    from na64reco.background.build import CLOSURE_EOT

    cutset = resolve_cutset("invisible")
    return closure_key(
        box_hi=cutset.box_upper_edge("ecal_e", period),
        hcal_zero=cutset.box_upper_edge("hcal_e", period),
        eot=CLOSURE_EOT,
        upstream_scale=CLOSURE_UPSTREAM_SCALE,
        seed=CLOSURE_SEED,
    )


def build() -> dict:
    """The table for every period, simulated now (what ``python -m`` writes)."""
    from na64reco.background.abcd import closure_factor
    from na64reco.conditions import PERIODS

    periods = {}
    for period in PERIODS:
        arguments = default_arguments(period)
        periods[period] = {
            "arguments": arguments,
            "result": closure_factor(period, **arguments, use_table=False),
        }
    return {"format": FORMAT, "code_digest": source_digest(SOURCES), "periods": periods}


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    write_shipped_table(table_path(), build())
    _load.cache_clear()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
