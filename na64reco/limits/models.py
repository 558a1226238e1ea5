"""Registry of the invisible-boson models NA64-e sets limits on (papers 000-004).

MODELS[name] is a SignalModel with:
- coupling_name / coupling_label (for axes), mass_range_gev (ValueError outside it, naming the
  model, the mass and the range), coupling_power (2: N_sig ~ coupling^2 at fixed width);
- unit_yield(mass, downstream) = Y per EOT at unit coupling (limits.yields: N_i = EOT_i eff_i Y_i,
  paper 003 eqs. 11 and 15), yield_per_eot(coupling, mass, downstream);
- coupling_from_signal_limit(n_up, exposures, mass): the coupling with
  sum_i eot_eff_i Y_i(coupling, m) = n_up, exposures = [(EOT_i eff_i, Downstream_i)] (or one
  number and the default period); analytic (sqrt) except for the Z', where the invisible branching
  ratio and the width (resonant channel) depend on g_Z': fixed-point iteration on g (converges in
  a few steps, papers 001, 003);
- delta_a(coupling, mass): the g-2 contribution the model is confronted with, and
  g2_band(mass, n_sigma, measurement): the coupling band explaining the measured anomaly (nan
  where the sign of the contribution cannot explain it).

Models: "aprime" (dark photon, radiative + resonant e+ e- -> A' with Gamma(A' -> chi chi),
alpha_D = 0.1, m_A' = 3 m_chi; band: g_mu - 2 as in paper 002 Fig. 3), "vector", "scalar",
"pseudoscalar", "axial" (paper 000: g_X = eps e, radiative only as in that paper; band: Delta a_e
eq. 1 for S, V, eq. 2 for P, A), "zprime" (vanilla L_mu - L_tau, B_inv = nu nu / total),
"zprime_dark" (alpha_D = 0.1, m_Z'/m_chi = 3, chi chi dominates), "phi" (paper 004, h_mu_e,
single muon + missing energy selection). ``cross_section`` ("etl", "iww", "iww-k") chooses the
emission spectra (limits.yields).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from na64reco.limits import g2, yields
from na64reco.limits.downstream import Downstream
from na64reco.physics.emission import MASS_RANGES_GEV

__all__ = ["MODELS", "SignalModel", "get_model"]


@dataclass(frozen=True)
class SignalModel:
    """One invisible-boson model (see module docstring)."""

    name: str
    coupling_name: str
    coupling_label: str
    mass_range_gev: tuple[float, float]
    description: str
    emission_model: str = "vector"
    resonant: bool = False
    alpha_d: float = 0.0
    mass_ratio: float = 3.0
    band_n_sigma: float = 2.0
    coupling_power: int = 2
    cross_section: str = "etl"
    options: dict = field(default_factory=dict)

    # ---------------------------------------------------------------------------------------
    def check_mass(self, mass_gev) -> None:
        """ValueError naming the model, the mass and the valid range for masses outside it."""
        lo, hi = self.mass_range_gev
        for m in np.atleast_1d(np.asarray(mass_gev, dtype=float)).flat:
            if not (np.isfinite(m) and lo <= m <= hi):
                raise ValueError(
                    f"model {self.name!r}: mass {float(m)!r} GeV outside the valid range "
                    f"[{lo:g}, {hi:g}] GeV"
                )

    def _is_zprime(self) -> bool:
        return self.emission_model == "zprime"

    def _downstream(self, downstream, kw: dict) -> Downstream:
        if isinstance(downstream, int | float):  # the former positional e_box_gev
            kw = {**kw, "e_box_gev": float(downstream)}
            downstream = None
        return yields._downstream(
            downstream,
            kw.pop("beam_energy_gev", None),
            kw.pop("e_box_gev", None),
            kw.pop("min_muon_energy_gev", None),
        )

    def _unit_scalar(self, m: float, ds: Downstream, g_width: float, cs: str, sec: bool) -> float:
        base = "vector" if self.emission_model in ("vector", "zprime") else self.emission_model
        w, f = yields.radiative_terms(base, m, ds, cs, sec)
        if self.emission_model == "phi":
            return w * yields.phi_per_h2()
        if not (self.resonant or self._is_zprime()):
            return w
        if self._is_zprime():
            width = yields.zprime_width(m, g_width, self.alpha_d, self.mass_ratio)
            br = yields.zprime_invisible_fraction(m, g_width, self.alpha_d, self.mass_ratio)
            eps2 = yields.zprime_eps2(m, 1.0)
        else:
            width = float(yields.aprime_width(m, self.alpha_d, self.mass_ratio))
            br, eps2 = 1.0, 1.0
        res = yields.resonant_yield(m, max(width, 1e-12 * m), downstream=ds)
        return eps2 * br * (w + (w * res / f if f > 0 else 0.0))

    def unit_yield(self, mass_gev, downstream=None, *, width_coupling=None, **kw):
        """Y per EOT at unit coupling (per coupling^coupling_power), vectorised in mass.

        For the Z' the width and branching ratio are evaluated at width_coupling (default 1e-3,
        the size of the limits; the dependence is weak, see coupling_from_signal_limit)."""
        self.check_mass(mass_gev)
        kw = {**self.options, **kw}
        ds = self._downstream(downstream, kw)
        cs = kw.pop("cross_section", self.cross_section)
        sec = bool(kw.pop("secondaries", True))
        if kw:
            raise TypeError(f"unknown yield option(s): {', '.join(sorted(kw))}")
        gw = 1e-3 if width_coupling is None else float(width_coupling)
        ms = np.atleast_1d(np.asarray(mass_gev, dtype=float))
        out = np.array([self._unit_scalar(float(m), ds, gw, cs, sec) for m in ms.flat])
        out = out.reshape(ms.shape)
        return out if np.ndim(mass_gev) else float(out[0])

    def yield_per_eot(self, coupling, mass_gev, downstream=None, **kw):
        """Signal events per EOT (before efficiency) at the given coupling and mass."""
        c = float(np.asarray(coupling, dtype=float))
        if self._is_zprime():
            kw.setdefault("width_coupling", c)
        return c**self.coupling_power * self.unit_yield(mass_gev, downstream, **kw)

    def coupling_from_signal_limit(
        self,
        n_up: float,
        exposures,
        mass_gev,
        downstream=None,
        *,
        rtol: float = 1e-6,
        max_iter: int = 50,
        **kw,
    ):
        """Coupling at which sum_i eot_eff_i Y_i = n_up (the upper limit for a limit n_up).

        exposures: [(EOT_i eff_i, Downstream_i), ...], or one effective exposure (then
        ``downstream`` / the e_box_gev, beam_energy_gev options describe the period)."""
        if isinstance(exposures, int | float):
            exposures = [(float(exposures), downstream)]
        total = sum(float(e) for e, _ in exposures)
        if n_up <= 0 or total <= 0:
            raise ValueError(f"n_up and eot_eff must be > 0, got {n_up!r}, {total!r}")
        ms = np.atleast_1d(np.asarray(mass_gev, dtype=float))

        def rate(m: float, g_width: float | None) -> float:
            opts = dict(kw)
            if g_width is not None:
                opts["width_coupling"] = g_width
            return sum(e * float(self.unit_yield(m, ds, **opts)) for e, ds in exposures)

        out = np.empty(ms.shape)
        for i, m in enumerate(ms.flat):
            if not self._is_zprime():
                r = rate(float(m), None)
                out.flat[i] = (n_up / r) ** (1.0 / self.coupling_power) if r > 0 else np.inf
                continue
            g = 1e-3
            for _ in range(max_iter):
                r = rate(float(m), g)
                g_new = np.sqrt(n_up / r) if r > 0 else np.inf
                if not np.isfinite(g_new) or abs(g_new - g) <= rtol * g:
                    g = g_new
                    break
                g = g_new
            out.flat[i] = g
        return out if np.ndim(mass_gev) else float(out[0])

    # ---------------------------------------------------------------------------------------
    def delta_a(self, coupling, mass_gev):
        """The g-2 contribution of the model (Delta a_e for S/P/V/A, Delta a_mu otherwise)."""
        if self.name in ("vector", "scalar", "pseudoscalar", "axial"):
            return g2.delta_a_e(self.name, coupling, mass_gev)
        if self.name == "aprime":
            return g2.aprime_delta_a_mu(coupling, mass_gev)
        if self._is_zprime():
            return g2.zprime_delta_a_mu(coupling, mass_gev)
        return g2.phi_delta_a_mu(coupling, mass_gev)

    def g2_band(self, mass_gev, n_sigma: float | None = None, measurement=None):
        """(lo, hi) coupling band explaining the anomaly the model addresses; measurement =
        (central, sigma) of the Delta a it confronts (default: g2 module constants)."""
        ns = self.band_n_sigma if n_sigma is None else n_sigma
        if self.name in ("vector", "scalar", "pseudoscalar", "axial"):
            return g2.electron_g2_band(self.name, mass_gev, ns, measurement)
        kw = {} if measurement is None else {"measurement": tuple(measurement)}
        if self.name == "aprime":
            return g2.aprime_g2_band(mass_gev, ns, **kw)
        if self._is_zprime():
            return g2.zprime_g2_band(mass_gev, ns, **kw)
        return g2.phi_g2_band(mass_gev, ns, **kw)


def _em(name: str, label: str, desc: str, **kw) -> SignalModel:
    kw.setdefault("emission_model", name)
    return SignalModel(
        name,
        "epsilon" if name == "aprime" else f"epsilon_{name}",
        label,
        MASS_RANGES_GEV[kw["emission_model"]],
        desc,
        **kw,
    )


MODELS: dict[str, SignalModel] = {
    "aprime": _em(
        "aprime",
        r"$\epsilon$",
        "invisible dark photon A' (radiative + resonant e+e- -> A')",
        emission_model="vector",
        resonant=True,
        alpha_d=0.1,
    ),
    "vector": _em(
        "vector",
        r"$\epsilon_V$",
        "vector boson V coupled to electrons (paper 000)",
        band_n_sigma=1.0,
    ),
    "scalar": _em("scalar", r"$\epsilon_S$", "scalar boson S (paper 000)", band_n_sigma=1.0),
    "pseudoscalar": _em(
        "pseudoscalar", r"$\epsilon_P$", "pseudoscalar boson P (paper 000)", band_n_sigma=1.0
    ),
    "axial": _em("axial", r"$\epsilon_A$", "axial-vector boson A (paper 000)", band_n_sigma=1.0),
    "zprime": SignalModel(
        "zprime",
        "g_Z'",
        r"$g_{Z'}$",
        MASS_RANGES_GEV["zprime"],
        "vanilla L_mu - L_tau Z' (papers 001, 003)",
        emission_model="zprime",
    ),
    "zprime_dark": SignalModel(
        "zprime_dark",
        "g_Z'",
        r"$g_{Z'}$",
        MASS_RANGES_GEV["zprime"],
        "L_mu - L_tau Z' -> chi chi, alpha_D = 0.1, m_Z' = 3 m_chi",
        emission_model="zprime",
        alpha_d=0.1,
    ),
    "phi": SignalModel(
        "phi",
        "h_mu_e",
        r"$h_{\mu e}$",
        MASS_RANGES_GEV["phi"],
        "leptonic scalar phi, e Z -> mu Z phi (paper 004)",
        emission_model="phi",
        band_n_sigma=1.0,
    ),
}


def get_model(name: str) -> SignalModel:
    """MODELS[name] with a ValueError listing the known names."""
    try:
        return MODELS[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; known: {', '.join(MODELS)}") from None
