"""Running CERN ROOT (the PyPI ``root`` package of the test extra) from the tests: one PyROOT
subprocess (``_root_checks.py``) per call, so that ROOT's own warnings and state stay out of the
pytest process (which runs with filterwarnings=error)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
CONVERTER = REPO / "docs" / "examples" / "na64_convert.C"
P348_MAP = REPO / "docs" / "examples" / "p348reco-2022.toml"
SAMPLES = REPO / "data_samples"


def run_root(spec: dict, workdir: Path) -> dict:
    """What ROOT makes of ``spec`` (see ``_root_checks.py``): conversions, trees, histograms.

    ROOT is a test dependency: a missing ROOT fails here (no skip)."""
    spec_path = workdir / "root_spec.json"
    out_path = workdir / "root_out.json"
    spec_path.write_text(json.dumps({"macro": str(CONVERTER), **spec}))
    proc = subprocess.run(
        [sys.executable, str(HERE / "_root_checks.py"), str(spec_path), str(out_path)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=workdir,  # ROOT's interpreter writes its compiled macro next to the working dir
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(out_path.read_text())
