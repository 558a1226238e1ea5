"""The counting model in pyhf, and pyhf's asymptotic calculator (a cross-check only).

pyhf 0.7.6 facts: ``upper_limit(scan=None)`` ignores ``level`` (``toms748_scan`` with
``level=0.1`` is used), its ToyCalculator ``expected_pvalues`` breaks with numpy >= 2.4
(``percentile(interpolation=...)``), and its asymptotics are badly wrong at small counts
(~1.6 instead of 2.3 at 0 observed), and its ``Model`` interpolates normsys with code 4 unless
told otherwise (``MODIFIER_SETTINGS`` makes it code 1, the counting model's). The channels are
also those of the exported JSON workspaces (``na64reco.limits.workspace``).
"""

from __future__ import annotations

from na64reco.limits.calculators import poisson_upper_limit
from na64reco.limits.counting import CL, CountingModel

__all__ = [
    "MODIFIER_SETTINGS",
    "asymptotic_expected",
    "asymptotic_upper_limit",
    "pyhf_channels",
    "pyhf_model",
]


def _normsys(name: str, hi: float, lo: float) -> dict:
    return {"name": name, "type": "normsys", "data": {"hi": float(hi), "lo": float(lo)}}


def pyhf_channels(model: CountingModel) -> list[dict]:
    """The model's pyhf channels: one per period (named after it), samples ``signal`` (data
    ``a_i``, the period's share of mu; normfactor ``mu``) and ``background``. Modifiers: the
    legacy uncertainties as normsys ``sig_<period>`` (hi = 1 + sigma, lo = 1/hi), a shared
    normsys ``sig_common``, shapesys (gamma) or normsys (log-normal) ``bkg_<period>`` on the
    background; every named nuisance as a normsys of its own name on the signal and/or the
    background of the periods it touches (one name in several channels: one parameter)."""
    channels = []
    for i in range(model.nbins):
        name = model.names[i] if i < len(model.names) else f"p{i}"
        sig_mods = [{"name": "mu", "type": "normfactor", "data": None}]
        su = model.signal_unc[i]
        if su > 0:
            sig_mods.append(_normsys(f"sig_{name}", 1 + su, 1 / (1 + su)))
        if model.signal_corr_unc > 0:
            c = model.signal_corr_unc
            sig_mods.append(_normsys("sig_common", 1 + c, 1 / (1 + c)))
        b, bu = model.background[i], model.background_unc[i]
        bkg_mods = []
        if b > 0 and bu > 0:
            if model.background_constraint == "gamma":
                bkg_mods.append({"name": f"bkg_{name}", "type": "shapesys", "data": [bu]})
            else:
                r = 1 + bu / b
                bkg_mods.append(_normsys(f"bkg_{name}", r, 1 / r))
        for h in model.nuisances:
            if h.signal_up[i] != 1 or h.signal_down[i] != 1:
                sig_mods.append(_normsys(h.name, h.signal_up[i], h.signal_down[i]))
            if b > 0 and (h.background_up[i] != 1 or h.background_down[i] != 1):
                bkg_mods.append(_normsys(h.name, h.background_up[i], h.background_down[i]))
        channels.append(
            {
                "name": name,
                "samples": [
                    {"name": "signal", "data": [model.signal_fraction[i]], "modifiers": sig_mods},
                    {"name": "background", "data": [max(b, 1e-9)], "modifiers": bkg_mods},
                ],
            }
        )
    return channels


#: pyhf's Model defaults to normsys code 4 (polynomial inside +-1 sigma); the counting model's
#: factors are code 1 (hi^h, lo^-h): the pyhf model is built with it, so both are one likelihood
MODIFIER_SETTINGS = {"normsys": {"interpcode": "code1"}, "histosys": {"interpcode": "code0"}}


def pyhf_model(model: CountingModel, poi_max: float = 100.0):
    """The same model in pyhf (``pyhf_channels``, normsys interpolation code 1:
    ``MODIFIER_SETTINGS``). Returns (pyhf.Model, function observed -> data)."""
    import pyhf

    pyhf.set_backend("numpy")
    channels = pyhf_channels(model)
    spec = {"channels": channels, "parameters": [{"name": "mu", "bounds": [[0.0, poi_max]]}]}
    pmodel = pyhf.Model(spec, poi_name="mu", modifier_settings=MODIFIER_SETTINGS)
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
