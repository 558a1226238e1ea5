"""The counting model in pyhf, and pyhf's asymptotic calculator (a cross-check only).

pyhf 0.7.6 facts: ``upper_limit(scan=None)`` ignores ``level`` (``toms748_scan`` with
``level=0.1`` is used), its ToyCalculator ``expected_pvalues`` breaks with numpy >= 2.4
(``percentile(interpolation=...)``), and its asymptotics are badly wrong at small counts
(~1.6 instead of 2.3 at 0 observed).
"""

from __future__ import annotations

from na64reco.limits.calculators import poisson_upper_limit
from na64reco.limits.counting import CL, CountingModel

__all__ = ["asymptotic_expected", "asymptotic_upper_limit", "pyhf_model"]


def pyhf_model(model: CountingModel, poi_max: float = 100.0):
    """The same model in pyhf: one channel per period, ``mu`` a normfactor on a signal of
    ``a_i`` events, normsys per period (hi = 1 + sigma, lo = 1/hi), a shared normsys for the
    common signal uncertainty, shapesys (gamma) or normsys (log-normal) on the background.
    Returns (pyhf.Model, function observed -> data)."""
    import pyhf

    pyhf.set_backend("numpy")
    channels = []
    for i in range(model.nbins):
        name = model.names[i] if i < len(model.names) else f"p{i}"
        sig_mods = [{"name": "mu", "type": "normfactor", "data": None}]
        su = model.signal_unc[i]
        if su > 0:
            sig_mods.append(
                {
                    "name": f"sig_{name}",
                    "type": "normsys",
                    "data": {"hi": 1 + su, "lo": 1 / (1 + su)},
                }
            )
        if model.signal_corr_unc > 0:
            c = model.signal_corr_unc
            sig_mods.append(
                {"name": "sig_common", "type": "normsys", "data": {"hi": 1 + c, "lo": 1 / (1 + c)}}
            )
        b, bu = model.background[i], model.background_unc[i]
        bkg_mods = []
        if b > 0 and bu > 0:
            if model.background_constraint == "gamma":
                bkg_mods.append({"name": f"bkg_{name}", "type": "shapesys", "data": [bu]})
            else:
                r = 1 + bu / b
                bkg_mods.append(
                    {"name": f"bkg_{name}", "type": "normsys", "data": {"hi": r, "lo": 1 / r}}
                )
        channels.append(
            {
                "name": name,
                "samples": [
                    {"name": "signal", "data": [model.signal_fraction[i]], "modifiers": sig_mods},
                    {"name": "background", "data": [max(b, 1e-9)], "modifiers": bkg_mods},
                ],
            }
        )
    spec = {"channels": channels, "parameters": [{"name": "mu", "bounds": [[0.0, poi_max]]}]}
    pmodel = pyhf.Model(spec, poi_name="mu")
    order = [c["name"] for c in channels]

    def data(observed):
        # pyhf orders channels alphabetically
        obs = dict(zip(order, observed, strict=True))
        return [float(obs[c]) for c in pmodel.config.channels] + list(pmodel.config.auxdata)

    return pmodel, data


def _asymptotic(model: CountingModel, observed, cl: float):
    import pyhf

    guess = poisson_upper_limit(int(sum(observed)), sum(model.background), cl)
    pmodel, data = pyhf_model(model, poi_max=40.0 * guess + 20.0)
    obs, exp = pyhf.infer.intervals.upper_limits.toms748_scan(
        data(observed),
        pmodel,
        0.0,
        20.0 * guess + 10.0,
        level=1.0 - cl,
        test_stat="qtilde",
        calctype="asymptotics",
    )
    return float(obs), [float(e) for e in exp]


def asymptotic_upper_limit(model: CountingModel, observed, cl: float = CL) -> float:
    """pyhf asymptotic CLs limit on mu (cross-check; wrong at small counts)."""
    return _asymptotic(model, observed, cl)[0]


def asymptotic_expected(model: CountingModel, cl: float = CL) -> list[float]:
    """pyhf asymptotic expected band (-2..+2 sigma) with the observed set to the background."""
    return _asymptotic(model, [round(b) for b in model.background], cl)[1]
