"""Input maps (``na64reco.eventtree.inputmap``): validated like the cut sets (file and key named),
applied exactly (names, shapes and places, scale and offset, the contract dtypes), and checked
against the sha256 a manifest recorded."""

from __future__ import annotations

import awkward as ak
import numpy as np
import pytest
from _root_tools import P348_MAP

from na64reco.errors import ConfigError, InputFileError
from na64reco.eventtree.inputmap import apply_input_map, load_input_map
from na64reco.fileset import FilesetEntry, entry_input_map

ECAL_5X6 = "[branches.ecal_amp]\nshape = [2, 5, 6]\n"
HEAD = 'format = "na64-input-map"\nversion = 1\nname = "t"\n'


def _load(tmp_path, body: str):
    path = tmp_path / "map.toml"
    path.write_text(HEAD + body)
    return load_input_map(path)


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ("[branches.ecal_ampl]\nsource = 'x'\n", "'ecal_ampl' is not a contract branch"),
        ("[branches.ecal_amp]\nshape = [2, 5]\n", "must have 3 positive axes"),
        ("[branches.ecal_amp]\nshape = [2, 7, 6]\n", "exceeds the contract's"),
        (
            ECAL_5X6 + "place = [[0, 1], [0, 1, 2], [0, 1, 2, 3, 4, 5]]\n",
            "place axis 1 has 3 entries, shape 5",
        ),
        (
            ECAL_5X6 + "place = [[0, 1], [0, 1, 2, 3, 6], [0, 1, 2, 3, 4, 5]]\n",
            "distinct indices in 0-5",
        ),
        ("[branches.mm_strip]\nshape = [3]\n", "a hit field takes source, scale and offset only"),
        ("[branches.run]\nscale = 2.0\n", "an integer branch takes integer offset"),
        ("[branches.ecal_t]\nscale = 0.0\n", "scale must not be 0"),
        (
            "[branches.run]\nsource = 'n'\n[branches.spill]\nsource = 'n'\n",
            "mapped to more than one branch",
        ),
        ("[branches.run]\nsorce = 'n'\n", "sorce"),
    ],
)
def test_bad_maps_name_the_file_and_the_problem(tmp_path, body, problem):
    with pytest.raises(ConfigError) as info:
        _load(tmp_path, body)
    assert "map.toml" in str(info.value)
    assert problem in str(info.value)


def test_format_and_version_are_checked(tmp_path):
    path = tmp_path / "map.toml"
    path.write_text(HEAD.replace("version = 1", "version = 2"))
    with pytest.raises(ConfigError, match="version"):
        load_input_map(path)
    path.write_text(HEAD.replace("na64-input-map", "na64-cutset"))
    with pytest.raises(ConfigError, match="format"):
        load_input_map(path)


def test_map_applies_names_places_units_and_types():
    imap = load_input_map(P348_MAP)
    n = 3
    amp = np.arange(n * 2 * 5 * 6, dtype=np.float64).reshape(n, 2, 5, 6)
    tdc = np.full((n, 2, 5, 6), 80, dtype=np.int32)  # a TDC count of another type
    columns = {
        "runNo": np.array([6035] * n, dtype=np.int64),
        "ECAL_ampl": amp,
        "ECAL_tdc": tdc,
        imap.source_name("mm_strip"): ak.Array([[1, 2], [], [3]]),
    }
    out = apply_input_map(imap, columns)
    assert out["run"].dtype == np.int32
    assert out["run"].tolist() == [6035] * n
    assert out["ecal_amp"].shape == (n, 2, 6, 6)
    assert out["ecal_amp"].dtype == np.float32
    np.testing.assert_array_equal(out["ecal_amp"][:, :, :5, :], amp)
    assert not out["ecal_amp"][:, :, 5, :].any()  # the absent column gets fill
    np.testing.assert_array_equal(out["ecal_t"][:, :, :5, :], 10.0)  # 80 counts x 1/8 ns
    assert out["mm_strip"].tolist() == [[1, 2], [], [3]]
    assert str(ak.type(out["mm_strip"]).content.content) == "uint16"


def test_values_that_do_not_fit_name_the_branch():
    imap = load_input_map(P348_MAP)
    trigger = np.array([1, 70000], dtype=np.int64)  # the contract's trigger is uint16
    with pytest.raises(ValueError, match=r"branch trigger: values in \[1, 70000\] do not fit"):
        apply_input_map(imap, {"trigMask": trigger})
    with pytest.raises(ValueError, match="branch trigger: float64 values for an integer"):
        apply_input_map(imap, {"trigMask": np.array([1.0])})


def test_a_changed_map_is_an_error_naming_the_file(tmp_path):
    path = tmp_path / "map.toml"
    path.write_text(P348_MAP.read_text())
    imap = load_input_map(path)
    entry = FilesetEntry(
        path=str(tmp_path / "run.root"),
        kind="physics",
        period="2022",
        run_min=6035,
        run_max=6035,
        events=1,
        sha256="0" * 64,
        input_map=str(path),
        input_map_sha256=imap.sha256,
    )
    assert entry_input_map(entry).sha256 == imap.sha256
    path.write_text(P348_MAP.read_text().replace("scale = 0.125", "scale = 0.25"))
    with pytest.raises(InputFileError, match="changed: sha256") as info:
        entry_input_map(entry)
    assert "run.root" in str(info.value)
