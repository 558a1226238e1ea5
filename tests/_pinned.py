"""The numbers of ``na64 analyze`` on the shipped sample that a refactoring must not change.

``pinned_numbers(results)`` extracts them from a ``results.json``: every cutflow, the
background per period, the signal efficiencies and the limit curves. The reference,
``tests/data/pinned/shipped_sample.json``, was made by ``python tests/_pinned.py RESULTS OUT``
on the code before the orchestration redesign; it changes only with a physics change (the
simulation, the calibration or the limit module), recorded in the commit that changes it.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

REFERENCE = Path(__file__).parent / "data" / "pinned" / "shipped_sample.json"


def pinned_numbers(results: dict) -> dict:
    background = {
        p["period"]: {
            "eot_live": p["eot"]["eot_live"],
            "sideband": {
                k: p["sideband"].get(k) for k in ("n_sideband", "expected", "stat", "syst")
            },
            "abcd": p["abcd"].get("expected"),
            "total": {k: p["total"][k] for k in ("expected", "stat", "syst")},
        }
        for p in results["background"]
    }
    efficiencies = {
        f"{e['model']}/{e['mass_gev']:g}/{e['period']}": [e["efficiency"], e["efficiency_stat"]]
        for e in results["efficiencies"]
    }
    limits = {
        model: {
            "masses_gev": res["masses_gev"],
            "expected": res["coupling"]["expected"],
            "n_up_expected": res.get("n_up", {}).get("expected"),
        }
        for model, res in sorted(results["limits"].items())
    }
    return {
        "cutflows": {name: run["cutflow"] for name, run in sorted(results["runs"].items())},
        "background": background,
        "efficiencies": efficiencies,
        "limits": limits,
    }


def assert_close(actual, expected, path: str = "", rel: float = 1e-9) -> None:
    """Equal structure, integers exactly, floats within ``rel``."""
    if isinstance(expected, dict):
        assert isinstance(actual, dict), f"{path}: {actual!r} is not a mapping"
        assert set(actual) == set(expected), f"{path}: keys {sorted(actual)} != {sorted(expected)}"
        for k in expected:
            assert_close(actual[k], expected[k], f"{path}.{k}", rel)
    elif isinstance(expected, list):
        assert isinstance(actual, list), f"{path}: {actual!r} is not a list"
        assert len(actual) == len(expected), path
        for i, (a, e) in enumerate(zip(actual, expected, strict=True)):
            assert_close(a, e, f"{path}[{i}]", rel)
    elif isinstance(expected, float) and not isinstance(expected, bool):
        assert isinstance(actual, int | float), f"{path}: {actual!r} != {expected!r}"
        assert math.isclose(actual, expected, rel_tol=rel, abs_tol=1e-300), (
            f"{path}: {actual!r} != {expected!r}"
        )
    else:
        assert actual == expected, f"{path}: {actual!r} != {expected!r}"


if __name__ == "__main__":
    numbers = pinned_numbers(json.loads(Path(sys.argv[1]).read_text()))
    Path(sys.argv[2]).write_text(json.dumps(numbers, indent=1, sort_keys=True) + "\n")
