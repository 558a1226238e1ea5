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


def test_forks_only_without_other_threads(tmp_path):
    import os

    jobs = [(_pid, (tmp_path / f"a{i}",), {}) for i in range(3)]
    parallel.render(jobs, workers=2)
    assert {p.read_text() for p in tmp_path.glob("a*")} - {str(os.getpid())}  # forked
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
