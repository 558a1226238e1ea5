"""Cut sets: the shipped ones load, per-period values resolve, malformed files are clear errors."""

from __future__ import annotations

import numpy as np
import pytest

from na64reco.cutsets import VARIABLES, load_cutset
from na64reco.cutsets.evaluate import blind_mask, cut_masks, packed_selection
from na64reco.errors import ConfigError


def test_shipped_cut_sets():
    invisible = load_cutset("invisible")
    assert invisible.cut_names == [
        "trigger",
        "momentum",
        "srd",
        "pileup",
        "beam_cell",
        "shower_shape",
        "no_extra_charged",
        "veto",
        "hcal_zero",
        "box",
    ]  # the ten cuts of analysis.md
    assert invisible.signal_box == ["hcal_zero", "box"]
    assert load_cutset("dimuon").signal_box == []
    assert "muon_tag" in load_cutset("phi").cut_names


def test_per_period_values():
    cuts = {c.name: c for c in load_cutset("invisible").cuts}
    momentum = cuts["momentum"].conditions[0]
    assert momentum.bounds("2016")[:2] == (97.0, 103.0)  # 100 +- 3 GeV [paper 000]
    assert momentum.bounds("2022")[:2] == (90.0, 110.0)  # 100 +- 10 GeV [paper 001]
    srd = cuts["srd"].conditions[0]
    assert srd.bounds("2016")[:2] == (0.0066, 0.1)  # the most specific key wins
    assert srd.bounds("2018")[:2] == (0.001, 0.1)
    box = cuts["box"].conditions[0]
    assert [box.bounds(p)[1] for p in ("2016", "2018", "2021", "2022")] == [50, 50, 47, 50]


def test_masks_packed_selection_and_blinding():
    cutset = load_cutset("invisible")
    n = 6
    v = {name: np.zeros(n) for name in VARIABLES}
    v.update(
        trigger_physics=np.ones(n, bool),
        trigger_emulated=np.ones(n, bool),
        momentum=np.full(n, 100.0),
        srd_e=np.full(n, 0.02),
        in_beam_cell=np.ones(n, bool),
        ecal_ps=np.full(n, 2.0),
        shower_chi2=np.ones(n),
    )
    v["ecal_e"] = np.array([30.0, 60.0, 30.0, 30.0, 49.99, np.nan])
    v["hcal_e"] = np.array([0.2, 0.2, 5.0, 0.2, 0.99, 0.1])
    v["momentum"][3] = 95.0
    masks = cut_masks(cutset, v, "2016")
    sel = packed_selection(masks)
    assert sel.all(*cutset.cut_names).tolist() == [True, False, False, False, True, False]
    assert sel.all("trigger", "momentum").tolist() == [True, True, True, False, True, True]
    # the blinded region ignores the other cuts (event 3 fails the momentum cut but is hidden)
    assert blind_mask(cutset, masks).tolist() == [True, False, False, True, True, False]


@pytest.mark.parametrize(
    ("text", "key", "problem"),
    [
        (
            "name = 'x'\nversion = 1\ndescription = 'd'\nperiods = ['2016']\n"
            "[[cuts]]\nname = 'a'\ndoc = 'd'\nconditions = [{ variable = 'ecal_e', maxx = 5 }]\n",
            "cuts.0.conditions.0.maxx",
            "Extra inputs are not permitted",
        ),
        (
            "name = 'x'\nversion = 1\ndescription = 'd'\nperiods = ['2016']\n"
            "[[cuts]]\nname = 'a'\ndoc = 'd'\n"
            "conditions = [{ variable = 'ecal_energy', max = 5 }]\n",
            "cuts.0.conditions.0.variable",
            "unknown variable 'ecal_energy'",
        ),
        (
            "name = 'x'\nversion = 1\ndescription = 'd'\nperiods = ['2016', '2022']\n"
            "[[cuts]]\nname = 'a'\ndoc = 'd'\n"
            "conditions = [{ variable = 'ecal_e', max = { '2016-2018' = 50.0 } }]\n",
            "cuts.0.conditions.0",
            "no value for period 2022",
        ),
        (
            "name = 'x'\nversion = 1\ndescription = 'd'\nperiods = ['2019']\n"
            "[[cuts]]\nname = 'a'\ndoc = 'd'\nconditions = [{ variable = 'ecal_e', max = 5 }]\n",
            "periods",
            "unknown run period '2019'",
        ),
        (
            "name = 'x'\nversion = 1\ndescription = 'd'\nperiods = ['2016']\nsignal_box = ['bx']\n"
            "[[cuts]]\nname = 'a'\ndoc = 'd'\nconditions = [{ variable = 'ecal_e', max = 5 }]\n",
            "(top level)",
            "signal_box cut 'bx' is not one of the cuts",
        ),
        ("name = 'x'\nversion = 1\nperiods = [\n", "(file)", "malformed TOML"),
    ],
)
def test_malformed_cut_sets_name_file_and_key(tmp_path, text, key, problem):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_cutset(path)
    assert str(path) in str(info.value)
    assert info.value.key == key
    assert problem in info.value.problem


def test_missing_cut_set_file():
    with pytest.raises(ConfigError, match="cannot be read"):
        load_cutset("no_such_analysis")
