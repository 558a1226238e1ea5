"""Fileset manifests: validation, path resolution, duplicates, overlaps, checksums."""

from __future__ import annotations

import json

import pytest

from na64reco.errors import ConfigError
from na64reco.fileset import (
    Fileset,
    FilesetEntry,
    load_fileset,
    sha256_file,
    write_fileset,
)


def entry(path, sha, **kw):
    base = {
        "path": path,
        "kind": "physics",
        "period": "2022",
        "run_min": 7000,
        "run_max": 7000,
        "events": 100,
        "eot": 1.0e6,
        "sha256": sha,
        "generator": None,
    }
    base.update(kw)
    return base


@pytest.fixture
def manifest(tmp_path):
    """A manifest with two data files (relative paths) and one absolute signal file."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "a.root").write_bytes(b"aaa")
    (data / "b.root").write_bytes(b"bbbb")
    sig = tmp_path / "sig.root"
    sig.write_bytes(b"signal")
    raw = {
        "format": "na64-fileset",
        "version": 1,
        "name": "2023B-physics",
        "tree": "events",
        "files": [
            entry("a.root", sha256_file(data / "a.root"), run_min=7000, run_max=7004),
            entry("b.root", sha256_file(data / "b.root"), run_min=7005, run_max=7010, events=50),
            entry(
                str(sig), sha256_file(sig), kind="signal", eot=None,
                generator={"name": "na64reco.sim", "seed": 1},
            ),
        ],
        "command": "na64 simulate ...",
        "description": None,
    }  # fmt: skip
    path = data / "fileset.json"
    path.write_text(json.dumps(raw))
    return path, raw


def write(path, raw):
    path.write_text(json.dumps(raw))
    return path


def test_load(manifest):
    path, _ = manifest
    fs = load_fileset(path, verify_checksums=True)
    assert isinstance(fs, Fileset)
    assert all(isinstance(f, FilesetEntry) for f in fs.files)
    assert fs.files[0].path == str(path.parent / "a.root")
    assert fs.files[2].path.endswith("sig.root")
    assert fs.total_events == 250
    assert fs.total_eot == pytest.approx(2.0e6)
    coffea = fs.to_coffea("data")
    assert list(coffea) == ["data"]
    assert coffea["data"]["files"] == {f.path: "events" for f in fs.files}
    assert list(fs.to_coffea()) == ["2023B-physics"]


def test_total_eot_none(manifest):
    path, raw = manifest
    for f in raw["files"]:
        f["eot"] = None
    assert load_fileset(write(path, raw)).total_eot is None


def test_write_round_trip(manifest, tmp_path):
    path, _ = manifest
    fs = load_fileset(path)
    out = write_fileset(path.parent / "copy.json", fs)
    stored = json.loads(out.read_text())
    assert stored["files"][0]["path"] == "a.root"  # relative again
    assert stored["files"][2]["path"] == str(tmp_path / "sig.root")
    assert load_fileset(out).model_dump() == fs.model_dump()  # same content, other manifest


@pytest.mark.parametrize(
    ("mutate", "key", "problem"),
    [
        (lambda r: r.update(format="other"), "format", "must be 'na64-fileset'"),
        (lambda r: r.update(version=2), "version", "unknown version 2; known: 1"),
        (lambda r: r.update(colour="red"), "colour", "Extra inputs are not permitted"),
        (lambda r: r.pop("name"), "name", "Field required"),
        (lambda r: r.update(tree="Events"), "tree", "Input should be 'events'"),
        (lambda r: r.update(files=[]), "files", "at least 1"),
        (lambda r: r["files"][1].update(kind="cosmic"), "files.1.kind", "Input should be"),
        (lambda r: r["files"][1].update(events=-1), "files.1.events", "greater than or equal"),
        (lambda r: r["files"][0].update(sha256="xyz"), "files.0.sha256", "should match pattern"),
        (lambda r: r["files"][1].pop("period"), "files.1.period", "Field required"),
        (lambda r: r["files"][1].update(runs=3), "files.1.runs", "Extra inputs"),
        (lambda r: r["files"][1].update(run_min=7011), "files.1", "run_max 7010 is below run_min"),
        (lambda r: r["files"][1].update(run_max="x"), "files.1.run_max", "valid integer"),
    ],
)
def test_malformed(manifest, mutate, key, problem):
    path, raw = manifest
    mutate(raw)
    with pytest.raises(ConfigError) as info:
        load_fileset(write(path, raw))
    assert info.value.path == str(path)
    assert info.value.key == key
    assert problem in info.value.problem


def test_not_json(tmp_path):
    path = tmp_path / "f.json"
    path.write_text("{files: [")
    with pytest.raises(ConfigError, match="malformed JSON") as info:
        load_fileset(path)
    assert info.value.path == str(path)
    with pytest.raises(ConfigError, match="must be a JSON object"):
        load_fileset(write(path, [1]))
    with pytest.raises(ConfigError, match="cannot be read"):
        load_fileset(tmp_path / "missing.json")


def test_duplicate_file(manifest):
    path, raw = manifest
    dup = dict(raw["files"][0], path="./a.root", run_min=7100, run_max=7100)
    raw["files"].append(dup)
    with pytest.raises(ConfigError) as info:
        load_fileset(write(path, raw))
    assert info.value.key == "files.3.path"
    assert "listed twice (also files.0)" in info.value.problem


def test_overlapping_runs(manifest):
    path, raw = manifest
    raw["files"][1]["run_min"] = 7004
    with pytest.raises(ConfigError) as info:
        load_fileset(write(path, raw))
    assert info.value.key == "files.1.run_min"
    assert "a.root" in info.value.problem
    assert "b.root" in info.value.problem
    assert "7000-7004" in info.value.problem


def test_overlap_allowed_across_kinds_and_for_signal(manifest, tmp_path):
    path, raw = manifest
    raw["files"][1].update(kind="calibration", run_min=7000)
    sig2 = tmp_path / "sig2.root"
    sig2.write_bytes(b"x")
    raw["files"].append(dict(raw["files"][2], path=str(sig2), sha256=sha256_file(sig2)))
    assert len(load_fileset(write(path, raw)).files) == 4


def test_checksum_mismatch(manifest):
    path, _ = manifest
    (path.parent / "b.root").write_bytes(b"changed")
    load_fileset(path)  # not checked by default
    with pytest.raises(ConfigError) as info:
        load_fileset(path, verify_checksums=True)
    assert info.value.key == "files.1.sha256"
    assert "checksum mismatch" in info.value.problem
    assert str(path.parent / "b.root") in info.value.problem


def test_checksum_missing_file(manifest):
    path, _ = manifest
    (path.parent / "a.root").unlink()
    with pytest.raises(ConfigError) as info:
        load_fileset(path, verify_checksums=True)
    assert info.value.key == "files.0.path"


def test_sha256_file(tmp_path):
    p = tmp_path / "x"
    p.write_bytes(b"abc")
    assert sha256_file(p) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
