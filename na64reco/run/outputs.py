"""Write the outputs of an analysis run: ROOT and JSON histograms, summary JSON, event list.

Input is the accumulated output of ``SelectionProcessor`` (``cutflow``, ``plane``, ``nminus1``,
``sideband_events``, ``files``); nothing here reads event data or changes a count.

* ``flat_histograms(output)`` splits the categorical axes into one histogram per category:
  ``plane/<period>/<stage>`` (TH2 of E_ECAL vs E_HCAL) and ``nminus1/<cut>/<period>`` (TH1),
  because hist objects with ``StrCategory`` axes cannot be written to ROOT.
* ``write_root`` writes them with uproot as TH1D/TH2D (counts are exact in doubles up to 2**53;
  uproot cannot write the ``Int64`` storage directly).
* ``write_histograms`` keeps the hist objects themselves (``{"plane": Hist, "nminus1": {cut:
  Hist}}``) in hist's own serialisation (the UHI JSON schema: axes, storage, metadata), which
  ``read_histograms`` turns back into the same objects; a data format, nothing in it is code
  (no pickle: a file someone hands you must not run anything when read).
* ``report_cutflow`` turns the per-period cutflow into ``{period: {"all": n, cut: n}}`` with the
  cuts of the signal region (``cutset.signal_box``) reported ``None`` (JSON ``null``) while
  blinded.
* ``sideband_table`` / ``write_sideband_csv``: the sideband event list sorted by run, spill,
  event (so every executor gives the same file).
* ``write_summary``: ``summary.json`` (indented, NaN refused).

Every file is written under a temporary name beside its target and renamed into place
(``os.replace``), so a run killed while writing never leaves a truncated output; ``run_analysis``
writes ``summary.json`` last, so its presence marks a complete set of outputs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import hist
import numpy as np
import uhi.io.json
import uproot
from hist import serialization

from na64reco.cutsets.config import CutSet
from na64reco.documents import atomic_path, write_json, write_text
from na64reco.errors import ConfigError

__all__ = [
    "SIDEBAND_COLUMNS",
    "flat_histograms",
    "read_histograms",
    "report_cutflow",
    "sideband_table",
    "write_histograms",
    "write_root",
    "write_sideband_csv",
    "write_summary",
]

SIDEBAND_COLUMNS = ("period", "run", "spill", "event", "ecal_e", "hcal_e")


def _to_double(h: hist.Hist) -> hist.Hist:
    """The same histogram with double storage (what ROOT's TH1D/TH2D hold)."""
    out = hist.Hist(*h.axes, storage=hist.storage.Double())
    out.view(flow=True)[...] = h.view(flow=True)
    return out


def _slice_categories(h: hist.Hist, axes: list[str]) -> dict[tuple[str, ...], hist.Hist]:
    """One histogram per combination of the named StrCategory axes (those axes removed)."""
    out: dict[tuple[str, ...], hist.Hist] = {(): h}
    for name in axes:
        nxt = {}
        for key, sub in out.items():
            for value in sub.axes[name]:
                nxt[(*key, value)] = sub[{name: value}]
        out = nxt
    return out


def sorted_categories(h: hist.Hist, name: str = "period") -> hist.Hist:
    """A copy of ``h`` with the categories of its growing axis ``name`` in sorted order.

    The order of a growing category axis is the order in which categories were first filled,
    which depends on how chunks were merged (executor, workers, resumed chunks): sorting makes
    the output identical whatever the execution. The copy also restores the variances: adding
    histograms with a growing axis clears boost-histogram's "variance known" flag, although
    every fill has unit weight, so that the variance of each Int64 count is the count.
    """
    axis = h.axes[name]
    current = list(axis)
    wanted = sorted(current)
    i = h.axes.name.index(name)
    axes = list(h.axes)
    axes[i] = hist.axis.StrCategory(wanted, name=axis.name, growth=axis.traits.growth)
    axes[i].__dict__.update(axis.__dict__)  # label and metadata as they were
    extra = {k: h.__dict__[k] for k in ("metadata", "name", "label") if k in h.__dict__}
    out = hist.Hist(*axes, storage=h.storage_type(), **extra)
    order = [current.index(c) for c in wanted]
    out.view(flow=True)[...] = np.take(h.view(flow=True), order, axis=i)  # no flow bins there
    return out


def canonical_output(output: dict) -> dict:
    """The processor output with every growing period axis in sorted order (see above)."""
    output["plane"] = sorted_categories(output["plane"])
    output["nminus1"] = {k: sorted_categories(h) for k, h in output["nminus1"].items()}
    return output


def flat_histograms(output: dict) -> dict[str, hist.Hist]:
    """``{"plane/<period>/<stage>": TH2-like Hist, "nminus1/<cut>/<period>": TH1-like Hist}``.

    Every period and stage of the processor's layout is present (empty ones too), so the set
    of keys depends only on the cut set.
    """
    flat: dict[str, hist.Hist] = {}
    for (period, stage), h in _slice_categories(output["plane"], ["period", "stage"]).items():
        flat[f"plane/{period}/{stage}"] = h
    for cut, h_cut in output["nminus1"].items():
        for (period,), h in _slice_categories(h_cut, ["period"]).items():
            flat[f"nminus1/{cut}/{period}"] = h
    return flat


def write_root(path: str | Path, histograms: dict[str, hist.Hist]) -> Path:
    """Write flat histograms (no category axes) as TH1D/TH2D, keys used as directory paths."""
    path = Path(path)
    with atomic_path(path) as tmp, uproot.recreate(tmp) as f:
        for key, h in histograms.items():
            f[key] = _to_double(h)
    return path


HISTOGRAMS_FORMAT = "na64-histograms"


def write_histograms(path: str | Path, output: dict) -> Path:
    """``histograms.json``: the hist objects (``plane`` and ``nminus1``) as produced by the
    processor, in the UHI serialisation (``hist.serialization.to_uhi``)."""
    doc = {
        "format": HISTOGRAMS_FORMAT,
        "version": 1,
        "plane": serialization.to_uhi(output["plane"]),
        "nminus1": {cut: serialization.to_uhi(h) for cut, h in output["nminus1"].items()},
    }
    text = json.dumps(doc, default=uhi.io.json.default, separators=(",", ":"))
    return write_text(path, text + "\n")


def read_histograms(path: str | Path) -> dict[str, Any]:
    """``{"plane": Hist, "nminus1": {cut: Hist}}`` from ``histograms.json``; ConfigError naming
    the file and the key for anything that is not that document."""
    path = Path(path)
    try:
        doc = json.loads(path.read_bytes().decode("utf-8"), object_hook=uhi.io.json.object_hook)
    except OSError as exc:
        raise ConfigError(path, "(file)", f"cannot be read: {exc}") from exc
    except (UnicodeDecodeError, ValueError) as exc:
        raise ConfigError(path, "(file)", f"not a histograms JSON document: {exc}") from None
    if not isinstance(doc, dict) or doc.get("format") != HISTOGRAMS_FORMAT:
        found = doc.get("format") if isinstance(doc, dict) else type(doc).__name__
        raise ConfigError(path, "format", f"must be {HISTOGRAMS_FORMAT!r}, found {found!r}")
    if doc.get("version") != 1:
        raise ConfigError(path, "version", f"unknown version {doc.get('version')!r}; known: 1")

    def load(key: str, value: Any) -> hist.Hist:
        try:
            h = serialization.from_uhi(value)
        except Exception as exc:  # a malformed histogram object: whatever from_uhi raises
            raise ConfigError(path, key, f"not a histogram: {type(exc).__name__}: {exc}") from None
        if not isinstance(h, hist.Hist):
            raise ConfigError(path, key, f"not a histogram: {type(h).__name__}")
        return h

    if not isinstance(doc.get("nminus1"), dict):
        raise ConfigError(path, "nminus1", "missing or not an object")
    return {
        "plane": load("plane", doc.get("plane")),
        "nminus1": {cut: load(f"nminus1.{cut}", h) for cut, h in doc["nminus1"].items()},
    }


def report_cutflow(cutflow: dict, cutset: CutSet, unblind: bool) -> dict[str, dict]:
    """Per period: ``{"all": n, <cut>: n, ...}`` in cut order; signal-region cuts ``None``
    while blinded."""
    hidden = set() if unblind else set(cutset.signal_box)
    out: dict[str, dict] = {}
    for period in sorted(cutflow):
        flow = cutflow[period]
        row: dict[str, int | None] = {"all": int(flow.get("all", 0))}
        for name in cutset.cut_names:
            row[name] = None if name in hidden else int(flow.get(name, 0))
        out[period] = row
    return out


def sideband_table(sideband: dict) -> list[dict[str, Any]]:
    """The sideband events as rows, sorted by run, spill, event."""
    rows: list[dict[str, Any]] = []
    for period, blocks in sideband.items():
        if not len(blocks):
            continue
        data = np.concatenate([np.asarray(b, dtype=float) for b in blocks], axis=0)
        for r in data:
            rows.append(
                {
                    "period": str(period),
                    "run": int(r[0]),
                    "spill": int(r[1]),
                    "event": int(r[2]),
                    "ecal_e": float(r[3]),
                    "hcal_e": float(r[4]),
                }
            )
    rows.sort(key=lambda row: (row["run"], row["spill"], row["event"]))
    return rows


def write_sideband_csv(path: str | Path, rows: list[dict[str, Any]]) -> Path:
    """CSV with header ``period,run,spill,event,ecal_e,hcal_e`` (energies in GeV)."""
    path = Path(path)
    lines = [",".join(SIDEBAND_COLUMNS)]
    for row in rows:
        lines.append(
            f"{row['period']},{row['run']},{row['spill']},{row['event']},"
            f"{row['ecal_e']:.6g},{row['hcal_e']:.6g}"
        )
    return write_text(path, "\n".join(lines) + "\n")


def write_summary(path: str | Path, summary) -> Path:
    """``summary.json`` (a ``RunSummary`` or its dict; indented, NaN refused)."""
    return write_json(path, summary)
