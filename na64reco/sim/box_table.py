"""The truth-level box background per EOT, computed once and shipped with the toolkit.

``expected_box_background`` simulates ~20k events of every background process (~2-5 s a
period) and is linear in the EOT. The background stage of every ``na64 analyze`` asked for it
again; this table holds its per-EOT values for every period at the default settings, with what
they depend on:

* ``code_digest``: sha256 over the source of the simulation, the conditions, the physics and
  the event-tree contract (:func:`source_digest`);
* per period, the truth box it was computed for (``selection_box``: SRD window, box edge,
  momentum window, from the invisible cut set);
* the number of events per process and the seed.

A lookup that finds anything different returns ``None`` and the caller simulates, as before,
so a stale table costs time, never a wrong number. ``tests/test_sim_box_table.py`` checks that
the table is current and equals a fresh computation; regenerate it with
``python -m na64reco.sim.box_table``.
"""

from __future__ import annotations

import hashlib
import json
import logging
from functools import cache
from importlib import resources
from pathlib import Path

logger = logging.getLogger(__name__)

TABLE = "box_background_per_eot.json"
FORMAT = "na64-box-background-per-eot"
#: what the result depends on, relative to the na64reco package folder
SOURCES = ("sim", "conditions", "physics", "constants.py", "eventtree/contract.py")


def source_digest(sources: tuple[str, ...] = SOURCES) -> str:
    """sha256 over the source files (``sources``, relative to the package folder) the
    simulated box background depends on."""
    root = Path(__file__).resolve().parent.parent
    h = hashlib.sha256()
    for name in sources:
        path = root / name
        for file in sorted(path.rglob("*.py")) if path.is_dir() else [path]:
            h.update(str(file.relative_to(root)).encode())
            h.update(file.read_bytes())
    return h.hexdigest()


def table_path() -> Path:
    return Path(str(resources.files("na64reco.sim").joinpath(TABLE)))


def read_shipped_table(path: Path, fmt: str, digest: str, what: str) -> dict | None:
    """A shipped table of simulated results, or None (``what`` is then simulated) when it is
    unreadable, of another format, or made by other code than ``digest`` names."""
    try:
        table = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        logger.debug("%s: not usable (%s): %s simulated", path, exc, what)
        return None
    if not isinstance(table, dict) or table.get("format") != fmt:
        return None
    if table.get("code_digest") != digest:
        logger.info("%s: made by other simulation code: %s simulated", path, what)
        return None
    return table


def write_shipped_table(path: Path, table: dict) -> None:
    """What ``python -m`` of a table module writes (sorted, indented JSON)."""
    path.write_text(json.dumps(table, indent=1, sort_keys=True) + "\n")
    logger.info("wrote %s", path)


@cache
def _load() -> dict | None:
    return read_shipped_table(table_path(), FORMAT, source_digest(), "the box background is")


def box_key(box) -> list[float]:
    """The truth box as the table records it (JSON numbers, infinities as strings)."""
    values = [*box.sr_window, box.ecal_max_gev, *box.momentum_window_gev]
    return [v if abs(v) != float("inf") else str(v) for v in map(float, values)]


def lookup(period: str, box, events_per_process: int, seed: int) -> dict[str, float] | None:
    """The per-EOT values (with their ``_err``) of ``period``, or None when not tabulated for
    exactly these settings."""
    table = _load()
    if table is None:
        return None
    if table.get("events_per_process") != events_per_process or table.get("seed") != seed:
        return None
    entry = table.get("periods", {}).get(period)
    if entry is None or entry.get("box") != box_key(box):
        return None
    return dict(entry["per_eot"])


def build() -> dict:
    """The table for every period, simulated now (what ``python -m`` writes)."""
    from na64reco.conditions import PERIODS
    from na64reco.sim.validation import (
        DEFAULT_EVENTS_PER_PROCESS,
        DEFAULT_SEED,
        box_background_per_eot,
        selection_box,
    )

    periods = {}
    for period in PERIODS:
        box = selection_box(period)
        periods[period] = {
            "box": box_key(box),
            "per_eot": box_background_per_eot(
                period, box, DEFAULT_EVENTS_PER_PROCESS, DEFAULT_SEED
            ),
        }
    return {
        "format": FORMAT,
        "code_digest": source_digest(),
        "events_per_process": DEFAULT_EVENTS_PER_PROCESS,
        "seed": DEFAULT_SEED,
        "periods": periods,
    }


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    write_shipped_table(table_path(), build())
    _load.cache_clear()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
