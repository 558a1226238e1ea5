"""``na64 inspect``: validate a fileset (or one event file) and summarise what is in it."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from na64reco.eventtree import contract, open_event_file
from na64reco.fileset import load_fileset

_BITS = (
    ("physics", contract.TRIGGER_PHYSICS),
    ("beam", contract.TRIGGER_BEAM),
    ("random", contract.TRIGGER_RANDOM),
    ("calib", contract.TRIGGER_CALIBRATION),
)


def summarise_file(path: str | Path) -> dict:
    """Validated summary of one event file: runs, events per trigger type, metadata facts."""
    ef = open_event_file(path)
    arrays = ef.arrays(["run", "trigger"])
    trig = arrays["trigger"]
    meta = ef.metadata
    runs = arrays["run"]
    return {
        "path": str(path),
        "events": ef.num_entries,
        "runs": (int(runs.min()), int(runs.max())) if len(runs) else None,
        "triggers": {name: int(np.count_nonzero(trig & bit)) for name, bit in _BITS},
        "period": meta.get("period"),
        "kind": meta.get("kind"),
        "eot": meta.get("eot"),
        "simulation": ef.is_simulation,
    }


def inspect_target(target: str | Path, verify_checksums: bool = True) -> str:
    """A text table for a manifest or a single ROOT file (every file is validated on open; the
    files of a manifest also against it, unless ``verify_checksums`` is False)."""
    target = Path(target)
    if target.suffix == ".json":
        fileset = load_fileset(target)
        if verify_checksums:  # sha256, entries, run range, period, duplicate events of each
            from na64reco.run.validation import validate_inputs

            validate_inputs(fileset, sorted({f.kind for f in fileset.files}), None)
        paths = [f.path for f in fileset.files]
        title = f"fileset {fileset.name} ({target}): {len(paths)} file(s)"
    else:
        paths = [target]
        title = f"file {target}"
    rows = [summarise_file(p) for p in paths]
    head = (
        f"{'file':<48} {'kind':<10} {'period':<6} {'runs':<11} {'events':>8} "
        + " ".join(f"{name:>8}" for name, _ in _BITS)
        + f" {'EOT':>10}"
    )
    lines = [title, head]
    for r in rows:
        runs = f"{r['runs'][0]}-{r['runs'][1]}" if r["runs"] else "-"
        eot = f"{r['eot']:.3g}" if r["eot"] else "-"
        lines.append(
            f"{Path(r['path']).name[:48]:<48} {r['kind'] or '-':<10} {r['period'] or '-':<6} "
            f"{runs:<11} {r['events']:>8} "
            + " ".join(f"{r['triggers'][name]:>8}" for name, _ in _BITS)
            + f" {eot:>10}"
        )
    total_eot = sum(r["eot"] or 0 for r in rows)
    lines.append(
        f"total: {sum(r['events'] for r in rows)} events"
        + (f", {total_eot:.4g} EOT delivered" if total_eot else "")
        + " ("
        + ", ".join(f"{name} {sum(r['triggers'][name] for r in rows)}" for name, _ in _BITS)
        + ")"
    )
    return "\n".join(lines)
