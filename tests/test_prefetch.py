"""Kernels compiled ahead in a forked child: started only without other threads, silent,
never failing (a bad file only means the run compiles the kernels itself)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

from na64reco.run.prefetch import compile_ahead, finish_compile_ahead

ROOT = Path(__file__).resolve().parents[1]

_CHILD = """
import sys
from na64reco.run.prefetch import compile_ahead, share_compile_ahead
ahead = compile_ahead(sys.argv[1])
if len(sys.argv) > 2:  # the parent takes its share
    share_compile_ahead(ahead)
    print(list(ahead.claims), end=" ")
ahead.process.join(120)
print(ahead.process.exitcode)
"""


def _child_exit(path: str, env: dict | None = None, share: bool = False) -> str:
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, path, *(["share"] if share else [])],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        env=None if env is None else {**os.environ, **env},
    )
    return done.stdout.strip()


def test_child_compiles_the_kernels_into_the_cache(tmp_path):
    path = ROOT / "data_samples" / "na64sim_2016_physics_run01800.root"
    cache = tmp_path / "numba"
    assert _child_exit(str(path), {"NUMBA_CACHE_DIR": str(cache)}) == "0"
    written = {p.name.split(".")[0] for p in cache.rglob("*.nbi")}
    # the value screens, the calorimeter kernels, the shower shape and the tracking
    expected = {"value_screen", "calorimeter_kernels", "showershape_kernels", "tracking_kernels"}
    assert expected <= written, written


def test_parent_and_child_share_the_parts(tmp_path):
    """The parent takes the parts left from the end; every part is claimed once and every
    kernel ends in the cache."""
    path = ROOT / "data_samples" / "na64sim_2016_physics_run01800.root"
    cache = tmp_path / "numba"
    out = _child_exit(str(path), {"NUMBA_CACHE_DIR": str(cache)}, share=True)
    claims, code = out.rsplit(" ", 1)
    assert code == "0"
    front, back = json.loads(claims)  # the shared counter: [next from the front, end of the rest]
    assert front == back  # nothing left unclaimed, nothing claimed twice
    written = {p.name.split(".")[0] for p in cache.rglob("*.nbi")}
    expected = {"value_screen", "calorimeter_kernels", "showershape_kernels", "tracking_kernels"}
    assert expected <= written, written


def test_child_on_a_foreign_file_exits_cleanly(tmp_path):
    bad = tmp_path / "not_root.root"
    bad.write_text("not a ROOT file")
    assert _child_exit(str(bad)) == "0"


def test_not_started_without_a_file_or_beside_another_thread():
    assert compile_ahead(None) is None
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        assert compile_ahead("any.root") is None
    finally:
        stop.set()
        other.join()
    finish_compile_ahead(None)  # nothing to stop
