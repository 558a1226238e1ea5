"""The shipped per-EOT box background table: current, equal to a fresh simulation, and used
only for exactly the settings it was made with."""

from __future__ import annotations

import json

import pytest

from na64reco.conditions import PERIODS
from na64reco.sim import box_table, validation


def _table() -> dict:
    return json.loads(box_table.table_path().read_text())


def test_table_is_current():
    table = _table()
    assert table["code_digest"] == box_table.source_digest(), (
        "the simulation changed: regenerate with python -m na64reco.sim.box_table"
    )
    assert sorted(table["periods"]) == sorted(PERIODS)
    for period, entry in table["periods"].items():
        assert entry["box"] == box_table.box_key(validation.selection_box(period)), period


def test_table_equals_a_fresh_simulation():
    period = "2022"
    box = validation.selection_box(period)
    fresh = validation.box_background_per_eot(
        period, box, validation.DEFAULT_EVENTS_PER_PROCESS, validation.DEFAULT_SEED
    )
    assert fresh == _table()["periods"][period]["per_eot"]
    assert sum(v for k, v in fresh.items() if not k.endswith("_err")) > 0


def test_defaults_use_the_table_and_scale_linearly(monkeypatch):
    def no_simulation(*args, **kwargs):
        raise AssertionError("simulated although the table holds these settings")

    monkeypatch.setattr(validation, "box_background_per_eot", no_simulation)
    per_eot = _table()["periods"]["2016"]["per_eot"]
    out = validation.expected_box_background("2016", 2.5e10, with_errors=True)
    assert out["hadron_decay"] == pytest.approx(per_eot["hadron_decay"] * 2.5e10, rel=1e-12)
    assert out["total"] == pytest.approx(
        sum(v for k, v in per_eot.items() if not k.endswith("_err")) * 2.5e10, rel=1e-12
    )
    assert out["total_err"] > 0


def test_other_settings_or_a_stale_table_are_simulated(monkeypatch):
    calls = []
    real = validation.box_background_per_eot

    def counted(*args, **kwargs):
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(validation, "box_background_per_eot", counted)
    validation.expected_box_background("2016", 1e10, events_per_process=500)
    assert len(calls) == 1  # other settings: not tabulated
    box_table._load.cache_clear()
    monkeypatch.setattr(box_table, "source_digest", lambda: "0" * 64)
    try:
        validation.expected_box_background("2016", 1e10)
        assert len(calls) == 2  # a table made by other code is never used
    finally:
        box_table._load.cache_clear()
