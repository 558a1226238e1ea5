"""Fuzzing the reader: a corrupted event file is read or refused with InputFileError, never more.

A small valid file (300 events, 3 clusters, MC branches) is written once; each example flips
1-16 bytes, truncates the file or zeroes a range, at offsets drawn from the whole file or from
one of its regions (header, top directory and keys, streamers, metadata, baskets, tail). Then
``open_event_file(path, check_data=True)`` and ``arrays()`` of every branch must either succeed
with a consistent result or raise ``InputFileError`` naming the path; any other exception, or a
case using more than ``NA64_FUZZ_TIMEOUT_S`` (10) seconds of CPU or twelve times that of wall
time (a hang), fails the test.

``NA64_FUZZ_EXAMPLES`` sets the number of examples (default 300, ~15 s). The examples are
derandomised (the same every run, so CI is reproducible) unless ``NA64_FUZZ_RANDOM=1``. Crashes
found once stay as explicit ``@example`` reproducers.
"""

from __future__ import annotations

import collections
import contextlib
import os
import signal
from pathlib import Path

import numpy as np
import pytest
import uproot
from conftest import generate_batch
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from na64reco.errors import InputFileError
from na64reco.eventtree import contract, open_event_file, write_events

N_EXAMPLES = int(os.environ.get("NA64_FUZZ_EXAMPLES", "300"))
TIMEOUT_S = float(os.environ.get("NA64_FUZZ_TIMEOUT_S", "10"))  # CPU seconds per case
WALL_TIMEOUT_S = 12 * TIMEOUT_S  # wall seconds per case (a blocked read)
RANDOM = os.environ.get("NA64_FUZZ_RANDOM", "") not in ("", "0")
N_EVENTS = 300
OUTCOMES: collections.Counter = collections.Counter()


class Hang(BaseException):
    """A case ran past TIMEOUT_S (not an Exception: the reader's handlers must not catch it)."""


@contextlib.contextmanager
def time_limit(cpu_seconds: float, wall_seconds: float):
    """Raise Hang after ``cpu_seconds`` of CPU time (SIGPROF: a busy loop; a loaded CI box does
    not trip it) or ``wall_seconds`` of wall time (SIGALRM: a blocked read). The tests run in the
    main thread. A signal may land where an exception cannot propagate (a ``__del__``): it is
    also remembered, and Hang is raised again when the block ends."""
    fired: list[str] = []

    def on_signal(signum, frame):
        fired.append(signal.Signals(signum).name)
        raise Hang(f"no result after {cpu_seconds} s of CPU or {wall_seconds} s ({fired[0]})")

    timers = ((signal.SIGPROF, signal.ITIMER_PROF, cpu_seconds),
              (signal.SIGALRM, signal.ITIMER_REAL, wall_seconds))  # fmt: skip
    previous = {signum: signal.signal(signum, on_signal) for signum, _, _ in timers}
    for _, timer, seconds in timers:
        signal.setitimer(timer, seconds)
    try:
        yield
    finally:
        for signum, timer, _ in timers:
            signal.setitimer(timer, 0)
            signal.signal(signum, previous[signum])
    if fired:
        raise Hang(f"no result after {cpu_seconds} s of CPU or {wall_seconds} s ({fired[0]})")


class Pristine:
    """The valid file's bytes, its regions (name -> (start, stop)) and a scratch path."""

    def __init__(self, data: bytes, regions: dict, path: Path) -> None:
        self.data, self.regions, self.path = data, regions, path

    def __repr__(self) -> str:  # hypothesis prints the arguments of a failing example
        return f"Pristine({len(self.data)} bytes, {self.regions})"


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> Pristine:
    """The valid file (300 events in 3 clusters, MC branches) and its regions."""
    folder = tmp_path_factory.mktemp("fuzz")
    good = folder / "good.root"
    metadata = {"period": "2016", "simulation": True, "seed": 11, "eot": 1.0e6}
    write_events(good, generate_batch(N_EVENTS, seed=11, mc=True), metadata, cluster_size=100)
    data = good.read_bytes()
    with uproot.open(good) as f:
        top = f.file
        regions = {
            "header": (0, top.fBEGIN),
            "streamers": (top.fSeekInfo, top.fSeekInfo + top.fNbytesInfo),
            "tail": (top.fSeekFree, top.fEND),
        }
        branch = f[contract.TREE_NAME]["ecal_amp"]
        seek = int(branch.member("fBasketSeek")[1])
        regions["basket"] = (seek, seek + int(branch.member("fBasketBytes")[1]))
        key = f.key(contract.METADATA_NAME)
        regions["metadata"] = (key.fSeekKey, key.fSeekKey + key.fNbytes)
        key = f.key(contract.TREE_NAME)
        regions["tree"] = (key.fSeekKey, key.fSeekKey + key.fNbytes)
    assert all(0 <= a < b <= len(data) for a, b in regions.values()), regions
    return Pristine(data, regions, folder / "case.root")


REGIONS = ("anywhere", "header", "streamers", "tail", "basket", "metadata", "tree")


@st.composite
def mutations(draw) -> tuple:
    """("flip", region, [(pos, xor)]), ("truncate", fraction) or ("zero", region, pos, length);
    positions are fractions in [0, 1) of the region, resolved against the real file."""
    kind = draw(st.sampled_from(["flip", "flip", "truncate", "zero"]))
    frac = st.floats(0.0, 1.0, exclude_max=True)
    if kind == "truncate":
        return ("truncate", draw(frac))
    region = draw(st.sampled_from(REGIONS))
    if kind == "flip":
        n = draw(st.integers(1, 16))
        flips = draw(st.lists(st.tuples(frac, st.integers(1, 255)), min_size=n, max_size=n))
        return ("flip", region, flips)
    return ("zero", region, draw(frac), draw(st.integers(1, 512)))


def apply(mutation: tuple, data: bytes, regions: dict) -> bytes:
    """The corrupted bytes of one mutation."""
    if mutation[0] == "truncate":
        return data[: int(mutation[1] * len(data))]
    start, stop = regions.get(mutation[1], (0, len(data)))

    def at(f: float) -> int:
        return start + int(f * (stop - start))

    out = bytearray(data)
    if mutation[0] == "flip":
        for f, xor in mutation[2]:
            out[at(f)] ^= xor
    else:
        pos = at(mutation[2])
        out[pos : pos + mutation[3]] = bytes(len(out[pos : pos + mutation[3]]))
    return bytes(out)


def read_everything(path: Path) -> str:
    """Open and read every branch; "read" or "refused: <item>". Anything else propagates."""
    refused = None
    try:
        with time_limit(TIMEOUT_S, WALL_TIMEOUT_S):
            ef = open_event_file(path, check_data=True)
            arrays = ef.arrays()
    except InputFileError as exc:
        refused = exc
    if refused is not None:
        assert refused.path == str(path)
        assert str(path) in str(refused)
        return f"refused: {refused.item}"
    n = ef.num_entries
    for name, values in arrays.items():
        assert len(values) == n, name
    for coll in ("mm", "st"):
        assert np.all(np.asarray(arrays[coll][arrays[coll].fields[0]].layout.offsets)[-1] >= 0)
    return "read"


@settings(
    max_examples=N_EXAMPLES,
    deadline=None,  # the time limit is the SIGALRM guard: timings on a shared CI box vary
    derandomize=not RANDOM,
    database=None,
    phases=[Phase.explicit, Phase.generate, Phase.shrink],  # no (slow, traced) explain phase
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(mutation=mutations())
@example(mutation=("truncate", 0.0))
@example(mutation=("truncate", 0.5))
@example(mutation=("zero", "streamers", 0.0, 512))
@example(mutation=("zero", "basket", 0.5, 64))
@example(mutation=("flip", "header", [(0.1, 0xFF)]))
# found by fuzzing: a flip in an mm_t basket's entry offsets gave hit fields of different
# lengths, and ak.zip raised ValueError (now InputFileError naming the branch)
@example(mutation=("flip", "anywhere", [(0.6953125, 105)]))
def test_corrupted_file_is_read_or_refused(pristine, mutation):
    pristine.path.write_bytes(apply(mutation, pristine.data, pristine.regions))
    OUTCOMES[read_everything(pristine.path)] += 1


def test_pristine_file_reads(pristine):
    pristine.path.write_bytes(pristine.data)
    assert read_everything(pristine.path) == "read"


def test_fuzz_report(pristine):
    """Print the outcomes (run with -s): how many cases were tried and how they ended."""
    if OUTCOMES:
        total = sum(OUTCOMES.values())
        print(f"\nreader fuzzing: {total} cases")
        for outcome, count in OUTCOMES.most_common():
            print(f"  {count:6d}  {outcome}")
    assert all(k == "read" or k.startswith("refused: ") for k in OUTCOMES)
