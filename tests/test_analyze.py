"""na64 analyze: the whole chain on the shipped sample, stage reuse, the report; its numbers
pinned; the same documents as the single-stage commands."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from _pinned import REFERENCE, assert_close, pinned_numbers
from click.testing import CliRunner

from na64reco.blinding import BLINDING, definition_record
from na64reco.cli import main
from na64reco.schemas import AnalysisResults, LimitDocument

SELECTIONS = Path(__file__).resolve().parents[1] / "selections"
SAMPLE = Path(__file__).resolve().parents[1] / "data_samples"
SECTIONS = (
    "Run summary and exposure",
    "Cutflows",
    "The (E_ECAL, E_HCAL) plane",
    "N-1 distributions",
    "Calibration",
    "Background in the signal box",
    "Signal efficiency",
    "Limits",
    "Systematic uncertainties",
    "Blinding status",
    "Provenance",
)


@pytest.fixture(scope="module")
def first_run(analyzed_sample):
    """``na64 -q analyze`` on the shipped sample (conftest: made once per session, from and into
    folders whose names hold non-ASCII characters and spaces)."""
    return analyzed_sample


def _stages(out: Path) -> dict[str, bool]:
    results = json.loads((out / "results.json").read_text())
    return {s["name"]: s["reused"] for s in results["stages"]}


def test_results_and_report(first_run):
    results = json.loads((first_run / "results.json").read_text())
    AnalysisResults.model_validate(results)
    assert results["blinding"]["blinded"] is True
    assert set(results["limits"]) >= {
        "aprime",
        "scalar",
        "pseudoscalar",
        "vector",
        "axial",
        "zprime",
        "phi",
    }
    assert all(results["exposure"][p]["eot_live"] > 0 for p in ("2016", "2022"))
    html = (first_run / "report.html").read_text()
    for title in SECTIONS:
        assert f"<h2>{title}</h2>" in html, title
    # every plot of the stages is embedded, nothing is fetched from outside
    pngs = list((first_run / "stages").rglob("*.png"))
    assert len(pngs) > 20
    assert html.count("data:image/png;base64,") == len(pngs)
    assert not re.search(r'(src|href)="(https?:)?//', html)
    assert "<script" not in html


def _manifest(out: Path) -> str:
    return str(out.parent / "données du run" / "fileset.json")


def test_second_run_reuses_every_stage(first_run):
    result = CliRunner().invoke(
        main, ["-q", "analyze", _manifest(first_run), "--out", str(first_run)]
    )
    assert result.exit_code == 0, result.output
    assert all(_stages(first_run).values())
    assert json.loads((first_run / "results.json").read_text())["wall_seconds"] < 10


def test_changing_one_cut_reruns_only_what_depends_on_it(first_run, tmp_path):

    out = tmp_path / "changed"
    shutil.copytree(first_run, out)
    text = (SELECTIONS / "invisible.toml").read_text()
    changed = tmp_path / "invisible.toml"
    changed.write_text(
        text.replace('variable = "shower_chi2", max = 4.0', 'variable = "shower_chi2", max = 5.0')
    )
    assert changed.read_text() != text
    result = CliRunner().invoke(
        main,
        [
            "-q",
            "analyze",
            _manifest(first_run),
            "--out",
            str(out),
            "--cutset",
            f"invisible={changed}",
        ],
    )
    assert result.exit_code == 0, result.output
    reused = _stages(out)
    assert reused["calibration"]
    assert reused["run-dimuon"]
    assert reused["run-phi"]
    assert not reused["run-invisible"]
    assert not reused["efficiency"]
    assert not reused["background"]
    assert not reused["limits"]


def test_shipped_sample_numbers_are_pinned(first_run):
    """Cutflows, background, efficiencies and limits equal the reference made before the
    orchestration redesign (tests/_pinned.py says when the reference may change)."""
    results = json.loads((first_run / "results.json").read_text())
    assert_close(pinned_numbers(results), json.loads(REFERENCE.read_text()))


def _comparable(doc: dict) -> dict:
    """A limit document without what differs between two runs of the same inputs."""
    doc = json.loads(json.dumps(doc))
    doc.pop("seconds")
    for key in ("created", "command"):
        doc["provenance"].pop(key)
    return doc


@pytest.mark.parametrize("model", ["aprime", "scalar", "phi"])
def test_analyze_limits_equal_the_limit_command(first_run, tmp_path, model):
    """The limits stage and `na64 limit` on the same inputs write the same document (provenance,
    blinding and title included), apart from the time, the run time and the command."""
    inputs = first_run / "stages" / "background" / "limit_inputs.json"
    staged = json.loads((first_run / "stages" / "limits" / f"limit_{model}.json").read_text())
    result = CliRunner().invoke(
        main,
        ["-q", "limit", str(inputs), "--model", model, "--n-masses", "12", "--out", str(tmp_path)],
    )
    assert result.exit_code == 0, result.output
    alone = json.loads((tmp_path / f"limit_{model}.json").read_text())
    LimitDocument.model_validate(alone)
    assert staged["title"]
    assert staged["provenance"]["inputs"]["sha256"]
    assert {k: staged["blinding"][k] for k in ("blinded", "observed")} == {
        "blinded": True,
        "observed": None,
    }
    record = staged["blinding"]["record"]
    assert record["blinded"] is True
    assert record["definition"] == definition_record()  # the record travels to the limits
    assert _comparable(staged) == _comparable(alone)


@pytest.mark.slow
def test_efficiency_stage_runs_on_dask_workers(first_run, tmp_path):
    """`--executor dask` reaches the efficiency stage: with the other stages reused, it runs on a
    LocalCluster's workers and gives the iterative run's efficiencies."""

    out = tmp_path / "dask"
    shutil.copytree(first_run, out)
    (out / "stages" / "efficiency" / "stage.json").unlink()
    result = CliRunner().invoke(
        main,
        ["-q", "analyze", _manifest(first_run), "--out", str(out), "--executor", "dask",
         "--workers", "2"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    reused = _stages(out)
    assert not reused["efficiency"]
    assert all(v for k, v in reused.items() if k != "efficiency")
    stage = json.loads((out / "stages" / "efficiency" / "stage.json").read_text())
    assert stage["outputs"]["executor"] == {
        "name": "dask",
        "scheduler": "LocalCluster",
        "workers": 2,
    }
    assert json.loads((out / "stages" / "efficiency" / "efficiencies.json").read_text()) == (
        json.loads((first_run / "stages" / "efficiency" / "efficiencies.json").read_text())
    )


def test_every_written_document_validates_against_its_schema(first_run):
    """Each summary.json, background.json, limit_<model>.json and results.json of a chain
    validates against its model (the published JSON Schemas are generated from them)."""
    from na64reco.schemas import OUTPUT_DOCUMENTS

    patterns = {"limit_<model>.json": "limit_*.json"}
    for document, model in OUTPUT_DOCUMENTS.items():
        paths = [
            p
            for p in first_run.rglob(patterns.get(document, document))
            if p.name != "limit_inputs.json"  # an input document (na64reco.limit_inputs)
        ]
        assert paths, document
        for path in paths:
            doc = json.loads(path.read_text())
            assert doc["format"] == model.model_fields["format"].default, path
            model.model_validate(doc)


def _open_without_unblinding(raw: dict) -> None:
    raw["blinded"] = False
    raw["blinding"]["blinded"] = False
    for period in raw["periods"]:
        period["observed"] = 0


def _observed_only(raw: dict) -> None:
    raw["blinded"] = False
    for period in raw["periods"]:
        period["observed"] = 3


@pytest.mark.parametrize(
    ("edit", "key", "problem"),
    [
        (lambda raw: raw.pop("blinding"), "blinding", "carry no blinding record"),
        (lambda raw: raw["blinding"]["definition"].update(sha256="0" * 64),
         "blinding.definition",
         f"made with the blinding definition v{BLINDING.version} (000000000000...)"),
        (_open_without_unblinding, "blinding.unblinding",
         "unblinded (observed counts) without the recorded unblinding of the invisible region"),
        (_observed_only, "blinding.blinded", "says blinded=True, the document says blinded=False"),
    ],
    ids=["no record", "another definition", "box opened without an unblinding",
         "observed counts in blinded inputs"],
)  # fmt: skip
def test_limit_refuses_inputs_whose_blinding_record_does_not_match(
    first_run, tmp_path, edit, key, problem
):
    """``na64 limit`` on the chain's limit inputs, edited: one error line, no limit written;
    the published inputs (no record, not made from run outputs) stay usable."""
    raw = json.loads((first_run / "stages" / "background" / "limit_inputs.json").read_text())
    edit(raw)
    path = tmp_path / "limit_inputs.json"
    path.write_text(json.dumps(raw))
    args = ["-q", "limit", str(path), "--model", "aprime", "--out", str(tmp_path / "o"),
            "--n-masses", "2", "--no-plots"]  # fmt: skip
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    output = " ".join(result.output.split())
    assert f"Error: {path}: {key}: " in output
    assert problem in output
    assert not (tmp_path / "o" / "limit_aprime.json").exists()
