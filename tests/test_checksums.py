"""The checksum cache: reused only for an unchanged file, never trusted over a rewrite."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from pathlib import Path

import pytest

from na64reco import checksums
from na64reco.checksums import file_sha256


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv("NA64_CACHE_DIR", str(folder))
    return folder


def _write(path, data: bytes) -> str:
    path.write_bytes(data)
    return hashlib.sha256(data).hexdigest()


def test_hash_then_cache(tmp_path, cache_dir):
    f = tmp_path / "a.root"
    expected = _write(f, b"root" + os.urandom(5000))
    assert file_sha256(f) == (expected, "computed")
    assert file_sha256(f) == (expected, "cache")
    assert (cache_dir / "checksums.sqlite").is_file()
    assert file_sha256(f, use_cache=False) == (expected, "computed")


def test_rewrite_with_same_size_and_mtime_is_hashed_again(tmp_path, cache_dir):
    """An in-place edit that restores size and modification time still changes the
    status-change time: the cached checksum is not used."""
    f = tmp_path / "a.root"
    _write(f, b"A" * 4096)
    st = f.stat()
    assert file_sha256(f)[1] == "computed"
    time.sleep(0.01)
    edited = _write(f, b"B" * 4096)
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert f.stat().st_size == st.st_size
    assert f.stat().st_mtime_ns == st.st_mtime_ns
    assert file_sha256(f) == (edited, "computed")


def test_replaced_file_is_hashed_again(tmp_path, cache_dir):
    f, other = tmp_path / "a.root", tmp_path / "b.root"
    _write(f, b"one" * 100)
    file_sha256(f)
    expected = _write(other, b"two" * 100)
    other.replace(f)  # another inode under the same name
    assert file_sha256(f) == (expected, "computed")


def test_unusable_cache_only_costs_time(tmp_path, monkeypatch):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    monkeypatch.setenv("NA64_CACHE_DIR", str(blocker))
    f = tmp_path / "a.root"
    expected = _write(f, b"data")
    assert file_sha256(f) == (expected, "computed")
    assert file_sha256(f) == (expected, "computed")


def test_default_location_follows_xdg(monkeypatch, tmp_path):
    monkeypatch.delenv("NA64_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert checksums.cache_path() == tmp_path / "na64reco" / "checksums.sqlite"


def test_run_records_how_checksums_were_verified(tmp_path, cache_dir):
    """First run hashes, the second takes the cache, --rehash hashes; a file edited in place
    after a cached run (size and mtime restored) is still a checksum mismatch."""
    from _reliability import physics_entries, run_analysis, write_manifest
    from click.testing import CliRunner

    from na64reco.cli import main
    from na64reco.errors import InputFileError

    entries = []
    for entry in physics_entries():  # copies: the test edits one
        copy = tmp_path / Path(entry.path).name
        shutil.copyfile(entry.path, copy)
        entries.append(entry.model_copy(update={"path": str(copy)}))
    fileset = write_manifest(tmp_path, entries)
    opts = dict(maxchunks=1, quiet=True, make_plots=False)
    first = run_analysis(fileset, "invisible", tmp_path / "o1", **opts)
    second = run_analysis(fileset, "invisible", tmp_path / "o2", **opts)
    how = [i["checksum"] for i in first["provenance"]["inputs"]]
    assert set(how) == {"computed"}
    assert {i["checksum"] for i in second["provenance"]["inputs"]} == {"cache"}
    n = len(entries)
    assert first["provenance"]["validation"]["contract"] == {"checked": n}
    assert second["provenance"]["validation"]["contract"] == {"cache": n}  # not opened again
    assert second["cutflow"] == first["cutflow"]
    # the manifest is still compared with the remembered outcome on every run
    wrong = write_manifest(
        tmp_path, [entries[0].model_copy(update={"events": entries[0].events + 1})], "wrong"
    )
    with pytest.raises(InputFileError, match="entries, the manifest says"):
        run_analysis(wrong, "invisible", tmp_path / "o5", **opts)
    assert [i["sha256"] for i in first["provenance"]["inputs"]] == [
        i["sha256"] for i in second["provenance"]["inputs"]
    ]
    result = CliRunner().invoke(
        main,
        [
            "run",
            str(fileset),
            "--analysis",
            "invisible",
            "--out",
            str(tmp_path / "o3"),
            "--maxchunks",
            "1",
            "--no-plots",
            "--rehash",
        ],
    )
    assert result.exit_code == 0, result.output
    third = json.loads((tmp_path / "o3" / "summary.json").read_text())
    assert {i["checksum"] for i in third["provenance"]["inputs"]} == {"computed"}

    target = first["provenance"]["inputs"][0]["path"]
    st = os.stat(target)
    with open(target, "r+b") as fh:  # flip one byte in the middle, keep size and mtime
        fh.seek(st.st_size // 2)
        byte = fh.read(1)
        fh.seek(st.st_size // 2)
        fh.write(bytes([byte[0] ^ 0xFF]))
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))
    with pytest.raises(InputFileError, match="checksum mismatch"):
        run_analysis(fileset, "invisible", tmp_path / "o4", **opts)


def test_records_follow_the_file_and_the_key(tmp_path, cache_dir):
    """A validation record is returned only for the same file status and key; a newer key
    replaces the older one (no accumulation across code versions)."""
    from na64reco.checksums import cached_record, file_status, remember_record

    f = tmp_path / "a.root"
    _write(f, b"x" * 100)
    remember_record(f, "v1", file_status(f), {"entries": 3})
    assert cached_record(f, "v1") == {"entries": 3}
    assert cached_record(f, "v2") is None
    remember_record(f, "v2", file_status(f), {"entries": 4})
    assert cached_record(f, "v2") == {"entries": 4}
    assert cached_record(f, "v1") is None  # replaced
    _write(f, b"y" * 100)
    assert cached_record(f, "v2") is None  # the file changed
