"""Blinding of ``na64 analyze``: results.json and report.html (with the PNGs it embeds) show
nothing of the signal box until ``--unblind``, which shows the box count and records the act.

The sample is that of ``test_blinding``: the 2016 physics run plus the A' (20 MeV) events, and
its *twin* where the box candidates have lost their physics-trigger bit. The manifest holds
what ``na64 analyze`` needs and nothing more: that physics file (EOT from its beam triggers)
and the A' 20 MeV signal sample (efficiency, hence limits: one mass per model, no phi limit);
the constants are given (``--calib``), so the calibration runs are not needed. The two
manifests have the same name and file names, in different folders.

While blinded the two analyses must agree on everything but what differs between any two
runs (see ``VOLATILE``). This also covers the dimuon and phi selections, which used to show
the invisible box in their early stages (trigger ... no_extra_charged: the candidates were
counted in their cutflows and N-1 plots); every run now hides every protected region.
"""

from __future__ import annotations

import getpass
import json
import logging
import re
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from _reliability import MANIFEST, write_manifest
from click.testing import CliRunner
from test_blinding import SIGNAL_FILE, _injected_batch, _select

from na64reco.checksums import sha256_file
from na64reco.cli import main
from na64reco.eventtree import write_events
from na64reco.eventtree.contract import TRIGGER_PHYSICS
from na64reco.fileset import load_fileset
from na64reco.shipped import calibration_path

pytestmark = pytest.mark.slow

# What differs between two analyses of the same events, and why (path in results.json; "*":
# every key or item). Nothing else is dropped.
VOLATILE = (
    ("wall_seconds",),  # wall time of the chain
    ("stages", "*", "seconds"),  # wall time of each stage
    ("limits", "*", "seconds"),  # wall time of each limit scan
    ("limits", "*", "provenance", "created"),  # the limits' own provenance: time, ...
    ("limits", "*", "provenance", "inputs", "path"),  # ... the limit inputs' folder and so
    ("limits", "*", "provenance", "inputs", "sha256"),  # their checksum (they hold folders),
    ("limits", "*", "provenance", "inputs", "provenance", "created"),  # their time and
    ("limits", "*", "provenance", "inputs", "provenance", "run_outputs"),  # the run folders
    ("stages", "*", "folder"),  # the output folder of each run...
    ("runs", "*", "folder"),
    ("blinding", "ledger", "path"),  # the unblinding ledger beside the outputs, and
    ("runs", "*", "blinding", "ledger", "path"),  # as each run recorded it
    ("background", "*", "sideband", "plot"),
    ("provenance", "calibration", "file"),  # ... (the constants are copied into it)
    ("fileset", "path"),  # the manifest's folder
    ("provenance", "created"),  # the time of the run
    ("provenance", "inputs", "*", "path"),  # the physics file's folder
    # the physics files of the sample and its twin differ (trigger bits): so do their sha256
    ("provenance", "inputs", "*", "sha256"),
)
ISO_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?([+-]\d\d:\d\d|Z)")


def _analyze(manifest: Path, out: Path, *extra: str) -> None:
    args = ["-q", "analyze", str(manifest), "--out", str(out)]
    args += ["--calib", str(calibration_path()), *extra]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output


@pytest.fixture(scope="module")
def analyzed(tmp_path_factory) -> dict:
    """The blinded analyses of the sample and its twin: their results, report and PNGs."""
    tmp = tmp_path_factory.mktemp("blinding-report")
    batch, metadata = _injected_batch()
    sel = _select(batch)
    twin = dict(batch)
    twin["trigger"] = batch["trigger"].copy()
    twin["trigger"][sel["selected"]] &= ~np.asarray(TRIGGER_PHYSICS, dtype=batch["trigger"].dtype)
    shipped = load_fileset(MANIFEST).files
    physics = next(e for e in shipped if e.kind == "physics" and e.period == "2016")
    signal = next(e for e in shipped if Path(e.path).name == SIGNAL_FILE.name)
    runs = {}
    for name, b in (("sample", batch), ("twin", twin)):
        root = tmp / name
        (root / "data").mkdir(parents=True)
        path = write_events(root / "data" / Path(physics.path).name, b, metadata)
        update = {"path": str(path), "sha256": sha256_file(path), "events": len(b["run"])}
        manifest = write_manifest(root / "data", [physics.model_copy(update=update), signal], "m")
        _analyze(manifest, root / "out")
        out = root / "out"
        runs[name] = {
            "root": root,
            "manifest": manifest,
            "out": out,
            "sha256": update["sha256"],
            "results": json.loads((out / "results.json").read_text()),
            "html": (out / "report.html").read_text(),
            "pngs": {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*.png")},
        }
    return {"sel": sel, "twin_sel": _select(twin), "runs": runs}


def _drop(doc, path: tuple[str, ...]) -> int:
    """Remove ``path`` from ``doc`` in place; returns how many values it removed."""
    key, rest = path[0], path[1:]
    if key == "*":
        children = list(doc.values()) if isinstance(doc, dict) else list(doc)
    elif isinstance(doc, dict) and key in doc:
        if not rest:
            del doc[key]
            return 1
        children = [doc[key]]
    else:
        return 0
    if key == "*" and not rest:
        raise ValueError("a wildcard cannot end a path")
    return sum(_drop(child, rest) for child in children)


def _normalised(results: dict) -> dict:
    doc = json.loads(json.dumps(results))
    for path in VOLATILE:
        assert _drop(doc, path) > 0, path  # each entry matters: no stale normaliser
    return doc


def _normal_html(run: dict) -> str:
    """The report with the VOLATILE values in it replaced by placeholders."""
    text = run["html"].replace(str(run["root"]), "<RUN>").replace(run["sha256"], "<SHA256>")
    subs = (
        (ISO_TIME, "<TIME>"),  # provenance.created
        (re.compile(r"this analysis took [0-9.]+ s"), "this analysis took <S> s"),
        (re.compile(r"(<td>(?:yes|no)</td><td>)[0-9.e+-]+(</td>)"), r"\1<S>\2"),  # stage times
    )
    for pattern, repl in subs:
        text, n = pattern.subn(repl, text)
        assert n > 0, pattern.pattern
    return text


def test_the_sample_has_candidates_and_the_twin_none(analyzed):
    assert analyzed["sel"]["selected"].sum() > 10
    assert analyzed["twin_sel"]["selected"].sum() == 0
    np.testing.assert_array_equal(analyzed["sel"]["region"], analyzed["twin_sel"]["region"])


def test_blinded_results_do_not_depend_on_the_box_content(analyzed):
    a, b = (analyzed["runs"][k]["results"] for k in ("sample", "twin"))
    assert a["blinding"]["blinded"] is True
    assert a["blinding"]["observed"] is None
    assert a["runs"]["invisible"]["cutflow"]["2016"]["box"] is None
    assert a["runs"]["invisible"]["cutflow"]["2016"]["hcal_zero"] is None
    assert all(lim["coupling"]["observed"] is None for lim in a["limits"].values())
    assert a["limits"]  # the limits were computed (expected only)
    assert _normalised(a) == _normalised(b)
    # the only inputs that differ are the physics files
    ins = [{i["path"]: i["sha256"] for i in r["provenance"]["inputs"]} for r in (a, b)]
    differ = [p for p, s in ins[0].items() if s not in ins[1].values()]
    assert [Path(p).name for p in differ] == ["na64sim_2016_physics_run01800.root"]
    # every selection hides every protected region, and says so
    for run in ("invisible", "dimuon", "phi"):
        assert a["runs"][run]["blinding"]["regions_hidden"] == ["invisible", "phi"], run
    assert a["blinding"]["ledger"]["entries"] == []


def test_blinded_report_does_not_depend_on_the_box_content(analyzed):
    """report.html identical but for the VOLATILE values; so are the PNGs it embeds, byte for
    byte: matplotlib's PNGs carry no time (no tIME chunk, no creation-time text)."""
    a, b = analyzed["runs"]["sample"], analyzed["runs"]["twin"]
    assert "<b>Blinded.</b>" in a["html"]
    assert "<td>box</td><td>&mdash;</td>" in a["html"]
    assert _normal_html(a) == _normal_html(b)
    assert a["pngs"].keys() == b["pngs"].keys()
    assert a["html"].count("data:image/png;base64,") == len(a["pngs"]) > 10  # all embedded
    for name, png in a["pngs"].items():
        assert b"tIME" not in png, name
        assert b"Creation Time" not in png, name
        assert png == b["pngs"][name], name


def test_unblinding_shows_the_box_and_is_recorded(analyzed, caplog):
    """``--unblind`` in the blinded analysis' folder: the blinded stages are reused (the
    background stays the blinded estimate), the box count appears in results.json and in the
    report, the observed limits are computed, and the act is recorded (time, user, log)."""
    run = analyzed["runs"]["sample"]
    blinded = run["results"]
    n = int(analyzed["sel"]["selected"].sum())
    before = datetime.now(UTC).replace(microsecond=0)
    with caplog.at_level(logging.WARNING, logger="na64reco.run"):
        _analyze(run["manifest"], run["out"], "--unblind")
    doc = json.loads((run["out"] / "results.json").read_text())
    html = (run["out"] / "report.html").read_text()

    blinding = doc["blinding"]
    assert blinding["blinded"] is False
    assert blinding["observed"] == {"2016": n}
    assert before <= datetime.fromisoformat(blinding["unblinded_at"]) <= datetime.now(UTC)
    assert blinding["unblinded_by"] == getpass.getuser()
    assert any("UNBLINDING" in r.getMessage() for r in caplog.records)
    opened = doc["runs"]["invisible-unblinded"]
    assert opened["blinding"]["blinded"] is False
    assert opened["cutflow"]["2016"]["box"] == n
    assert doc["runs"]["invisible"]["cutflow"] == blinded["runs"]["invisible"]["cutflow"]
    reused = {s["name"]: s["reused"] for s in doc["stages"]}
    assert all(reused[s] for s in ("run-invisible", "run-dimuon", "run-phi", "efficiency"))
    assert not reused["run-invisible-unblinded"]
    assert _normalised(doc)["background"] == _normalised(blinded)["background"]
    for model, lim in doc["limits"].items():
        assert lim["blinded"] is False, model
        expected = blinded["limits"][model]["coupling"]["expected"]
        assert lim["coupling"]["expected"] == expected, model
        # n candidates over a background << 1: the observed limit is above the expected one
        observed = lim["coupling"]["observed"]
        assert all(o > e for o, e in zip(observed, expected["median"], strict=True)), model
    assert "<b>Unblinded</b>" in html
    assert f"at {blinding['unblinded_at']} by {blinding['unblinded_by']}" in html
    assert f"observed in the box: 2016: {n}" in html
    assert f"<td>box</td><td>{n}</td>" in html
    # the ledger beside the outputs holds the act; results, report and limits show it
    (entry,) = blinding["ledger"]["entries"]
    assert entry == blinding["unblinding"]
    assert entry["regions"] == ["invisible"]
    assert blinding["ledger"]["path"] == str((run["out"] / "unblinding.jsonl").resolve())
    assert f"<td>{entry['configuration_sha256']}</td>" in html
    for model, lim in doc["limits"].items():
        assert lim["blinding"]["record"]["unblinding"] == entry, model
    # a blinded chain into the same folder afterwards: blinded again, the record kept
    ledger = (run["out"] / "unblinding.jsonl").read_bytes()
    _analyze(run["manifest"], run["out"])
    again = json.loads((run["out"] / "results.json").read_text())
    assert again["blinding"]["blinded"] is True
    assert again["blinding"]["ledger"]["entries"] == [entry]
    assert (run["out"] / "unblinding.jsonl").read_bytes() == ledger
    assert f"<td>{entry['configuration_sha256']}</td>" in (run["out"] / "report.html").read_text()
