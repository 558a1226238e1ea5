"""Calibration files: correctionlib JSON (schema v2) <-> :class:`CalibrationDB`.

Layout of a file (one file may hold several calibration sets, e.g. one per period):

* One ``Correction`` per (detector, quantity): ``<det>_<quantity>`` for det in ecal, hcal, srd,
  veto, counter and quantity in pedestal [ADC], gain [GeV/ADC], noise [ADC], t0 [ns], status
  (0 good, 1 dead, 2 noisy, 3 absent); inputs ``run`` (int) and ``channel`` (int, the flat
  row-major index of the event-tree array, e.g. ECAL ``section*36 + x*6 + y``).
  ``mm_t0`` (inputs run, station), ``straw_window`` (run, station, edge: 0 start, 1 end, ns),
  ``counter_threshold`` (run, channel: ADC above pedestal), and ``ecal_shower_profile`` (run,
  quantity "mean"/"sigma", flat index into the (n_bins, n_bins, 3, 3) arrays) when a set has one.
* The outer node of every correction is a ``Binning`` on ``run`` whose bins are the sets' run
  ranges ``[run_min, run_max + 1)``, ``flow="error"``; a gap between sets is a bin holding an
  empty category, so any run outside every range fails to evaluate. Inner nodes are
  ``Category`` on the channel with no default.
* The ``CorrectionSet.description`` is a JSON object: ``{"format": "na64-calibration",
  "format_version": 1, "sets": [{name, version, description, period, run_min, run_max,
  shower_profile_edges_cm, provenance}]}``. Every correction's ``version`` is the file version.

``load_calibration`` validates with correctionlib's pydantic models and then checks that every
expected correction is there with the right inputs and channel count; the constants are read
back by evaluating the corrections with ``correctionlib``; then every constant must be finite,
every status one of 0-3, and every channel in use (good or noisy) must have gain > 0 and
noise > 0. Every problem is a ``ConfigError(path, item, problem)``.
"""

from __future__ import annotations

import contextlib
import itertools
import json
from pathlib import Path

import correctionlib
import correctionlib.schemav2 as cs
import numpy as np
from pydantic import ValidationError

from na64reco.calibration.constants import (
    CALORIMETER_DETECTORS,
    CalibrationDB,
    CalibrationSet,
    DetectorConstants,
    ShowerProfile,
)
from na64reco.documents import read_raw, to_jsonable
from na64reco.errors import ConfigError
from na64reco.eventtree import contract

FORMAT = "na64-calibration"
FORMAT_VERSION = 1
QUANTITIES = {
    "pedestal": "pedestal [ADC]",
    "gain": "gain [GeV per ADC count]: energy = (amp - pedestal) * gain",
    "noise": "noise: RMS of random triggers [ADC]",
    "t0": "raw time of an in-time pulse [ns]",
    "status": "channel status: 0 good, 1 dead, 2 noisy, 3 absent",
}
#: the detectors whose gains carry a ``syst`` axis (``<det>_gain_syst``) and its categories
SYST_DETECTORS = ("ecal", "hcal", "srd", "veto")
SYST_AXIS = ("nominal", "up", "down")
_SET_KEYS = ("name", "version", "description", "period", "run_min", "run_max", "provenance")

__all__ = ["FORMAT", "FORMAT_VERSION", "load_calibration", "to_correctionset", "write_calibration"]


def _category(input_name: str, values: np.ndarray) -> cs.Category:
    return cs.Category(
        nodetype="category",
        input=input_name,
        content=[{"key": i, "value": float(v)} for i, v in enumerate(np.ravel(values))],
    )


def _run_binning(sets: list[CalibrationSet], inner, gap_input: str) -> cs.Binning:
    """Binning on run over the sets' ranges; ``inner(cset)`` -> content node or None (an empty
    category on ``gap_input``: evaluating it is an error)."""
    edges: list[int] = []
    content = []
    for c in sets:
        if edges and c.run_min > edges[-1]:
            content.append(cs.Category(nodetype="category", input=gap_input, content=[]))
            edges.append(c.run_min)
        elif not edges:
            edges.append(c.run_min)
        node = inner(c)
        content.append(
            node
            if node is not None
            else cs.Category(nodetype="category", input=gap_input, content=[])
        )
        edges.append(c.run_max + 1)
    return cs.Binning(nodetype="binning", input="run", edges=edges, content=content, flow="error")


def _correction(name, description, inputs, output, sets, inner, version) -> cs.Correction:
    return cs.Correction(
        name=name,
        description=description,
        version=version,
        inputs=[cs.Variable(name=n, type=t, description=d) for n, t, d in inputs],
        output=cs.Variable(name=output[0], type="real", description=output[1]),
        data=_run_binning(sets, inner, inputs[1][0]),
    )


_RUN = ("run", "int", "run number (selects the calibration set)")


def to_correctionset(sets: list[CalibrationSet], version: int | None = None) -> cs.CorrectionSet:
    """The correctionlib model of ``sets`` (run ranges must not overlap)."""
    sets = sorted(sets, key=lambda c: c.run_min)
    for a, b in itertools.pairwise(sets):
        if b.run_min <= a.run_max:
            raise ValueError(
                f"run ranges overlap: {a.name} {a.run_min}-{a.run_max}, "
                f"{b.name} {b.run_min}-{b.run_max}"
            )
    version = int(version if version is not None else max(c.version for c in sets))
    corrections = []
    for det in CALORIMETER_DETECTORS:
        shape = contract.DETECTOR_SHAPES[det]
        for q, qdesc in QUANTITIES.items():
            corrections.append(
                _correction(
                    f"{det}_{q}",
                    f"{det.upper()} {qdesc}; channel = flat index of the {shape} array",
                    [_RUN, ("channel", "int", f"flat row-major index into {shape}")],
                    (q, qdesc),
                    sets,
                    lambda c, det=det, q=q: _category(
                        "channel", getattr(c.detector(det), q).astype(float)
                    ),
                    version,
                )
            )
    corrections.append(
        _correction(
            "mm_t0",
            "Micromegas: raw time of in-time hits per station [ns]",
            [_RUN, ("station", "int", "MM station (MM1 = 0)")],
            ("t0", "ns"),
            sets,
            lambda c: _category("station", c.mm_t0),
            version,
        )
    )
    corrections.append(
        _correction(
            "straw_window",
            "straw tubes: raw-time window of in-time hits per station [ns]",
            [
                _RUN,
                ("station", "int", "straw station (ST1 = 0)"),
                ("edge", "int", "0 start, 1 end"),
            ],
            ("time", "ns"),
            sets,
            lambda c: cs.Category(
                nodetype="category",
                input="station",
                content=[
                    {"key": i, "value": _category("edge", w)}
                    for i, w in enumerate(c.straw_window_ns)
                ],
            ),
            version,
        )
    )
    corrections.append(
        _correction(
            "counter_threshold",
            "beam counters S0, S1, S2, V1: discriminator threshold above pedestal [ADC]",
            [_RUN, ("channel", "int", "counter (S0, S1, S2, V1)")],
            ("threshold", "ADC"),
            sets,
            lambda c: _category("channel", c.counter_threshold_adc),
            version,
        )
    )
    if any(c.shower_profile is not None for c in sets):

        def profile(c):
            if c.shower_profile is None:
                return None
            return cs.Category(
                nodetype="category",
                input="quantity",
                content=[
                    {"key": "mean", "value": _category("index", c.shower_profile.mean)},
                    {"key": "sigma", "value": _category("index", c.shower_profile.sigma)},
                ],
            )

        corrections.append(
            _correction(
                "ecal_shower_profile",
                "reference EM-shower profile: energy fraction of the 3x3 cells (mean, sigma)",
                [
                    _RUN,
                    ("quantity", "string", "mean or sigma"),
                    ("index", "int", "flat index into (n_bins, n_bins, 3, 3)"),
                ],
                ("fraction", "fraction of the 3x3 sum"),
                sets,
                profile,
                version,
            )
        )
    corrections.extend(_gain_syst_corrections(sets, version))
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "sets": [
            {
                "name": c.name,
                "version": c.version,
                "description": c.description,
                "period": c.period,
                "run_min": c.run_min,
                "run_max": c.run_max,
                "shower_profile_edges_cm": (
                    None
                    if c.shower_profile is None
                    else np.asarray(c.shower_profile.offset_edges_cm, dtype=float).tolist()
                ),
                "provenance": c.provenance,
            }
            for c in sets
        ],
    }
    return cs.CorrectionSet(
        schema_version=2,
        description=json.dumps(meta, sort_keys=True, default=to_jsonable),
        corrections=corrections,
    )


def _gain_syst_corrections(sets: list[CalibrationSet], version: int) -> list[cs.Correction]:
    """``<det>_gain_syst`` (inputs run, syst, channel): the gain factor of ``syst`` nominal (1),
    up or down, from the calibration-run uncertainties; only when a set carries them (a set
    without them has an empty node: evaluating it is an error, never a silent factor 1)."""
    if not any(c.gain_syst for c in sets):
        return []
    out = []
    for det in SYST_DETECTORS:
        shape = contract.DETECTOR_SHAPES[det]

        def node(c, det=det, shape=shape):
            if not c.gain_syst or det not in c.gain_syst:
                return None
            factors = {"nominal": np.ones(shape), **c.gain_syst[det]}
            return cs.Category(
                nodetype="category",
                input="syst",
                content=[{"key": k, "value": _category("channel", factors[k])} for k in SYST_AXIS],
            )

        out.append(
            _correction(
                f"{det}_gain_syst",
                f"{det.upper()} gain factor of the calibration-run uncertainty (syst: nominal "
                "1, up, down); channel as for the gains",
                [
                    _RUN,
                    ("syst", "string", "nominal, up or down"),
                    ("channel", "int", f"flat row-major index into {shape}"),
                ],
                ("factor", "multiplies the gain"),
                sets,
                node,
                version,
            )
        )
    return out


def write_calibration(
    path: str | Path, sets: list[CalibrationSet], version: int | None = None
) -> Path:
    """Write ``sets`` as one correctionlib JSON file and check that it loads back."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    model = to_correctionset(list(sets), version)
    path.write_text(model.model_dump_json(exclude_unset=True, indent=1) + "\n")
    load_calibration(path)
    return path


# --- reading ------------------------------------------------------------------------------------


def _loc(raw: dict, loc: tuple) -> str:
    parts = [str(p) for p in loc]
    if len(loc) >= 2 and loc[0] == "corrections" and isinstance(loc[1], int):
        with contextlib.suppress(KeyError, IndexError, TypeError):
            parts[1] = f"{loc[1]}({raw['corrections'][loc[1]]['name']})"
    return ".".join(parts) or "(top level)"


def _expected_corrections(has_profile: bool) -> dict[str, list[str]]:
    out = {f"{d}_{q}": ["run", "channel"] for d in CALORIMETER_DETECTORS for q in QUANTITIES}
    out["mm_t0"] = ["run", "station"]
    out["straw_window"] = ["run", "station", "edge"]
    out["counter_threshold"] = ["run", "channel"]
    if has_profile:
        out["ecal_shower_profile"] = ["run", "quantity", "index"]
    return out


def _channel_count(node, run_bin: int) -> int | None:
    """Number of keys of the category in run bin ``run_bin`` (None if not a category)."""
    inner = node.content[run_bin]
    if not isinstance(inner, cs.Category):
        return None
    return len(inner.content)


def load_calibration(path: str | Path) -> CalibrationDB:
    """Read and validate a calibration file; ``.for_run(run)`` then picks the constants."""
    path = Path(path)
    raw = read_raw(path)
    if raw.get("schema_version") != 2:
        raise ConfigError(
            path,
            "schema_version",
            f"must be 2 (correctionlib), found {raw.get('schema_version')!r}",
        )
    try:
        model = cs.CorrectionSet.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise ConfigError(path, _loc(raw, tuple(err["loc"])), err["msg"]) from exc
    try:
        meta = json.loads(model.description or "")
    except ValueError as exc:
        raise ConfigError(path, "description", f"not the JSON metadata object: {exc}") from exc
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ConfigError(path, "description.format", f"must be {FORMAT!r}")
    if meta.get("format_version") != FORMAT_VERSION:
        raise ConfigError(
            path,
            "description.format_version",
            f"unsupported {meta.get('format_version')!r}; known: {FORMAT_VERSION}",
        )
    set_meta = meta.get("sets")
    if not isinstance(set_meta, list) or not set_meta:
        raise ConfigError(path, "description.sets", "must be a non-empty list")
    for i, s in enumerate(set_meta):
        for key in _SET_KEYS:
            if not isinstance(s, dict) or key not in s:
                raise ConfigError(path, f"description.sets.{i}.{key}", "missing")
        for key in ("version", "run_min", "run_max"):
            if not isinstance(s[key], int):
                raise ConfigError(path, f"description.sets.{i}.{key}", "must be an integer")
        if s["run_max"] < s["run_min"]:
            raise ConfigError(path, f"description.sets.{i}.run_max", "is below run_min")
    has_profile = any(s.get("shower_profile_edges_cm") for s in set_meta)
    by_name = {c.name: c for c in model.corrections}
    for name, inputs in _expected_corrections(has_profile).items():
        if name not in by_name:
            raise ConfigError(path, f"corrections.{name}", "missing")
        got = [v.name for v in by_name[name].inputs]
        if got != inputs:
            raise ConfigError(path, f"corrections.{name}.inputs", f"must be {inputs}, found {got}")
        data = by_name[name].data
        if not isinstance(data, cs.Binning) or data.input != "run" or data.flow != "error":
            raise ConfigError(
                path, f"corrections.{name}.data", "must be a Binning on 'run' with flow 'error'"
            )
        for i, s in enumerate(set_meta):
            edges = list(data.edges)
            if s["run_min"] not in edges or s["run_max"] + 1 not in edges:
                raise ConfigError(
                    path,
                    f"corrections.{name}.data.edges",
                    f"no bin for set {s['name']} runs {s['run_min']}-{s['run_max']}",
                )
            b = edges.index(s["run_min"])
            if edges[b + 1] != s["run_max"] + 1:
                raise ConfigError(
                    path,
                    f"corrections.{name}.data.edges",
                    f"bin of set {i} ({s['name']}) is not {s['run_min']}-{s['run_max']}",
                )
            det, _, q = name.partition("_")
            if det in contract.DETECTOR_SHAPES and q in QUANTITIES:
                n = _channel_count(data, b)
                expected = int(np.prod(contract.DETECTOR_SHAPES[det]))
                if n != expected:
                    raise ConfigError(
                        path,
                        f"corrections.{name}.data.content.{b}",
                        f"set {s['name']}: {n} channels, expected {expected}",
                    )
    try:
        evaluator = correctionlib.CorrectionSet.from_string(path.read_text())
    except Exception as exc:  # correctionlib's C++ parser: RuntimeError or ValueError
        raise ConfigError(path, "(correctionlib)", f"not loadable: {exc}") from exc
    sets = []
    for i, s in enumerate(set_meta):
        sets.append(_read_set(path, evaluator, s, i))
    return CalibrationDB(sets=tuple(sets), source=str(path))


def _evaluate(path, evaluator, name: str, item: str, *args) -> np.ndarray:
    n = max(np.size(a) for a in args)
    full = [np.broadcast_to(np.asarray(a), (n,)) if np.ndim(a) else a for a in args]
    full = [np.full(n, a) if np.ndim(a) == 0 and not isinstance(a, str) else a for a in full]
    try:
        return np.asarray(evaluator[name].evaluate(*full), dtype=float)
    except Exception as exc:
        raise ConfigError(path, f"corrections.{name}", f"{item}: {exc}") from exc


def _check_finite(path: Path, name: str, item: str, values: np.ndarray) -> None:
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        raise ConfigError(
            path,
            f"corrections.{name}",
            f"{item}: {bad.size} non-finite value(s) (first at channel {bad[0]}: "
            f"{values.flat[bad[0]]})",
        )


def _check_channels(path: Path, det: str, item: str, vals: dict[str, np.ndarray]) -> None:
    """Finite constants, a known status, gain and noise > 0 for the channels in use."""
    for q, values in vals.items():
        _check_finite(path, f"{det}_{q}", item, values)
    status = vals["status"].ravel()
    bad = np.flatnonzero(~np.isin(status, (0, 1, 2, 3)))
    if bad.size:
        raise ConfigError(
            path,
            f"corrections.{det}_status",
            f"{item}: status {status[bad[0]]:g} at channel {bad[0]}; known: 0 good, 1 dead, "
            "2 noisy, 3 absent",
        )
    in_use = (status == 0) | (status == 2)
    for q in ("gain", "noise"):
        values = vals[q].ravel()
        bad = np.flatnonzero(in_use & (values <= 0))
        if bad.size:
            raise ConfigError(
                path,
                f"corrections.{det}_{q}",
                f"{item}: {q} {values[bad[0]]:g} <= 0 at channel {bad[0]} "
                f"(status {status[bad[0]]:g}: in use)",
            )


def _read_set(path: Path, ev, s: dict, i: int) -> CalibrationSet:
    from na64reco.conditions import get_period

    run = int(s["run_min"])
    item = f"set {s['name']}"
    dets = {}
    for det in CALORIMETER_DETECTORS:
        shape = contract.DETECTOR_SHAPES[det]
        ch = np.arange(int(np.prod(shape)))
        runs = np.full(len(ch), run)
        vals = {
            q: _evaluate(path, ev, f"{det}_{q}", item, runs, ch).reshape(shape) for q in QUANTITIES
        }
        _check_channels(path, det, item, vals)
        vals["status"] = vals["status"].astype(np.int8)
        dets[det] = DetectorConstants(**vals)
    try:
        geom = get_period(s["period"]).geometry
    except Exception as exc:
        raise ConfigError(path, f"description.sets.{i}.period", str(exc)) from exc
    n_mm, n_st = len(geom.mm_stations), len(geom.straw_stations)
    mm_t0 = _evaluate(path, ev, "mm_t0", item, np.full(n_mm, run), np.arange(n_mm))
    st = np.repeat(np.arange(n_st), 2)
    edge = np.tile([0, 1], n_st)
    window = _evaluate(path, ev, "straw_window", item, np.full(2 * n_st, run), st, edge)
    thr = _evaluate(path, ev, "counter_threshold", item, np.full(4, run), np.arange(4))
    for name, values in (("mm_t0", mm_t0), ("straw_window", window), ("counter_threshold", thr)):
        _check_finite(path, name, item, values)
    profile = None
    edges = s.get("shower_profile_edges_cm")
    if edges:
        nb = len(edges) - 1
        idx = np.arange(nb * nb * 9)
        runs = np.full(len(idx), run)
        arrs = {}
        for q in ("mean", "sigma"):
            try:
                arrs[q] = np.asarray(
                    ev["ecal_shower_profile"].evaluate(runs, q, idx), float
                ).reshape(nb, nb, 3, 3)
            except Exception as exc:
                raise ConfigError(
                    path, "corrections.ecal_shower_profile", f"{item}: {exc}"
                ) from exc
        for q, values in arrs.items():
            _check_finite(path, "ecal_shower_profile", f"{item} {q}", values)
        profile = ShowerProfile(np.asarray(edges, dtype=float), arrs["mean"], arrs["sigma"])
    gain_syst = _read_gain_syst(path, ev, run, item)
    return CalibrationSet(
        gain_syst=gain_syst,
        name=s["name"],
        version=int(s["version"]),
        description=str(s["description"]),
        period=str(s["period"]),
        run_min=int(s["run_min"]),
        run_max=int(s["run_max"]),
        mm_t0=mm_t0,
        straw_window_ns=window.reshape(n_st, 2),
        counter_threshold_adc=thr,
        shower_profile=profile,
        provenance=dict(s["provenance"]),
        **dets,
    )


def _read_gain_syst(path: Path, ev, run: int, item: str) -> dict | None:
    """The ``<det>_gain_syst`` factors of one set, or None when the file has none; a factor
    that is not finite and > 0 is an error naming the correction."""
    names = set(ev.keys())
    if not all(f"{det}_gain_syst" in names for det in SYST_DETECTORS):
        return None
    out = {}
    for det in SYST_DETECTORS:
        name = f"{det}_gain_syst"
        inputs = [v.name for v in ev[name].inputs]
        if inputs != ["run", "syst", "channel"]:
            raise ConfigError(
                path, f"corrections.{name}.inputs", f"must be ['run', 'syst', 'channel'], {inputs}"
            )
        shape = contract.DETECTOR_SHAPES[det]
        ch = np.arange(int(np.prod(shape)))
        try:
            factors = {
                k: np.asarray(ev[name].evaluate(np.full(len(ch), run), k, ch), float)
                for k in ("up", "down")
            }
        except Exception:  # this set has no uncertainties (empty node)
            return None
        for k, values in factors.items():
            if not np.all(np.isfinite(values) & (values > 0)):
                raise ConfigError(path, f"corrections.{name}", f"{item} {k}: factors must be > 0")
        out[det] = {k: v.reshape(shape) for k, v in factors.items()}
    return out
