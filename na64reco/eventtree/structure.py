"""The structure checks of an event tree: every contract branch (under an input map's source
names) with its type and shape, the hit layout of each collection (counted arrays or
``std::vector`` branches), complete baskets and readable first and last entries; see
``na64reco.eventtree.reader``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
from uproot.interpretation.jagged import AsJagged
from uproot.interpretation.numerical import AsDtype

from na64reco.errors import InputFileError
from na64reco.eventtree import contract
from na64reco.eventtree.inputmap import InputMap, _convert
from na64reco.eventtree.values import VALUE_BRANCHES, check_hit_counts, value_problem

__all__ = ["check_tree", "source_name"]

_COLLECTIONS: dict[str, list[contract.JaggedBranch]] = {}
for _b in contract.JAGGED_BRANCHES:
    _COLLECTIONS.setdefault(_b.collection, []).append(_b)
_JAGGED = {b.name: b for b in contract.JAGGED_BRANCHES}
_FIXED = {b.name: b for b in contract.ALL_FIXED_BRANCHES}


def _describe(interp: Any) -> str:
    if isinstance(interp, AsDtype):
        dt = interp.to_dtype
        return f"{dt.base}" + (f" with shape {list(dt.shape)}" if dt.shape else "")
    if isinstance(interp, AsJagged) and isinstance(interp.content, AsDtype):
        return f"jagged {interp.content.to_dtype}"
    return str(interp)


def _dtype_ok(found: np.dtype, expected: np.dtype, mapped: bool) -> bool:
    """The contract dtype; a mapped branch: any integer type for an integer branch, any
    integer or float type for a float branch (the map converts, checking the values fit)."""
    if not mapped:
        return found == expected
    return found.kind in ("iu" if expected.kind in "iu" else "iuf")


def source_name(spec_name: str, imap: InputMap | None) -> str:
    return imap.source_name(spec_name) if imap is not None else spec_name


def _check_fixed(path: Path, tree: Any, spec: contract.FixedBranch, imap: InputMap | None) -> None:
    name = source_name(spec.name, imap)
    shape = imap.source_shape(spec.name) if imap is not None else spec.shape
    mapped = imap is not None and imap.mapped(spec.name) is not None
    interp = tree[name].interpretation
    expected = f"{spec.dtype}" + (f" with shape {list(shape)}" if shape else "")
    ok = (
        isinstance(interp, AsDtype)
        and _dtype_ok(interp.to_dtype.base, spec.dtype, mapped)
        and interp.to_dtype.shape == shape
    )
    if not ok:
        label = spec.name if name == spec.name else f"{name} (for {spec.name})"
        raise InputFileError(
            path,
            f"branch {label}",
            f"wrong type: found {_describe(interp)} ({tree[name].title}), expected {expected}",
        )


def _check_jagged(
    path: Path, tree: Any, spec: contract.JaggedBranch, imap: InputMap | None, counted: bool
) -> None:
    name = source_name(spec.name, imap)
    mapped = imap is not None and imap.mapped(spec.name) is not None
    branch = tree[name]
    interp = branch.interpretation
    ok = (
        isinstance(interp, AsJagged)
        and isinstance(interp.content, AsDtype)
        and _dtype_ok(interp.content.to_dtype, spec.dtype, mapped)
    )
    label = spec.name if name == spec.name else f"{name} (for {spec.name})"
    if not ok:
        raise InputFileError(
            path,
            f"branch {label}",
            f"wrong type: found {_describe(interp)} ({branch.title}), expected jagged "
            f"{spec.dtype} (counted by {spec.counter}, or a std::vector)",
        )
    count = branch.count_branch
    if counted and count is not None and count.name != spec.counter:
        raise InputFileError(
            path,
            f"branch {label}",
            f"counted by {count.name!r}, expected {spec.counter!r}",
        )
    if count is not None and not counted:  # a counted array whose counter is elsewhere
        raise InputFileError(
            path, f"branch {label}", f"counted by {count.name!r}, expected {spec.counter!r}"
        )


def _check_complete(path: Path, tree: Any, check_data: bool, imap: InputMap | None) -> None:
    size = os.path.getsize(path)
    for branch in tree.branches:
        seeks = branch.member("fBasketSeek")[: branch.num_baskets]
        nbytes = branch.member("fBasketBytes")[: branch.num_baskets]
        if len(seeks) and int(np.max(np.asarray(seeks) + np.asarray(nbytes))) > size:
            raise InputFileError(
                path, f"branch {branch.name}", f"truncated: a basket ends beyond {size} bytes"
            )
    n = tree.num_entries
    if check_data and n > 0:
        for start in sorted({0, n - 1}):
            try:
                raw = tree.arrays(library="np", entry_start=start, entry_stop=start + 1)
            except Exception as exc:
                raise InputFileError(
                    path, f"tree {contract.TREE_NAME}", f"entry {start} unreadable: {exc}"
                ) from exc
            for name in sorted(VALUE_BRANCHES):
                values = raw.get(source_name(name, imap))
                if values is None:
                    continue
                if values.dtype == object:  # hit field: one array per entry
                    values = np.concatenate([np.asarray(v) for v in values])
                if imap is not None and imap.mapped(name) is not None:
                    spec = _FIXED.get(name) or _JAGGED[name]
                    values = _convert(values, imap.mapped(name), spec.dtype, name)
                problem = value_problem(name, values, np.full(len(values), start))
                if problem:
                    raise InputFileError(path, f"branch {name}", problem)


def _missing(path: Path, spec_name: str, imap: InputMap | None) -> InputFileError:
    name = source_name(spec_name, imap)
    where = "" if name == spec_name else f" (the input map's source for {spec_name})"
    return InputFileError(path, f"branch {name}", f"missing{where}")


def _is_vector(tree: Any, name: str) -> bool:
    """A std::vector<T> branch: jagged without a counter branch."""
    interp = tree[name].interpretation
    return isinstance(interp, AsJagged) and tree[name].count_branch is None


def check_tree(
    path: Path, tree: Any, check_data: bool, imap: InputMap | None = None
) -> tuple[int, list[str], dict[str, str]]:
    """Check branches, types and completeness; return (num_entries, branch names, the hit
    layout of each collection: "counted" or "vector")."""
    names = list(tree.keys(recursive=False))
    for spec in contract.FIXED_BRANCHES:
        if source_name(spec.name, imap) not in names:
            raise _missing(path, spec.name, imap)
        _check_fixed(path, tree, spec, imap)
    layouts: dict[str, str] = {}
    for coll, specs in _COLLECTIONS.items():
        counter = "n" + coll
        if counter in names:
            cinterp = tree[counter].interpretation
            if not (isinstance(cinterp, AsDtype) and cinterp.to_dtype == np.dtype("i4")):
                raise InputFileError(
                    path,
                    f"branch {counter}",
                    f"wrong type: found {_describe(cinterp)}, expected int32",
                )
        for spec in specs:
            if source_name(spec.name, imap) not in names:
                raise _missing(path, spec.name, imap)
        vectors = [_is_vector(tree, source_name(s.name, imap)) for s in specs]
        counted = not all(vectors)
        if counted and counter not in names:
            raise InputFileError(path, f"branch {counter}", "missing (hit counter)")
        for spec in specs:
            _check_jagged(path, tree, spec, imap, counted)
        layouts[coll] = "counted" if counted else "vector"
    for spec in contract.MC_BRANCHES:
        if source_name(spec.name, imap) in names:
            _check_fixed(path, tree, spec, imap)
    _check_complete(path, tree, check_data, imap)
    if check_data and tree.num_entries > 0:
        for coll, layout in layouts.items():
            if layout == "vector":  # no counter: the fields' own sizes must agree
                for start in sorted({0, tree.num_entries - 1}):
                    columns = [
                        (
                            source_name(s.name, imap),
                            tree[source_name(s.name, imap)].array(
                                entry_start=start, entry_stop=start + 1, library="ak"
                            ),
                        )
                        for s in _COLLECTIONS[coll]
                    ]
                    check_hit_counts(path, columns, start)
    return int(tree.num_entries), names, layouts
