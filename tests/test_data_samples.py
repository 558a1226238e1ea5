"""The shipped sample: valid, small, and exactly what data_samples/regenerate.sh makes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from na64reco.eventtree import content_digest, open_event_file
from na64reco.fileset import load_fileset

SAMPLES = Path(__file__).resolve().parents[1] / "data_samples"


def test_shipped_fileset_is_valid_and_small():
    fileset = load_fileset(SAMPLES / "fileset.json", verify_checksums=True)
    kinds = {f.kind for f in fileset.files}
    assert kinds == {"physics", "calibration", "random", "signal"}
    assert {f.period for f in fileset.files if f.kind == "physics"} == {"2016", "2022"}
    total = sum(Path(f.path).stat().st_size for f in fileset.files)
    assert total < 8e6, f"shipped sample is {total / 1e6:.1f} MB"
    for entry in fileset.files:
        ef = open_event_file(entry.path)
        assert ef.num_entries == entry.events
        assert ef.metadata["period"] == entry.period


def test_regeneration_reproduces_the_shipped_content(tmp_path):
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    subprocess.run(
        ["bash", str(SAMPLES / "regenerate.sh"), str(tmp_path)],
        check=True,
        env=env,
        capture_output=True,
    )
    shipped = load_fileset(SAMPLES / "fileset.json")
    remade = {Path(f.path).name: f for f in load_fileset(tmp_path / "fileset.json").files}
    assert set(remade) == {Path(f.path).name for f in shipped.files}
    for entry in shipped.files:
        name = Path(entry.path).name
        assert remade[name].events == entry.events, name
        assert content_digest(remade[name].path) == content_digest(entry.path), name


def test_manifest_records_the_regeneration_commands():
    commands = load_fileset(SAMPLES / "fileset.json").command.splitlines()
    script = (SAMPLES / "regenerate.sh").read_text()
    assert len(commands) == 11  # one per shipped file
    for command in commands:
        assert command.startswith("na64 -q simulate --period ")
        assert command.endswith("--out data_samples")
        options = command.removeprefix("na64 -q simulate ").removesuffix(" --out data_samples")
        flag = options.split()[2]  # --eot, --calibration or --signal
        assert flag in script
