"""The run outputs of the cutflow and of the systematic variations.

* ``cutflow_histograms``: the cutflow of each period as a TH1 with one labelled bin per stage
  (``cutflow/<period>``); the stages reported ``null`` while blinded are left out (an empty bin
  would read as zero events);
* ``variation_histograms``: the E_ECAL sideband of each period, nominal and per variation, as
  ``ecal_sideband/<period>/nominal`` and ``ecal_sideband/<period>/<name>__up`` / ``__down`` (the
  naming cabinetry and combine users read);
* ``variations_document``: ``variations.json``, per variation the cutflow (blinded as the
  nominal one) and the sideband events' (E_ECAL, E_HCAL), read by the background stage.
"""

from __future__ import annotations

from pathlib import Path

import hist
import numpy as np

from na64reco.cutsets.config import CutSet
from na64reco.documents import read_raw, write_json
from na64reco.errors import ConfigError
from na64reco.run.outputs import report_cutflow, sorted_categories
from na64reco.systematics.variations import NOMINAL

VARIATIONS_FORMAT = "na64-run-variations"
VARIATIONS_NAME = "variations.json"

__all__ = [
    "VARIATIONS_FORMAT",
    "VARIATIONS_NAME",
    "cutflow_histograms",
    "read_variations",
    "variation_histograms",
    "variations_document",
    "write_variations",
]


def cutflow_histograms(cutflow: dict[str, dict[str, int | None]]) -> dict[str, hist.Hist]:
    """``{"cutflow/<period>": Hist}`` from the reported cutflow (``report_cutflow``)."""
    out = {}
    for period, flow in sorted(cutflow.items()):
        stages = [s for s, n in flow.items() if n is not None]
        h = hist.Hist(
            hist.axis.StrCategory(stages, name="stage", label="after cut"),
            storage=hist.storage.Double(),
        )
        h[...] = np.array([flow[s] for s in stages], dtype=float)
        out[f"cutflow/{period}"] = h
    return out


def variation_histograms(variations: dict) -> dict[str, hist.Hist]:
    """The E_ECAL sideband histograms, nominal and ``<name>__up``/``__down``, per period."""
    h = sorted_categories(variations["ecal_sideband"])
    out = {}
    for period in h.axes["period"]:
        for syst in h.axes["syst"]:
            out[f"ecal_sideband/{period}/{syst}"] = h[{"syst": syst, "period": period}]
    return out


def variations_document(variations: dict, cutset: CutSet, unblind: bool, systematics) -> dict:
    """``variations.json``: the declared variations and, per variation, the cutflow and the
    sideband (E_ECAL, E_HCAL) of each period."""
    flows = {
        label: report_cutflow(flow, cutset, unblind)
        for label, flow in variations["cutflow"].items()
    }
    sideband = {}
    for label, per_period in variations["sideband"].items():
        sideband[label] = {
            period: _sorted_rows(np.concatenate([np.asarray(b, float) for b in blocks]))
            for period, blocks in sorted(per_period.items())
            if len(blocks)
        }
    return {
        "format": VARIATIONS_FORMAT,
        "version": 1,
        "systematics": systematics.model_dump(mode="json"),
        "nominal": NOMINAL,
        "cutflow": flows,
        "sideband": sideband,
    }


def _sorted_rows(rows: np.ndarray) -> list[list[float]]:
    """Rows in (E_ECAL, E_HCAL) order: the same whatever order the chunks were merged in."""
    rows = rows.round(6)
    return rows[np.lexsort((rows[:, 1], rows[:, 0]))].tolist()


def read_variations(path: str | Path) -> dict | None:
    """``variations.json`` of a run folder (None when the run declared none)."""
    path = Path(path)
    if not path.exists():
        return None
    doc = read_raw(path)
    if doc.get("format") != VARIATIONS_FORMAT or doc.get("version") != 1:
        raise ConfigError(path, "format", f"not a {VARIATIONS_FORMAT} version 1 document")
    for key in ("cutflow", "sideband"):
        if not isinstance(doc.get(key), dict):
            raise ConfigError(path, key, "missing or not an object")
    return doc


def write_variations(path: str | Path, doc: dict) -> Path:
    return write_json(path, doc)
