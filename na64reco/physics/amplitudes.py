"""Spin-summed squared matrix elements of l(p) + gamma*(q) -> l'(p') + X(k), contracted with the
nucleus current, for the exact tree-level (ETL) cross sections of e Z -> e Z X and e Z -> mu Z phi.

The two tree diagrams (photon absorbed before / after the emission of X):

    O = Gamma (s/ + m_i1) P/ / D1  +  P/ (u/ + m_i2) Gamma / D2,
    s = p + q, D1 = s^2 - m_e^2,   u = p - k, D2 = u^2 - m_f^2,

with P = P_i + P_f the (spin-0) nucleus current, the incoming lepton an electron (mass m_e) and the
outgoing one of mass m_f (m_e, or m_mu for phi), and

    T = sum_spins,pol |ubar(p') O u(p)|^2 = Tr[(p'/ + m_f) O (p/ + m_e) Obar],

summed over the X polarisations (massive vector: -g + k k / M^2). Vertices Gamma (couplings
stripped; L = g lbar Gamma l X): scalar 1, pseudoscalar i gamma5, vector gamma^mu, axial
gamma^mu gamma5, phi P_L = (1 - gamma5)/2 (L = -h mu_R-bar e_L phi*, i.e. the e -> mu phi vertex of
paper 004 eq. 2 read for an incoming electron).

The traces are done symbolically (physics.dirac) and expressed through the kinematic invariants
with p'^2 = m_f^2 used to eliminate k.q:

    p.q = (D1 + t)/2,  p.k = (m_e^2 + M^2 - m_f^2 - D2)/2,  k.q = (D1 + D2)/2,  q^2 = -t,

leaving T as a Laurent polynomial in D1, D2, t and the nucleus invariants P.p, P.k, P.q, P.P.
Gauge invariance (q_mu T^{mu nu} = 0) is checked in the tests, as is every model against an
explicit 4 x 4 matrix evaluation.
"""

from __future__ import annotations

from functools import cache, lru_cache

import numpy as np

from na64reco.physics.dirac import (
    G5,
    Poly,
    dirac,
    dirac_bar,
    dirac_mul,
    dirac_sum,
    trace,
)

__all__ = ["ETL_MODELS", "SquaredAmplitude", "squared_amplitude", "symbolic_squared_amplitude"]

#: models with an exact tree-level squared amplitude ("zprime" is "vector" times |Pi|^2)
ETL_MODELS = ("vector", "scalar", "pseudoscalar", "axial", "phi")


def _vertex(model: str, index: str) -> list:
    """Gamma of the X vertex (index: the open Lorentz index of a vector / axial vertex)."""
    from fractions import Fraction

    if model == "scalar":
        return dirac()
    if model == "pseudoscalar":
        return dirac(G5)  # i gamma5: the two factors i of O and Obar give the same |M|^2
    if model == "vector":
        return dirac(index)
    if model == "axial":
        return dirac(index, G5)
    if model == "phi":
        return dirac_sum(dirac(coeff=Fraction(1, 2)), dirac(G5, coeff=Fraction(-1, 2)))
    raise ValueError(f"no ETL amplitude for model {model!r}; known: {', '.join(ETL_MODELS)}")


def _o_operator(model: str, gamma: list) -> list:
    d1 = Poly.sym("D1", -1)
    d2 = Poly.sym("D2", -1)
    diag1 = dirac_mul(gamma, dirac_sum(dirac("s"), dirac(coeff="me")), dirac("P"))
    diag2 = dirac_mul(dirac("P"), dirac_sum(dirac("u"), dirac(coeff="mf")), gamma)
    return dirac_sum(
        [(c * d1, f) for c, f in diag1],
        [(c * d2, f) for c, f in diag2],
    )


def _trace_for(model: str, gamma_left: list, gamma_right: list) -> Poly:
    o = _o_operator(model, gamma_left)
    obar = dirac_bar(_o_operator(model, gamma_right))
    expr = dirac_mul(
        dirac_sum(dirac("pf"), dirac(coeff="mf")),
        o,
        dirac_sum(dirac("p"), dirac(coeff="me")),
        obar,
    )
    return trace(expr)


_COMPOSITES = {
    "pf": {"p": 1, "q": 1, "k": -1},
    "s": {"p": 1, "q": 1},
    "u": {"p": 1, "k": -1},
}


def _basis_dot(a: str, b: str) -> Poly:
    a, b = sorted((a, b))
    table = {
        ("p", "p"): Poly.sym("me", 2),
        ("k", "k"): Poly.sym("M", 2),
        ("q", "q"): -Poly.sym("t"),
        ("P", "P"): Poly.sym("PP"),
        ("P", "p"): Poly.sym("Pp"),
        ("P", "k"): Poly.sym("Pk"),
        ("P", "q"): Poly.sym("Pq"),
        ("p", "q"): (Poly.sym("D1") + Poly.sym("t")) * _frac(1, 2),
        ("k", "p"): (Poly.sym("me", 2) + Poly.sym("M", 2) - Poly.sym("mf", 2) - Poly.sym("D2"))
        * _frac(1, 2),
        ("k", "q"): (Poly.sym("D1") + Poly.sym("D2")) * _frac(1, 2),
    }
    return table[(a, b)]


def _frac(a: int, b: int) -> Poly:
    from fractions import Fraction

    return Poly({(): Fraction(a, b)})


def _expand_dot(a: str, b: str) -> Poly:
    ea = _COMPOSITES.get(a, {a: 1})
    eb = _COMPOSITES.get(b, {b: 1})
    out = Poly()
    for va, ca in ea.items():
        for vb, cb in eb.items():
            out = out + _basis_dot(va, vb) * (ca * cb)
    return out


def _to_invariants(p: Poly) -> Poly:
    """Replace every scalar product of (composite) vectors by the kinematic invariants."""
    out = Poly()
    cache: dict[str, Poly] = {}
    for mono, c in p.terms.items():
        term = Poly({(): c})
        for s, pw in mono:
            if "." in s:
                if s not in cache:
                    a, b = s.split(".")
                    cache[s] = _expand_dot(a, b)
                term = term * cache[s] ** pw
            else:
                term = term * Poly.sym(s, pw)
        out = out + term
    return out


@cache
def symbolic_squared_amplitude(model: str) -> Poly:
    """T of the module docstring as a Poly in me, mf, M, D1, D2, t, Pp, Pk, Pq, PP."""
    if model in ("vector", "axial"):
        t_g = _trace_for(model, _vertex(model, "@a"), _vertex(model, "@a"))
        k_vertex = dirac("k") if model == "vector" else dirac("k", G5)
        t_k = _trace_for(model, k_vertex, k_vertex)
        raw = -t_g + t_k * Poly.sym("M", -2)
    else:
        g = _vertex(model, "")
        raw = _trace_for(model, g, g)
    return _to_invariants(raw)


class SquaredAmplitude:
    """T for fixed masses, evaluated on arrays of (D1, D2, t, Pp, Pk, Pq, PP)."""

    KIN = ("D1", "D2", "t", "Pp", "Pk", "Pq", "PP")

    def __init__(self, model: str, me: float, mf: float, mass: float):
        self.model = model
        sym = symbolic_squared_amplitude(model)
        values = {"me": me, "mf": mf, "M": mass}
        terms: dict[tuple[int, ...], float] = {}
        for mono, c in sym.terms.items():
            coef = float(c)
            powers = dict.fromkeys(self.KIN, 0)
            for s, pw in mono:
                if s in values:
                    coef *= values[s] ** pw
                else:
                    powers[s] += pw
            key = tuple(powers[k] for k in self.KIN)
            terms[key] = terms.get(key, 0.0) + coef
        self.terms = {k: v for k, v in terms.items() if v != 0.0}

    def __call__(self, **kin) -> np.ndarray:
        arrays = [np.asarray(kin[k], dtype=float) for k in self.KIN]
        powers: dict[tuple[int, int], np.ndarray] = {}

        def power(i: int, n: int) -> np.ndarray:
            if (i, n) not in powers:
                powers[(i, n)] = arrays[i] ** n
            return powers[(i, n)]

        out = np.zeros(np.broadcast(*arrays).shape)
        for key, c in self.terms.items():
            term = c
            for i, n in enumerate(key):
                if n:
                    term = term * power(i, n)
            out = out + term
        return out


@lru_cache(maxsize=256)
def squared_amplitude(model: str, me: float, mf: float, mass: float) -> SquaredAmplitude:
    """Cached SquaredAmplitude for one set of masses."""
    return SquaredAmplitude(model, me, mf, mass)
