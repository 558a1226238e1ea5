"""The limit stage: limit inputs -> ``limit_<model>.json`` and its plots, the one way.

``limit_document(inputs, model, ...)`` is what ``na64 limit`` and the limits stage of
``na64 analyze`` both call, so their documents are the same (apart from the creation time, the
run time and the command that made them): the 90% CL scan (``na64reco.limits.scan``), the
inputs it rests on, the blinding status and record, the provenance (the inputs file with its
sha256) and the title. Inputs whose blinding record does not match are refused first
(``check_blinding``). Models without an efficiency table of their own take the table of their proxy
(``EFFICIENCY_PROXY``: the A' efficiencies for the other vector/scalar/axial bosons, since the
efficiency depends weakly on the boson type, paper 000), recorded in ``efficiency_proxy``.
Inputs with named nuisances (limit_inputs v2) add the systematic table per period
(``systematics``) and the impacts of the nuisances on N_up at the first, middle and last mass
(``ranking``, ``na64reco.limits.ranking``).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from na64reco.blinding.record import ChainRecord, check_chain_record
from na64reco.checksums import sha256_file
from na64reco.documents import plain, write_json
from na64reco.errors import ConfigError, OptionsError
from na64reco.limit_inputs import LimitInputs
from na64reco.limits.models import get_model
from na64reco.limits.nuisances import with_proxy_nuisances
from na64reco.limits.scan import inputs_summary, scan
from na64reco.provenance import provenance
from na64reco.schemas.limit import LIMIT_FORMAT, LIMIT_VERSION, LimitDocument

logger = logging.getLogger(__name__)

DEFAULT_MASSES = 50  # masses of a scan when none are given (log-spaced over the tables)
EFFICIENCY_PROXY = {
    "vector": "aprime",
    "scalar": "aprime",
    "pseudoscalar": "aprime",
    "axial": "aprime",
    "zprime": "aprime",
    "zprime_dark": "aprime",
}

__all__ = [
    "DEFAULT_MASSES",
    "EFFICIENCY_PROXY",
    "check_blinding",
    "limit_document",
    "limit_masses",
    "with_proxy_efficiencies",
    "write_limit",
]


def with_proxy_efficiencies(inputs: LimitInputs) -> tuple[LimitInputs, dict[str, str]]:
    """The inputs with a proxy table for every model that has none, and {model: proxy}."""
    used: dict[str, str] = {}
    periods = []
    for p in inputs.periods:
        tables = {t.model: t for t in p.efficiencies}
        nuisances = p.nuisances
        for model, proxy in EFFICIENCY_PROXY.items():
            if model not in tables and proxy in tables:
                tables[model] = tables[proxy].model_copy(update={"model": model})
                nuisances = with_proxy_nuisances(
                    p.model_copy(update={"nuisances": nuisances}), model, proxy
                )
                used[model] = proxy
        periods.append(
            p.model_copy(update={"efficiencies": list(tables.values()), "nuisances": nuisances})
        )
    return inputs.model_copy(update={"periods": periods}), used


def limit_masses(inputs: LimitInputs, model: str, n: int = DEFAULT_MASSES) -> np.ndarray:
    """``n`` log-spaced masses over the overlap of the model's validity range and every
    period's efficiency table (the one mass, when the tables hold a single one)."""
    lo, hi = get_model(model).mass_range_gev
    for p in inputs.periods:
        table = next((t for t in p.efficiencies if t.model == model), None)
        if table is None:
            raise OptionsError("model", f"period {p.period} has no efficiency table for {model}")
        lo, hi = max(lo, table.masses_gev[0]), min(hi, table.masses_gev[-1])
    if lo > hi:
        raise OptionsError(
            "model", f"{model}: the efficiency tables and the model's mass range do not overlap"
        )
    return np.array([lo]) if lo == hi or n == 1 else np.geomspace(lo, hi, n)


def check_blinding(inputs: LimitInputs, source: str | Path) -> ChainRecord | None:
    """The inputs' blinding record, checked (``na64reco.blinding.check_chain_record``); None for
    external inputs (published numbers: no record and no run outputs in their provenance).
    Inputs made from run outputs without a record, or with one that does not match, are
    refused (ConfigError naming the file)."""
    if inputs.blinding is None:
        if "run_outputs" in inputs.provenance:
            raise ConfigError(
                source,
                "blinding",
                "inputs made from run outputs (provenance.run_outputs) carry no blinding "
                "record: edited by hand or made by an older na64reco",
            )
        return None
    return check_chain_record(inputs.blinding, source, blinded=inputs.blinded)


def limit_document(
    inputs: LimitInputs,
    model: str,
    *,
    source: str | Path,
    masses: Any = None,
    n_masses: int = DEFAULT_MASSES,
    method: str = "auto",
    ntoys: int = 2000,
    seed: int = 20170101,
    yield_unc: float | None = None,
    alpha_d: float | None = None,
    mass_ratio: float | None = None,
    cross_section: str = "etl",
    command: str | None = None,
    pyhf_workspace: str | Path | None = None,
) -> dict:
    """The ``limit_<model>.json`` document of ``model`` from limit ``inputs`` read from
    ``source`` (see the module docstring); ``masses`` default to ``limit_masses``.
    ``pyhf_workspace``: a folder for one pyhf JSON workspace per mass
    (``na64reco.limits.workspace``), recorded in ``settings``."""
    record = check_blinding(inputs, source)
    inputs, proxies = with_proxy_efficiencies(inputs)
    if model not in inputs.models():
        raise OptionsError(
            "model",
            f"{source}: no efficiency table for model {model!r} "
            f"(has: {', '.join(sorted(inputs.models()))})",
        )
    if ntoys < 10:
        raise OptionsError("toys", "need at least 10 pseudo-experiments")
    if yield_unc is None:
        yield_unc = float(inputs.provenance.get("signal_yield_rel_unc", 0.0))
    grid = limit_masses(inputs, model, n_masses) if masses is None else np.asarray(masses)
    has_nuisances = any(p.nuisances for p in inputs.periods)
    configs: list | None = [] if pyhf_workspace is not None or has_nuisances else None
    try:
        result = scan(
            inputs,
            model,
            grid,
            method=method,
            ntoys=ntoys,
            seed=seed,
            signal_corr_unc=yield_unc,
            alpha_d=alpha_d,
            mass_ratio=mass_ratio,
            cross_section=cross_section,
            configs=configs,
        )
    except ValueError as exc:  # a mass outside the model's range, an unknown method
        raise OptionsError("masses" if "mass" in str(exc) else "method", str(exc)) from exc
    if pyhf_workspace is not None:
        from na64reco.limits.workspace import write_workspaces

        paths = write_workspaces(pyhf_workspace, configs, model=model, blinded=inputs.blinded)
        result["settings"]["pyhf_workspace"] = [str(p) for p in paths]
    if has_nuisances:
        from na64reco.limits.nuisances import systematic_table
        from na64reco.limits.ranking import ranking

        at = sorted({0, len(configs) // 2, len(configs) - 1})  # a few masses: ends and middle
        result["systematics"] = systematic_table(inputs)
        # toys take minutes a limit with nuisances: the ranking uses the hybrid CLs then
        rank_method = method if method in ("auto", "exact", "hybrid") else "hybrid"
        result["ranking"] = ranking([configs[i] for i in at], rank_method, ntoys, seed)
    result.update(
        format=LIMIT_FORMAT,
        version=LIMIT_VERSION,
        title=inputs.name.split(":")[0],
        efficiency_proxy=proxies.get(model),
        inputs=inputs_summary(inputs),
        blinding={
            "blinded": inputs.blinded,
            "observed": None if inputs.blinded else "limits from the observed counts",
            "record": None if record is None else record.model_dump(mode="json"),
        },
        provenance=provenance(
            command=command,
            inputs={
                "path": str(Path(source).resolve()),
                "sha256": sha256_file(source),
                "provenance": inputs.provenance,
            },
        ),
    )
    return LimitDocument.model_validate(plain(result, nan_as_null=True)).model_dump(mode="json")


def write_limit(doc: dict, out_dir: str | Path, plots: bool = True) -> list[Path]:
    """Write ``limit_<model>.json`` (and its plots) into ``out_dir``; the paths written."""
    from na64reco.limits.plots import make_limit_plots

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = write_json(out / f"limit_{doc['model']}.json", doc)
    return [path, *(make_limit_plots(doc, out) if plots else [])]
