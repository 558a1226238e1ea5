"""The statistical model as pyhf JSON workspaces (``na64 limit ... --pyhf-workspace DIR``).

One workspace per mass point (``<model>_<mass>GeV.json``, pyhf workspace schema 1.0.0):

- channels = run periods, one bin each; samples ``signal`` (data: the period's share ``a_i`` of
  the total signal, so that the POI ``mu`` is the total number of signal events, our ``N_up``
  variable) and ``background`` (the expected background in the box);
- modifiers: normfactor ``mu`` on the signal; every named nuisance of the limit inputs (v2) as a
  normsys of its own name (the same name in several channels is one, correlated, parameter);
  the flat uncertainties of v1 as in the counting model: normsys ``sig_<period>`` (efficiency and
  EOT, log-normal hi = 1 + sigma, lo = 1/hi), normsys ``sig_common`` (the common yield
  uncertainty) and shapesys ``bkg_<period>`` (the background's stat (+) syst as a Poisson
  auxiliary measurement with tau = (b / sigma_b)^2, our "gamma" constraint; normsys with the
  log-normal constraint);
- observations: the observed box counts or, while blinded, the nominal backgrounds (an Asimov
  background-only data set: the index says which);
- the counting model's normsys factors are interpolated with code 1 (``hi^h``, ``lo^-h``): build
  the model with ``ws.model(modifier_settings=MODIFIER_SETTINGS)`` to have our likelihood exactly
  (pyhf's default code 4 differs inside +-1 sigma for asymmetric factors).

``index.json`` beside them lists per mass the file, our N_up (expected band and observed), the
effective exposure and the blinding status. ``asymptotic_limit(ws)`` is pyhf's asymptotic CLs
upper limit on mu (q~_mu), and ``asymptotic_cls_ours`` the same formula (arXiv:1007.1727 eqs.
57-66) from our own fits, to check pyhf's result independently.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy import optimize, stats

from na64reco.documents import write_json
from na64reco.limits.counting import CL, CountingModel
from na64reco.limits.fitting import Fitter, as_data
from na64reco.limits.pyhf_bridge import MODIFIER_SETTINGS, pyhf_channels
from na64reco.limits.teststat import qtilde_batch

__all__ = [
    "asymptotic_cls_ours",
    "asymptotic_limit",
    "asymptotic_limit_ours",
    "load_workspace",
    "workspace_spec",
    "write_workspaces",
]

SCHEMA_VERSION = "1.0.0"


def workspace_spec(
    model: CountingModel, observed=None, name: str = "na64", poi_max: float | None = None
) -> dict:
    """The pyhf workspace of ``model`` with ``observed`` counts (None: the nominal backgrounds)."""
    channels = pyhf_channels(model)
    data = model.background if observed is None else tuple(float(n) for n in observed)
    if poi_max is None:
        poi_max = 20.0 * (sum(data) + 10.0)
    return {
        "channels": channels,
        "observations": [
            {"name": c["name"], "data": [float(n)]} for c, n in zip(channels, data, strict=True)
        ],
        "measurements": [
            {
                "name": name,
                "config": {
                    "poi": "mu",
                    "parameters": [
                        {"name": "mu", "bounds": [[0.0, float(poi_max)]], "inits": [1.0]}
                    ],
                },
            }
        ],
        "version": SCHEMA_VERSION,
    }


def load_workspace(spec: dict):
    """``pyhf.Workspace(spec)`` after validation against pyhf's JSON schema (workspace.json);
    returns (workspace, model with code-1 normsys, data)."""
    import pyhf

    pyhf.set_backend("numpy")
    pyhf.schema.validate(spec, "workspace.json")
    ws = pyhf.Workspace(spec)
    pmodel = ws.model(modifier_settings=MODIFIER_SETTINGS)
    return ws, pmodel, ws.data(pmodel)


def asymptotic_limit(spec: dict, cl: float = CL, hi: float | None = None) -> float:
    """pyhf's asymptotic CLs upper limit on mu (test statistic q~_mu) of a workspace."""
    import pyhf

    _, pmodel, data = load_workspace(spec)
    top = hi or 0.5 * pmodel.config.suggested_bounds()[pmodel.config.poi_index][1]
    obs, _ = pyhf.infer.intervals.upper_limits.toms748_scan(
        data, pmodel, 0.01, top, level=1.0 - cl, test_stat="qtilde", calctype="asymptotics"
    )
    return float(obs)


def asymptotic_cls_ours(model: CountingModel, mu: float, observed) -> float:
    """The asymptotic CLs of q~_mu (arXiv:1007.1727; pyhf's AsymptoticCalculator convention:
    Asimov data at mu = 0 with the nuisances fitted to the data) from our own fits."""
    fitter = Fitter(model)
    n, a = as_data(model, observed)
    q, _ = qtilde_batch(fitter, mu, n, a)
    xb, _ = fitter.fit(n, a, mu=0.0)
    S, B, _ = fitter.rates(xb)
    aux_a = np.where(fitter.gauss, xb, 0.0)
    aux_a = np.where(fitter.gamma, fitter.taus * np.exp(xb), aux_a)
    qa, _ = qtilde_batch(fitter, mu, S + B, aux_a)
    sq, sqa = np.sqrt(max(float(q[0]), 0.0)), np.sqrt(max(float(qa[0]), 1e-300))
    t = sq - sqa if sq <= sqa else (sq**2 - sqa**2) / (2.0 * sqa)
    return float(stats.norm.cdf(-(t + sqa)) / stats.norm.cdf(-t))


def asymptotic_limit_ours(model: CountingModel, observed, cl: float = CL) -> float:
    """mu with ``asymptotic_cls_ours = 1 - cl``."""
    return float(
        optimize.brentq(
            lambda mu: asymptotic_cls_ours(model, mu, observed) - (1.0 - cl), 0.05, 200.0, xtol=1e-7
        )
    )


def write_workspaces(
    folder: str | Path, configs: list[dict], *, model: str, blinded: bool
) -> list[Path]:
    """One workspace per mass (``configs``: dicts with mass_gev, counting_model, observed,
    n_up, eot_eff) and ``index.json``; returns the paths written. Each workspace is validated
    (pyhf's schema and ``pyhf.Workspace``) before it is written."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written, entries = [], []
    for cfg in configs:
        mass = float(cfg["mass_gev"])
        spec = workspace_spec(
            cfg["counting_model"], None if blinded else cfg["observed"], f"{model}_{mass:.6g}GeV"
        )
        load_workspace(spec)
        path = write_json(folder / f"{model}_{mass:.6g}GeV.json", spec)
        written.append(path)
        entries.append(
            {
                "mass_gev": mass,
                "file": path.name,
                "n_up": cfg["n_up"],
                "eot_eff": cfg["eot_eff"],
                "nuisances": [h.name for h in cfg["counting_model"].nuisances],
            }
        )
    index = {
        "model": model,
        "poi": "mu = the total number of signal events in the box (summed over periods)",
        "observations": "nominal backgrounds (Asimov, blinded)" if blinded else "observed counts",
        "modifier_settings": MODIFIER_SETTINGS,
        "workspaces": entries,
    }
    written.append(write_json(folder / "index.json", index))
    return written
