"""Skims: the events that pass the cuts up to a stage, written back in the contract format.

``na64 run ... --skim STAGE`` (``RunOptions.skim``): the selection processor lists, per input
file, the entries of the *visible* events passing every cut up to and including ``STAGE``
(``SelectionProcessor(skim_stage=...)``: the hidden-region masks that blind the histograms
decide, so while blinded no event of a protected region or of the cut set's box is ever
listed). After the event loop ``write_skims`` reads those entries back from each input file
(through its input map, every value checked as on any read), and writes them with
``EventTreeWriter`` into ``OUT/skims/``: every raw branch, the MC truth when the inputs have it,
and ``na64_metadata`` with the originating files (path, sha256, entries, events processed and
selected), the cut set (name, version, sha256), the stage, the blinding state and the exposure
fraction (events processed / entries of the inputs; ``eot`` scaled by it when the inputs state
theirs). ``OUT/skims/fileset.json`` lists the skims, so a skim is a valid input of
``na64 run`` and ``na64 fileset``, and gives the same cutflow from ``STAGE`` on.

One skim per input file (``skim_<input>.root``), or, with a target size, the inputs of one
period (and the same MC branches) merged into ``skim_<period>_<k>.root`` files of about that
size (an input's selection is never split over two files). Reading back costs one more pass
over the input files (only ``SKIM_READ_STEP`` entries in memory at a time).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np

from na64reco import __version__
from na64reco.checksums import sha256_file, sha256_json
from na64reco.cutsets.config import CutSet
from na64reco.eventtree import EventTreeWriter, open_event_file
from na64reco.fileset import Fileset, FilesetEntry, write_fileset
from na64reco.run.validation import InputFile

logger = logging.getLogger(__name__)

__all__ = ["SKIM_DIR", "SKIM_READ_STEP", "write_skims"]

SKIM_DIR = "skims"
SKIM_READ_STEP = 200_000  # entries of an input file read at once


def _open(f: InputFile):
    return open_event_file(f.path, check_data=False, input_map=f.load_input_map())


def _selected_blocks(f: InputFile, entries: np.ndarray):
    """The selected events of one input file, ``SKIM_READ_STEP`` entries at a time."""
    if not len(entries):
        return
    ef = _open(f)
    for start in range(0, f.entries, SKIM_READ_STEP):
        stop = min(start + SKIM_READ_STEP, f.entries)
        rows = entries[(entries >= start) & (entries < stop)] - start
        if not len(rows):
            continue
        block = ef.arrays(None, entry_start=start, entry_stop=stop)
        yield {
            k: (v[rows] if isinstance(v, ak.Array) else np.asarray(v)[rows])
            for k, v in block.items()
        }


def _plan(
    files: Sequence[InputFile], selected: dict[str, np.ndarray], target_bytes: float | None
) -> list[tuple[str, list[InputFile]]]:
    """(skim file name, its inputs): one per input, or inputs merged up to the target size."""
    if target_bytes is None:
        return [(f"skim_{Path(f.path).stem}.root", [f]) for f in files]
    groups: dict[tuple, list[InputFile]] = {}
    for f in files:
        mc = tuple(
            open_event_file(f.path, check_data=False, input_map=f.load_input_map()).mc_branches
        )
        groups.setdefault((f.period, mc), []).append(f)
    plan: list[tuple[str, list[InputFile]]] = []
    for (period, _), members in groups.items():
        current: list[InputFile] = []
        size = 0.0
        k = 0
        for f in members:
            per_event = Path(f.path).stat().st_size / max(f.entries, 1)
            estimate = per_event * len(selected.get(f.path, ()))
            if current and size + estimate > target_bytes:
                plan.append((f"skim_{period}_{k:03d}.root", current))
                current, size, k = [], 0.0, k + 1
            current.append(f)
            size += estimate
        if current:
            plan.append((f"skim_{period}_{k:03d}.root", current))
    return plan


def _metadata(
    inputs: list[InputFile],
    selected: dict[str, np.ndarray],
    processed: dict[str, int],
    eot: dict[str, float | None],
    stage: str,
    cutset: CutSet,
    blinding: dict[str, Any],
) -> dict[str, Any]:
    first = _open(inputs[0])
    entries = sum(f.entries for f in inputs)
    done = sum(processed.get(f.path, 0) for f in inputs)
    fraction = done / entries if entries else 1.0
    records = [
        {
            "path": f.path,
            "sha256": f.sha256,
            "entries": f.entries,
            "processed": processed.get(f.path, 0),
            "selected": len(selected.get(f.path, ())),
            "input_map": f.input_map_sha256 or None,
        }
        for f in inputs
    ]
    meta: dict[str, Any] = {
        "period": inputs[0].period,
        "kind": "physics",
        "source": f"skim at stage {stage} of {cutset.name} v{cutset.version} (na64 run, "
        f"na64reco {__version__})",
        "skim": {
            "stage": stage,
            "cutset": {
                "name": cutset.name,
                "version": cutset.version,
                "source": cutset.source,
                "sha256": sha256_json(cutset.as_dict()),
            },
            "blinded": bool(blinding["blinded"]),
            "regions_hidden": list(blinding["regions_hidden"]),
            "signal_box_hidden": list(blinding["signal_box_hidden"]),
            "inputs": records,
            "exposure_fraction": fraction,
        },
    }
    for key in ("beam_energy_gev", "simulation"):
        if key in first.metadata:
            meta[key] = first.metadata[key]
    if "true_calibration" in first.metadata:
        same = all(
            _open(f).metadata.get("true_calibration") == first.metadata["true_calibration"]
            for f in inputs[1:]
        )
        if same:
            meta["true_calibration"] = first.metadata["true_calibration"]
    stated = [eot.get(f.path) for f in inputs]
    if stated and all(v is not None for v in stated):
        meta["eot"] = float(
            sum(
                v * processed.get(f.path, 0) / max(f.entries, 1)
                for v, f in zip(stated, inputs, strict=True)
            )
        )
    return meta


def write_skims(
    folder: Path,
    files: Sequence[InputFile],
    selected: dict[str, list[np.ndarray]],
    *,
    processed: dict[str, int],
    eot: dict[str, float | None],
    stage: str,
    cutset: CutSet,
    blinding: dict[str, Any],
    target_mb: float | None = None,
) -> dict[str, Any]:
    """Write the skims into ``folder/skims`` (module docstring); returns their record."""
    out = folder / SKIM_DIR
    out.mkdir(parents=True, exist_ok=True)
    chosen = {
        path: np.unique(np.concatenate(parts)) if parts else np.zeros(0, np.int64)
        for path, parts in selected.items()
    }
    target = None if target_mb is None else target_mb * 1e6
    records = []
    entries = []
    for name, inputs in _plan(files, chosen, target):
        path = out / name
        meta = _metadata(inputs, chosen, processed, eot, stage, cutset, blinding)
        runs: set[int] = set()
        with EventTreeWriter(path, meta) as writer:
            for f in inputs:
                for block in _selected_blocks(f, chosen.get(f.path, np.zeros(0, np.int64))):
                    writer.extend(block)
                    runs.update(int(r) for r in np.unique(block["run"]))
        n = writer.num_entries  # after close: the writer buffers a cluster
        runs = runs or {r for f in inputs for r in f.runs}
        sha = sha256_file(path)
        entries.append(
            FilesetEntry(
                path=str(path.resolve()),
                kind="physics",
                period=inputs[0].period,
                run_min=min(runs),
                run_max=max(runs),
                events=n,
                eot=meta.get("eot"),
                sha256=sha,
            )
        )
        records.append(
            {
                "path": f"{SKIM_DIR}/{name}",
                "events": n,
                "period": inputs[0].period,
                "inputs": [f.path for f in inputs],
                "exposure_fraction": meta["skim"]["exposure_fraction"],
                "sha256": sha,
            }
        )
        logger.info("skim %s: %d events from %d file(s)", path, n, len(inputs))
    manifest = out / "fileset.json"
    write_fileset(
        manifest,
        Fileset(
            name=f"skim-{cutset.name}-{stage}",
            files=entries,
            description=f"events passing {cutset.name} up to {stage}, written by na64 run --skim",
        ),
    )
    return {"stage": stage, "manifest": f"{SKIM_DIR}/fileset.json", "files": records}
