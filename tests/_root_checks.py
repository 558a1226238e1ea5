"""What CERN ROOT itself makes of the toolkit's files: run with PyROOT as a subprocess, one ROOT
start-up for many files (``python _root_checks.py SPEC.json OUT.json``).

SPEC: ``{"macro": path, "convert": [[input, output, layout], ...], "calls": [[macro,
function, [string arguments]], ...], "trees": [{"path": p, "draw": [expression, ...]}],
"histograms": [path, ...]}``. OUT: the return code of every conversion (the example converter
``na64_convert`` loaded into ROOT's interpreter) and call, per tree its entries, metadata
string and the values ``TTree::Draw`` gives for every expression, per histogram file the
integral (flow bins included) of every TH1/TH2 by its path.
"""

from __future__ import annotations

import json
import sys
import warnings

warnings.simplefilter("ignore")  # the PyPI ROOT wheel warns that it is an alpha

import ROOT  # noqa: E402


def _draw(tree, expression: str) -> list[float]:
    tree.SetEstimate(max(1, tree.GetEntries()) * 400)
    n = tree.Draw(expression, "", "goff")
    values = tree.GetV1()
    return [float(values[i]) for i in range(n)]


def _integrals(directory, prefix: str, out: dict) -> None:
    for key in directory.GetListOfKeys():
        obj = key.ReadObj()
        name = f"{prefix}{key.GetName()}"
        if obj.InheritsFrom("TDirectory"):
            _integrals(obj, name + "/", out)
        elif obj.InheritsFrom("TH2"):
            out[name] = obj.Integral(0, obj.GetNbinsX() + 1, 0, obj.GetNbinsY() + 1)
        elif obj.InheritsFrom("TH1"):
            out[name] = obj.Integral(0, obj.GetNbinsX() + 1)


def main(spec_path: str, out_path: str) -> None:
    with open(spec_path) as fh:
        spec = json.load(fh)
    ROOT.gROOT.SetBatch(True)
    out: dict = {"convert": [], "calls": [], "trees": {}, "histograms": {}}
    if spec.get("convert"):
        ROOT.gInterpreter.LoadMacro(spec["macro"])
        for source, target, layout in spec["convert"]:
            out["convert"].append(int(ROOT.na64_convert(source, target, layout)))
    for macro, function, args in spec.get("calls", []):
        ROOT.gInterpreter.LoadMacro(macro)
        out["calls"].append(int(getattr(ROOT, function)(*args)))
    for item in spec.get("trees", []):
        f = ROOT.TFile.Open(item["path"])
        tree = f.Get("events")
        meta = f.Get("na64_metadata")
        out["trees"][item["path"]] = {
            "entries": int(tree.GetEntries()),
            "metadata": meta.GetString().Data() if meta else None,
            "draw": {e: _draw(tree, e) for e in item.get("draw", [])},
        }
        f.Close()
    for path in spec.get("histograms", []):
        f = ROOT.TFile.Open(path)
        integrals: dict = {}
        _integrals(f, "", integrals)
        out["histograms"][path] = integrals
        f.Close()
    with open(out_path, "w") as fh:
        json.dump(out, fh)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
