"""limit_inputs.json schema v2: named nuisances validated, v1 files still read, v2 round-trips."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import pytest
from _nuisances import PUBLISHED, with_nuisances
from _nuisances import published_raw as _raw

from na64reco.errors import ConfigError
from na64reco.limit_inputs import VERSION, LimitInputs, load_limit_inputs, write_limit_inputs
from na64reco.limits import scan as sc


def _write(tmp_path: Path, raw: dict) -> Path:
    path = tmp_path / "limit_inputs.json"
    path.write_text(json.dumps(raw))
    return path


@pytest.mark.parametrize("paper", ["paper000", "paper001", "paper002", "paper003", "paper004"])
def test_v1_files_load_and_give_the_same_limits_as_v2_without_nuisances(paper, tmp_path):
    v1 = load_limit_inputs(PUBLISHED / f"{paper}.json")
    assert v1.version == 1
    assert all(p.nuisances == [] for p in v1.periods)
    path = write_limit_inputs(tmp_path / "v2.json", v1)
    assert json.loads(path.read_text())["version"] == VERSION == 2
    v2 = load_limit_inputs(path)
    model = sorted(v1.models())[0]
    mass = [v1.periods[0].efficiencies[0].masses_gev[0] * 1.5]
    a = sc.scan(v1, model, mass, method="exact")
    b = sc.scan(v2, model, mass, method="exact")
    assert a["n_up"] == b["n_up"]
    assert a["coupling"] == b["coupling"]
    if paper == "paper000":  # 0 observed, exact CLs: N_up = ln 10 whatever the background
        assert a["n_up"]["observed"][0] == pytest.approx(math.log(10.0), abs=1e-6)


def test_v2_round_trips(tmp_path):
    inputs = load_limit_inputs(_write(tmp_path, with_nuisances(_raw())))
    assert [n.name for n in inputs.periods[2].nuisances] == ["ecal_scale", "eot_2018"]
    written = write_limit_inputs(tmp_path / "again.json", inputs)
    again = load_limit_inputs(written)
    assert again == inputs
    assert json.loads(written.read_text()) == inputs.model_dump(mode="json")
    # every factor given survives (nothing dropped or defaulted away)
    given = with_nuisances(_raw())
    for p_in, p_out in zip(given["periods"], again.periods, strict=True):
        dumped = [n.model_dump(mode="json", exclude_none=True) for n in p_out.nuisances]
        for a, b in zip(p_in["nuisances"], dumped, strict=True):
            assert {k: v for k, v in a.items() if v is not None} == {
                k: v for k, v in b.items() if k != "description" or v
            }


def _bad(raw: dict, edit) -> dict:
    raw = with_nuisances(raw)
    edit(raw["periods"][0]["nuisances"])
    return raw


@pytest.mark.parametrize(
    ("edit", "key", "problem"),
    [
        (lambda n: n[0]["background"].update(up=0.0), "periods.0.nuisances.0.background.up",
         "greater than 0"),
        (lambda n: n[0]["background"].update(down=-1.0), "periods.0.nuisances.0.background.down",
         "greater than 0"),
        (lambda n: n[0]["signal"]["aprime"]["up"].pop(), "periods.0.nuisances.0.signal.aprime",
         "6 factors, down 7"),
        (lambda n: [n[0]["signal"]["aprime"][k].pop() for k in ("up", "down")],
         "periods.0.nuisances", "6 factors for the 7 masses"),
        (lambda n: n[0]["signal"]["aprime"]["down"].__setitem__(2, 0.0),
         "periods.0.nuisances.0.signal.aprime", "must be > 0"),
        (lambda n: n[0]["signal"].update(nomodel=n[0]["signal"]["aprime"]),
         "periods.0.nuisances", "no efficiency table for model 'nomodel'"),
        (lambda n: n.append(copy.deepcopy(n[0])), "periods.0.nuisances", "listed twice"),
        (lambda n: n[0].update(source="guess"), "periods.0.nuisances.0.source", "calibration"),
        (lambda n: n[0].update(extra=1), "periods.0.nuisances.0.extra", "Extra inputs"),
    ],
    ids=["zero factor", "negative factor", "up/down lengths", "masses misaligned",
         "zero in list", "unknown model", "duplicate name", "unknown source", "unknown key"],
)  # fmt: skip
def test_bad_nuisances_name_the_file_and_key(tmp_path, edit, key, problem):
    path = _write(tmp_path, _bad(_raw(), edit))
    with pytest.raises(ConfigError) as err:
        load_limit_inputs(path)
    text = str(err.value)
    assert str(path) in text
    assert f"{key}:" in text or f"{key} " in text, text
    assert problem in text


def test_non_finite_factor_is_refused(tmp_path):
    raw = with_nuisances(_raw())
    text = json.dumps(raw).replace('"up": 1.21', '"up": Infinity', 1)
    path = tmp_path / "inf.json"
    path.write_text(text)
    with pytest.raises(ConfigError, match=r"periods\.0\.nuisances\.0\.background\.up"):
        load_limit_inputs(path)


def test_names_of_the_flat_uncertainties_are_refused(tmp_path):
    raw = with_nuisances(_raw())
    raw["periods"][1]["nuisances"][0]["name"] = "bkg_2016"
    with pytest.raises(ConfigError, match=r"periods\.1\.nuisances: names \['bkg_2016'\] are taken"):
        load_limit_inputs(_write(tmp_path, raw))
    raw["periods"][1]["nuisances"][0]["name"] = "bkg_sideband_model"  # only exact names clash
    assert load_limit_inputs(_write(tmp_path, raw)).periods[1].nuisances[0].name.startswith("bkg")


def test_v1_with_nuisances_is_refused(tmp_path):
    raw = with_nuisances(_raw())
    raw["version"] = 1
    with pytest.raises(ConfigError, match="nuisances need version 2"):
        load_limit_inputs(_write(tmp_path, raw))


def test_the_model_validates_what_the_producer_writes():
    # the producer builds LimitInputs(...) in memory: the current version, nuisances default []
    raw = _raw()
    del raw["version"]
    inputs = LimitInputs.model_validate(raw)
    assert inputs.version == 2
    assert all(p.nuisances == [] for p in inputs.periods)
