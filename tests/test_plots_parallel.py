"""Plots rendered in forked workers: the same files, in the same order, as rendered serially;
serial whenever another thread runs."""

from __future__ import annotations

import threading

from na64reco.plots import parallel


def _write(path, text):
    path.write_text(text)
    return path


def test_parallel_render_keeps_order_and_content(tmp_path):
    jobs = [(_write, (tmp_path / f"p{i}.txt",), {"text": f"plot {i}"}) for i in range(5)]
    out = parallel.render(jobs, workers=2)
    assert out == [tmp_path / f"p{i}.txt" for i in range(5)]
    assert [p.read_text() for p in out] == [f"plot {i}" for i in range(5)]


def _pid(path):
    import os

    path.write_text(str(os.getpid()))
    return path


_FORK_CHECK = """
import os, sys
from pathlib import Path
from na64reco.plots import parallel


def _pid(path):
    path.write_text(str(os.getpid()))
    return path


out = Path(sys.argv[1])
parallel.render([(_pid, (out / f"a{i}",), {}) for i in range(3)], workers=2)
print(os.getpid())
"""


def test_forks_when_no_other_thread_runs(tmp_path):
    # A fresh interpreter: the test process may hold threads left by earlier tests.
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    done = subprocess.run(
        [sys.executable, "-c", _FORK_CHECK, str(tmp_path)],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    )
    parent = done.stdout.strip()
    pids = {p.read_text() for p in tmp_path.glob("a*")}
    assert parent not in pids  # every plot drawn in a forked child


def test_serial_while_another_thread_runs(tmp_path):
    import os

    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        jobs = [(_pid, (tmp_path / f"b{i}",), {}) for i in range(3)]
        parallel.render(jobs, workers=2)
        assert {p.read_text() for p in tmp_path.glob("b*")} == {str(os.getpid())}
    finally:
        stop.set()
        other.join()
