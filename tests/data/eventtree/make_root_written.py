"""Regenerate root_written.root with ROOT itself (run with a Python that has PyROOT).

A 5-event schema-v1 file written through TTree::Branch leaf lists, the way C++/PyROOT
converters write: fixed arrays as ``ecal_amp[2][6][6]/F``, hits as ``mm_strip[nmm]/s``.
"""

import json

import numpy as np
import ROOT

# write a file with ROOT itself
out = ROOT.TFile("root_written.root", "RECREATE")
tr = ROOT.TTree("events", "events")
bufs = {}


def mk(name, code, np_dtype, shape=()):
    a = np.zeros(shape or (1,), dtype=np_dtype)
    bufs[name] = a
    dims = "".join(f"[{s}]" for s in shape)
    tr.Branch(name, a, f"{name}{dims}/{code}")


mk("run", "I", "i4")
mk("spill", "I", "i4")
mk("event", "L", "i8")
mk("trigger", "s", "u2")
for p, sh in [
    ("ecal", (2, 6, 6)),
    ("hcal", (4, 3, 3)),
    ("srd", (3,)),
    ("veto", (6,)),
    ("counter", (4,)),
]:
    mk(p + "_amp", "F", "f4", sh)
    mk(p + "_t", "F", "f4", sh)
mk("nmm", "I", "i4")
mk("nst", "I", "i4")
for name, code, dt in [
    ("mm_station", "b", "u1"),
    ("mm_plane", "b", "u1"),
    ("mm_strip", "s", "u2"),
    ("mm_amp", "F", "f4"),
    ("mm_t", "F", "f4"),
]:
    a = np.zeros(100, dtype=dt)
    bufs[name] = a
    tr.Branch(name, a, f"{name}[nmm]/{code}")
for name, code, dt in [
    ("st_station", "b", "u1"),
    ("st_plane", "b", "u1"),
    ("st_wire", "s", "u2"),
    ("st_t", "F", "f4"),
]:
    a = np.zeros(100, dtype=dt)
    bufs[name] = a
    tr.Branch(name, a, f"{name}[nst]/{code}")
for i in range(5):
    bufs["run"][0] = 1234
    bufs["event"][0] = i
    bufs["trigger"][0] = 1
    bufs["ecal_amp"][1, 2, 3] = float(i)
    bufs["nmm"][0] = i
    bufs["mm_strip"][:i] = np.arange(i) + 10
    bufs["nst"][0] = 1
    bufs["st_wire"][0] = 7
    tr.Fill()
tr.Write()
ROOT.TObjString(
    json.dumps(
        {
            "schema_version": 1,
            "period": "2023B",
            "source": "written by ROOT (PyROOT TTree::Branch leaf lists), tests/data/eventtree",
        }
    )
).Write("na64_metadata")
out.Close()
print("ROOT OK")
