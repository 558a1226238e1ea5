"""The package layers import one way (docs/layout.md): no cycle between na64reco's packages,
function-level imports included (a lazy import must not hide a cycle)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TOP_LEVEL = {"processors": ROOT / "processors", "calib": ROOT / "calib"}


def _unit(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "na64reco":
        return None
    return parts[1] if len(parts) > 1 else "na64reco"


def _edges() -> dict[str, set[str]]:
    sources = [(p, None) for p in (ROOT / "na64reco").rglob("*.py")]
    sources += [(p, name) for name, d in TOP_LEVEL.items() for p in d.rglob("*.py")]
    edges: dict[str, set[str]] = {}
    for path, unit in sources:
        if unit is None:
            rel = path.relative_to(ROOT / "na64reco")
            unit = rel.parts[0].removesuffix(".py") if rel.parts[0] != "__init__.py" else "na64reco"
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            for name in names:
                target = _unit(name)
                if target is not None and target != unit:
                    edges.setdefault(unit, set()).add(target)
    return edges


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one package (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(set(edges) | {w for ws in edges.values() for w in ws}):
        if v not in index:
            visit(v)
    return out


def test_packages_import_one_way():
    edges = _edges()
    assert edges, "no imports found: the scan is broken"
    assert _cycles(edges) == []


def test_low_layers_do_not_reach_up():
    edges = _edges()
    high = {"run", "pipeline", "cli", "background", "processors", "calib"}
    for low in ("eventtree", "conditions", "documents", "errors", "cutsets", "calibration",
                "reco", "sim", "physics", "fileset"):  # fmt: skip
        assert not edges.get(low, set()) & high, (low, edges.get(low))
