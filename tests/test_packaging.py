"""The two README commands, the constraints CI installs, the dependency bounds, the public API,
the published output schemas and the one adapter of coffea internals."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

import na64reco

ROOT = Path(__file__).resolve().parents[1]


def _fenced_commands(readme: str) -> list[str]:
    return re.findall(r"```bash\n(python3 -m venv[^\n]*)\n```", readme)


def test_ci_runs_exactly_the_readme_test_command():
    main_command, test_command = _fenced_commands((ROOT / "README.md").read_text())
    assert "na64 analyze" in main_command
    assert test_command.endswith("&& pytest")
    ci = (ROOT / ".ci" / "run").read_text().strip().splitlines()[-1]
    assert ci == test_command
    for command in (main_command, test_command):
        assert "pip install -c constraints.txt " in command


def _constraints() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            pins[canonicalize_name(name)] = version
    return pins


def test_constraints_pin_every_dependency_within_its_bounds():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = _constraints()
    requirements = [*project["dependencies"], *project["optional-dependencies"]["test"]]
    for text in requirements:
        req = Requirement(text)
        name = canonicalize_name(req.name)
        assert name in pins, f"{req.name} is not pinned in constraints.txt"
        assert req.specifier.contains(pins[name], prereleases=True), (text, pins[name])
    coffea = next(Requirement(r) for r in project["dependencies"] if r.startswith("coffea"))
    assert not coffea.specifier.contains("2025.9.0")  # the checkpointer hook ships in 2025.10
    ruff = next(Requirement(r) for r in project["optional-dependencies"]["test"] if "ruff" in r)
    assert str(ruff.specifier) == f"=={pins['ruff']}"  # one ruff: new lint rules never surprise


def test_public_api_is_pinned_and_loads():
    assert na64reco.__all__ == [
        "__version__",
        "AnalyzeOptions",
        "ConfigError",
        "InputFileError",
        "NA64Error",
        "RunOptions",
        "analyze",
        "build_background",
        "limit_document",
        "load_calibration",
        "load_cutset",
        "load_fileset",
        "load_limit_inputs",
        "open_event_file",
        "run_analysis",
        "run_signal_efficiency",
        "scan",
        "simulate",
    ]
    for name in na64reco.__all__:
        assert getattr(na64reco, name) is not None, name


def test_published_schemas_are_current():
    from na64reco.schemas import json_schemas

    folder = ROOT / "docs" / "schemas"
    published = {p.name: json.loads(p.read_text()) for p in folder.glob("*.schema.json")}
    assert published == json_schemas(), "run: python -m na64reco.schemas docs/schemas"


def test_coffea_internals_the_adapter_relies_on_exist():
    """Fails loudly when a coffea release moves what ``na64reco.run.coffea_adapter`` uses."""
    import inspect

    from coffea import processor
    from coffea.processor.executor import FileMeta, WorkItem
    from coffea.util import coffea_console

    from na64reco.run.coffea_adapter import COFFEA_METADATA_KEYS, WORK_ITEM_FIELDS

    assert hasattr(coffea_console, "quiet")
    assert set(inspect.signature(FileMeta).parameters) >= {"dataset", "filename", "treename"}
    assert set(WORK_ITEM_FIELDS) <= set(inspect.signature(WorkItem).parameters)
    runner = inspect.signature(processor.Runner).parameters
    assert {"checkpointer", "metadata_cache", "align_clusters"} <= set(runner)
    source = inspect.getsource(processor.executor)
    for key in COFFEA_METADATA_KEYS:
        assert f'"{key}"' in source, f"coffea no longer reads the metadata key {key!r}"


def test_every_package_is_installed():
    """A wheel holds every package of the tree (an editable install would hide a missing one)."""
    listed = set(
        tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    )
    found = {
        ".".join(p.relative_to(ROOT).parent.parts) for p in (ROOT / "na64reco").rglob("__init__.py")
    }
    assert found <= listed, sorted(found - listed)
