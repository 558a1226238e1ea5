"""The invisible selection in ROOT RDataFrame: cutflow, E_ECAL vs E_HCAL plane, timing.

    python benchmarks/bench_rdf.py --spec SPEC.json [--threads 0|N] [--out RESULT.json]
                                   [--hist OUT.root]

Runs with a Python that has ROOT (``pip install root``, see the ``bench`` extra); it does not
import na64reco. ``SPEC.json`` is written by ``benchmarks/run_all.py`` (``make_rdf_spec``): the
files, the constants of the one calibration set (as lists of doubles, handed to the C++ code as
``std::vector<double>``) and the cut set resolved for the period. The C++ port of the
reconstruction is ``benchmarks/rdf_invisible.h`` (declared with ``gInterpreter.Declare``);
this script generates ``na64rdf::cut_bits`` and ``na64rdf::blinded`` from the spec's cuts and
blinded regions (the analysis's signal box and, as ``run_analysis`` hides them by default, those
of the other shipped analyses), books the blinding filter ``all`` and one named ``Filter`` per
cut, each with a ``Count`` and a ``Histo2D`` of the plane, and runs the event loop once.
``--threads 0`` is single-threaded; ``N`` calls ``ROOT.EnableImplicitMT(N)``.

It writes (``--out``) the events, the wall and CPU seconds of the setup (declaring the C++,
building the graph) and of the event loop (which includes RDataFrame's just-in-time compilation
of the graph), the peak RSS, the cutflow and (``--hist``) the plane histograms
``plane/<period>/<stage>`` as TH2D.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
ECAL_AXIS = (150, 0.0, 150.0)  # processors/selection.py ECAL_AXIS, HCAL_AXIS
HCAL_AXIS = (120, 0.0, 120.0)
COLUMNS = (
    "trigger",
    "ecal_amp",
    "ecal_t",
    "hcal_amp",
    "hcal_t",
    "srd_amp",
    "srd_t",
    "veto_amp",
    "veto_t",
    "counter_amp",
    "counter_t",
    "mm_station",
    "mm_plane",
    "mm_strip",
    "mm_amp",
    "mm_t",
    "st_station",
    "st_plane",
    "st_wire",
    "st_t",
)


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _condition(cond: dict) -> str:
    """C++ of ``min <= x < max`` / ``x == equals`` with numpy's comparison precision.

    numpy 2 compares a float32 array with a Python float in float32 (the bound rounded to
    float32), a float64 or integer array in float64: ``kind`` is the variable's dtype kind.
    """
    x, kind = f"r.{cond['variable']}", cond["kind"]
    if kind == "int":
        x = f"(double){x}"

    def lit(v) -> str:
        if kind == "bool":
            return "true" if v else "false"
        return f"(float){float(v)!r}" if kind == "float" else f"{float(v)!r}"

    parts = []
    if cond.get("min") is not None:
        parts.append(f"{x} >= {lit(cond['min'])}")
    if cond.get("max") is not None:
        parts.append(f"{x} < {lit(cond['max'])}")
    if cond.get("equals") is not None:
        parts.append(f"{x} == {lit(cond['equals'])}")
    return " && ".join(f"({p})" for p in parts) or "true"


def cut_code(cuts: list[dict], blind_regions: list[list[dict]] = ()) -> str:
    """``unsigned na64rdf::cut_bits(const Reco&)``: bit i set when cut i passes;
    ``bool na64rdf::blinded(const Reco&)``: the event is in one of the blinded regions."""
    lines = ["namespace na64rdf {", "unsigned cut_bits(const Reco &r) {", "  unsigned b = 0;"]
    for i, cut in enumerate(cuts):
        cond = " && ".join(f"({_condition(c)})" for c in cut["conditions"])
        lines.append(f"  if ({cond}) b |= {1 << i}u;  // {cut['name']}")
    lines += ["  return b;", "}", "bool blinded(const Reco &r) {"]
    for conds in blind_regions:
        lines.append(f"  if ({' && '.join(f'({_condition(c)})' for c in conds)}) return true;")
    lines += ["  return false;", "}", "}"]
    return "\n".join(lines)


def _filters_graph(ROOT, d, cuts: list[str], period: str):
    """The textbook graph: a named Filter per cut, a Count and a Histo2D after each."""
    node = d.Filter("!hidden", "all")
    hists, counts = [], []

    def book(stage: str, n) -> None:
        model = ROOT.RDF.TH2DModel(f"{period}_{stage}", stage, *ECAL_AXIS, *HCAL_AXIS)
        hists.append(n.Histo2D(model, "ecal_e", "hcal_e"))
        counts.append(n.Count())

    book("all", node)
    for i, name in enumerate(cuts):
        node = node.Filter(f"(cutbits & {1 << i}u) != 0u", name)
        book(name, node)
    return lambda: ([c.GetValue() for c in counts], [h.GetValue() for h in hists])


def _stage_graph(ROOT, d, cuts: list[str], period: str):
    """One fill per event: a Histo3D of (E_ECAL, E_HCAL, last stage passed), -1 when blinded.

    The plane after stage k is the sum over the stages >= k, the cutflow its total (flow bins
    included); the same numbers as the filter graph with one histogram fill per event.
    """
    import numpy as np

    ROOT.gInterpreter.Declare(
        "namespace na64rdf { int stage(unsigned bits, bool hidden, int n) {"
        " if (hidden) return -1;"
        " int k = 0; while (k < n && ((bits >> k) & 1u)) ++k; return k; } }"
    )
    n = len(cuts)
    st = d.Define("stage", f"na64rdf::stage(cutbits, hidden, {n})")
    model = ROOT.RDF.TH3DModel("stages", "", *ECAL_AXIS, *HCAL_AXIS, n + 2, -1.5, n + 0.5)
    h3 = st.Histo3D(model, "ecal_e", "hcal_e", "stage")

    def get():
        h = h3.GetValue()
        nx, ny = h.GetNbinsX() + 2, h.GetNbinsY() + 2
        a = np.frombuffer(h.GetArray(), dtype=np.float64, count=h.GetNcells())
        a = a.reshape(h.GetNbinsZ() + 2, ny, nx)[2 : n + 3]  # z bins of stages 0..n
        cum = np.cumsum(a[::-1], axis=0)[::-1]  # plane after stage k: stages >= k
        planes = []
        for k in range(n + 1):
            h2 = ROOT.TH2D(f"{period}_{k}", "", *ECAL_AXIS, *HCAL_AXIS)
            h2.SetDirectory(ROOT.nullptr)
            flat = np.ascontiguousarray(cum[k]).ravel()
            h2.SetContent(flat)
            planes.append(h2)
        return [float(cum[k].sum()) for k in range(n + 1)], planes

    return get


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--spec", type=Path, required=True, help="spec JSON from run_all.py")
    ap.add_argument("--threads", type=int, default=0, help="0: single-threaded; N: implicit MT")
    ap.add_argument("--out", type=Path, default=None, help="result JSON")
    ap.add_argument("--hist", type=Path, default=None, help="plane histograms (ROOT file)")
    ap.add_argument(
        "--graph",
        choices=("filters", "stage"),
        default="filters",
        help="filters: a named Filter, a Count and a Histo2D per cut (default); stage: one "
        "Histo3D fill per event, planes and cutflow derived (the same numbers)",
    )
    ap.add_argument(
        "--read-only", action="store_true", help="only read the columns (RDataFrame's I/O floor)"
    )
    args = ap.parse_args()
    spec = json.loads(args.spec.read_text())

    t0, c0 = time.perf_counter(), _cpu()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "This distribution of ROOT is in alpha stage"
        import ROOT
    ROOT.gROOT.SetBatch(True)
    if args.threads > 0:
        ROOT.EnableImplicitMT(args.threads)
    if not ROOT.gInterpreter.Declare((HERE / "rdf_invisible.h").read_text()):
        raise RuntimeError("could not declare rdf_invisible.h")
    if not ROOT.gInterpreter.Declare(cut_code(spec["cuts"], spec["blind_regions"])):
        raise RuntimeError("could not declare the cut functions")
    for name, values in spec["constants"].items():
        vec = ROOT.std.vector["double"]()
        for v in values:
            vec.push_back(float(v))
        ROOT.na64rdf.set(name, vec)

    files = ROOT.std.vector["string"]()
    for f in spec["files"]:
        files.push_back(f)
    df = ROOT.RDataFrame(spec.get("tree", "events"), files)
    if args.read_only:  # touch every column the selection reads, nothing else
        ROOT.gInterpreter.Declare(
            "namespace na64rdf { template <class T> double touch(const T &x) { return x.size(); }"
            " double touch(unsigned short x) { return x; } }"
        )
        total = df.Define("x", " + ".join(f"na64rdf::touch({c})" for c in COLUMNS)).Sum("x")
        t1, c1 = time.perf_counter(), _cpu()
        total.GetValue()
        t2, c2 = time.perf_counter(), _cpu()
        result = {"events": int(df.Count().GetValue()), "threads": args.threads}
        result.update(loop_wall_s=t2 - t1, loop_cpu_s=c2 - c1, setup_wall_s=t1 - t0,
                      peak_rss_mib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      root_version=ROOT.__version__)  # fmt: skip
        text = json.dumps(result, indent=1)
        if args.out is not None:
            args.out.write_text(text)
        print(text)
        return 0
    cuts = [c["name"] for c in spec["cuts"]]
    d = (
        df.Define("reco", f"na64rdf::reconstruct({', '.join(COLUMNS)})")
        .Define("cutbits", "na64rdf::cut_bits(reco)")
        .Define("hidden", "na64rdf::blinded(reco)")
        .Define("ecal_e", "reco.ecal_e")
        .Define("hcal_e", "reco.hcal_e")
    )
    total = df.Count()
    period = spec["period"]
    stages = ["all", *cuts]
    if args.graph == "filters":
        get = _filters_graph(ROOT, d, cuts, period)
    else:
        get = _stage_graph(ROOT, d, cuts, period)
    t1, c1 = time.perf_counter(), _cpu()
    n_events = int(total.GetValue())  # runs the event loop (all results booked above)
    t2, c2 = time.perf_counter(), _cpu()
    counts, planes = get()

    # the cuts of the signal region are reported null, as na64 run does while blinded
    flow = {
        s: None if s in spec["signal_box"] else int(c) for s, c in zip(stages, counts, strict=True)
    }
    if args.hist is not None:
        out = ROOT.TFile.Open(str(args.hist), "RECREATE")
        folder = out.mkdir("plane").mkdir(period)
        folder.cd()
        for s, h in zip(stages, planes, strict=True):
            h.SetName(s)
            h.Write()
        out.Close()
    result = {
        "events": n_events,
        "threads": args.threads,
        "root_version": ROOT.__version__,
        "setup_wall_s": t1 - t0,
        "setup_cpu_s": c1 - c0,
        "loop_wall_s": t2 - t1,
        "loop_cpu_s": c2 - c1,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "graph": args.graph,
        "cutflow": {period: flow},
        "pid": os.getpid(),
    }
    text = json.dumps(result, indent=1)
    if args.out is not None:
        args.out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
