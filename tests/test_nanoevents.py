"""NA64Schema with NanoEventsFactory and a processor.Runner over a written file."""

from __future__ import annotations

import awkward as ak
import numpy as np
import pytest
from coffea import processor
from coffea.nanoevents import NanoEventsFactory

from na64reco.eventtree import NA64Schema, write_events


@pytest.fixture
def events(event_file):
    path, batch = event_file
    factory = NanoEventsFactory.from_root({str(path): "events"}, schemaclass=NA64Schema)
    return factory.events(), batch


def test_collections(events):
    ev, batch = events
    assert ev.fields == [
        "run", "spill", "event", "trigger", "ECAL", "HCAL", "SRD", "VETO", "Counters", "MM",
        "Straw", "MC",
    ]  # fmt: skip
    assert len(ev) == 300
    assert ev.ECAL.fields == ["amp", "t"]
    assert ak.to_numpy(ev.ECAL.amp).shape == (300, 2, 6, 6)
    assert ak.to_numpy(ev.ECAL.amp).tobytes() == batch["ecal_amp"].tobytes()
    assert ak.to_numpy(ev.HCAL.t).tobytes() == batch["hcal_t"].tobytes()
    assert ak.to_numpy(ev.SRD.amp).shape == (300, 3)
    assert ak.to_numpy(ev.VETO.t).shape == (300, 6)
    assert ak.to_numpy(ev.Counters.amp).tobytes() == batch["counter_amp"].tobytes()
    # a section of the ECAL: slicing goes through the record
    assert ak.to_numpy(ev.ECAL[:, 1].amp).tobytes() == batch["ecal_amp"][:, 1].tobytes()
    assert ak.to_numpy(ev.event).tolist() == batch["event"].tolist()
    assert ev.trigger.type.content == ak.types.NumpyType("uint16")


def test_hit_collections(events):
    ev, batch = events
    assert ev.MM.fields == ["station", "plane", "strip", "amp", "t"]
    assert ev.Straw.fields == ["station", "plane", "wire", "t"]
    assert ev.MM.strip.tolist() == batch["mm"].strip.tolist()
    assert ev.Straw.wire.tolist() == batch["st"].wire.tolist()
    assert ak.num(ev.MM).tolist() == ak.num(batch["mm"]).tolist()
    assert "nmm" not in ev.fields


def test_mc_collection(events):
    ev, batch = events
    assert "mc_e_miss" not in ev.fields
    assert ev.MC.fields[:3] == ["process", "beam_pdg", "beam_energy"]
    assert ak.to_numpy(ev.MC.e_miss).tobytes() == batch["mc_e_miss"].tobytes()


def test_no_mc_collection_for_data(tmp_path, make_batch):
    path = write_events(tmp_path / "data.root", make_batch(20, seed=1), {})
    ev = NanoEventsFactory.from_root({str(path): "events"}, schemaclass=NA64Schema).events()
    assert "MC" not in ev.fields


def test_behaviours(events):
    ev, batch = events
    trig = batch["trigger"]
    assert ak.to_numpy(ev.is_physics_trigger).tolist() == ((trig & 1) != 0).tolist()
    assert ak.to_numpy(ev.is_beam_trigger).tolist() == ((trig & 2) != 0).tolist()
    assert ak.to_numpy(ev.is_random_trigger).tolist() == ((trig & 4) != 0).tolist()
    assert ak.to_numpy(ev.is_calibration_trigger).tolist() == ((trig & 8) != 0).tolist()
    assert ak.all(ev.MM[ev.MM.is_x].plane == 0)
    assert ak.all(ev.Straw[ev.Straw.is_y].plane == 1)
    assert ak.sum(ev.MM.is_x) + ak.sum(ev.MM.is_y) == ak.sum(ak.num(ev.MM))
    assert ev.MM.layout.content.parameters["__record__"] == "MMHit"


class HitCounter(processor.ProcessorABC):
    """Trivial processor: counts events, physics triggers and MM x hits; sums ECAL main."""

    def process(self, events):
        return {
            "n": len(events),
            "physics": int(ak.sum(events.is_physics_trigger)),
            "mm_x": int(ak.sum(ak.num(events.MM[events.MM.is_x]))),
            "ecal_main": float(np.sum(ak.to_numpy(events.ECAL.amp[:, 1]), dtype="f8")),
        }

    def postprocess(self, accumulator):
        return accumulator


def test_runner(tmp_path, make_batch):
    batches = [make_batch(120, seed=1), make_batch(80, seed=2)]
    files = {}
    for i, b in enumerate(batches):
        path = write_events(tmp_path / f"f{i}.root", b, {}, cluster_size=50)
        files[str(path)] = "events"
    runner = processor.Runner(
        executor=processor.IterativeExecutor(status=False),
        schema=NA64Schema,
        chunksize=50,
        align_clusters=True,
    )
    out = runner({"sample": {"files": files}}, processor_instance=HitCounter(), treename="events")
    assert out["n"] == 200
    trig = np.concatenate([b["trigger"] for b in batches])
    assert out["physics"] == int(np.sum(trig & 1 != 0))
    mm = ak.concatenate([b["mm"] for b in batches])
    assert out["mm_x"] == int(ak.sum(mm.plane == 0))
    ecal = np.concatenate([b["ecal_amp"][:, 1] for b in batches])
    assert out["ecal_main"] == pytest.approx(float(np.sum(ecal, dtype="f8")), rel=1e-9)
