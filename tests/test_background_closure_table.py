"""The shipped ABCD closure factors: current, equal to a fresh simulation, and used only for
exactly the arguments they were computed with."""

from __future__ import annotations

import json

from na64reco.background import abcd, closure_table
from na64reco.conditions import PERIODS
from na64reco.sim import box_table


def _table() -> dict:
    return json.loads(closure_table.table_path().read_text())


def test_table_is_current_for_every_period_at_the_default_cuts():
    table = _table()
    assert table["code_digest"] == box_table.source_digest(closure_table.SOURCES), (
        "the simulation changed: regenerate with python -m na64reco.background.closure_table"
    )
    assert sorted(table["periods"]) == sorted(PERIODS)
    for period in PERIODS:
        expected = closure_table.default_arguments(period)
        assert table["periods"][period]["arguments"] == expected, period


def test_shipped_closure_equals_a_fresh_simulation():
    period = "2017"  # a period whose four regions are filled: k is defined
    arguments = closure_table.default_arguments(period)
    fresh = abcd.closure_factor(period, **arguments, use_table=False)
    assert fresh["k"] is not None
    assert abcd.closure_factor(period, **arguments) == fresh
    assert _table()["periods"][period]["result"] == fresh


def test_other_arguments_or_a_stale_table_are_simulated(monkeypatch):
    calls = []
    real = abcd.truth_clean_plane

    def counted(*args, **kwargs):
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(abcd, "truth_clean_plane", counted)
    arguments = closure_table.default_arguments("2016")
    abcd.closure_factor("2016", **arguments)
    assert calls == []  # the shipped entry
    abcd.closure_factor("2016", **{**arguments, "eot": 1e8})
    assert len(calls) == 1  # another EOT: not tabulated
    closure_table._load.cache_clear()
    monkeypatch.setattr(closure_table, "source_digest", lambda sources: "0" * 64)
    try:
        abcd.closure_factor("2016", **arguments)
        assert len(calls) == 2  # a table made by other code is never used
    finally:
        closure_table._load.cache_clear()
