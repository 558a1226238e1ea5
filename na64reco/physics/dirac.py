"""Dirac traces with polynomial coefficients: the algebra behind the exact 2 -> 3 cross sections.

A Dirac string is a product of slashed four-vectors (named, e.g. ``"p"``), gamma matrices with an
open Lorentz index (``"@a"``) and gamma5 (``"g5"``), times a coefficient that is a Laurent
polynomial in named symbols (masses, scalar products, propagator denominators) with exact rational
coefficients. ``trace`` evaluates Tr[...] with the textbook rules

    Tr(1) = 4,  Tr(a1 ... an) = sum_{j>1} (-1)^j (a1.aj) Tr(a2 .. (no aj) .. an)  (n even),
    gamma5 anticommutes with every gamma, gamma5^2 = 1,

and contracts repeated indices, (@a.x)(@a.y) -> x.y and (@a.@a) -> 4. Terms with one gamma5 left
(the Levi-Civita part, i eps(abcd)) are dropped: they are purely imaginary with the real
coefficients used here, and cancel in any spin-summed |M|^2, which is real; the numerical 4 x 4
matrix evaluation in the tests (Dirac representation) checks every squared amplitude derived this
way, including the chiral ones.

Conventions: metric (+,-,-,-); bar(X) = gamma0 X^dagger gamma0, so bar reverses a string and
bar(gamma5) = -gamma5 (real coefficients only).
"""

from __future__ import annotations

from collections import defaultdict
from fractions import Fraction
from functools import cache

__all__ = ["G5", "Poly", "dirac", "dirac_bar", "dirac_mul", "dirac_sum", "poly", "trace"]

G5 = "g5"
Monomial = tuple[tuple[str, int], ...]


def _is_index(name: str) -> bool:
    return name.startswith("@")


class Poly:
    """Laurent polynomial in named symbols with rational coefficients (immutable by convention)."""

    __slots__ = ("terms",)

    def __init__(self, terms: dict[Monomial, Fraction] | None = None):
        self.terms = {m: c for m, c in (terms or {}).items() if c != 0}

    @staticmethod
    def const(c) -> Poly:
        return Poly({(): Fraction(c)})

    @staticmethod
    def sym(name: str, power: int = 1) -> Poly:
        return Poly({((name, power),): Fraction(1)})

    def __add__(self, other) -> Poly:
        other = other if isinstance(other, Poly) else Poly.const(other)
        out = dict(self.terms)
        for m, c in other.terms.items():
            out[m] = out.get(m, 0) + c
        return Poly(out)

    __radd__ = __add__

    def __neg__(self) -> Poly:
        return Poly({m: -c for m, c in self.terms.items()})

    def __sub__(self, other) -> Poly:
        return self + (-(other if isinstance(other, Poly) else Poly.const(other)))

    def __rsub__(self, other) -> Poly:
        return (-self) + other

    def __mul__(self, other) -> Poly:
        other = other if isinstance(other, Poly) else Poly.const(other)
        out: dict[Monomial, Fraction] = defaultdict(Fraction)
        for m1, c1 in self.terms.items():
            for m2, c2 in other.terms.items():
                out[_mono_mul(m1, m2)] += c1 * c2
        return Poly(out)

    __rmul__ = __mul__

    def __pow__(self, n: int) -> Poly:
        out = Poly.const(1)
        for _ in range(n):
            out = out * self
        return out

    def subs(self, name: str, value: Poly) -> Poly:
        """Replace symbol ``name`` (non-negative powers only) by a polynomial."""
        out = Poly()
        cache: dict[int, Poly] = {}
        for m, c in self.terms.items():
            rest = tuple(x for x in m if x[0] != name)
            pw = sum(p for s, p in m if s == name)
            if pw < 0:
                raise ValueError(f"cannot substitute {name!r}: it appears with power {pw}")
            if pw not in cache:
                cache[pw] = value**pw
            out = out + Poly({rest: c}) * cache[pw]
        return out

    def symbols(self) -> set[str]:
        return {s for m in self.terms for s, _ in m}

    def __repr__(self) -> str:
        if not self.terms:
            return "0"
        parts = []
        for m, c in sorted(self.terms.items()):
            mono = "*".join(s if p == 1 else f"{s}^{p}" for s, p in m)
            parts.append(f"{c}*{mono}" if mono else str(c))
        return " + ".join(parts)


def _mono_mul(a: Monomial, b: Monomial) -> Monomial:
    d: dict[str, int] = dict(a)
    for s, p in b:
        d[s] = d.get(s, 0) + p
    return tuple(sorted((s, p) for s, p in d.items() if p != 0))


def poly(x) -> Poly:
    """A Poly from a number, a symbol name or a Poly."""
    if isinstance(x, Poly):
        return x
    if isinstance(x, str):
        return Poly.sym(x)
    return Poly.const(x)


def dot(a: str, b: str) -> Poly:
    """The symbol of the scalar product a.b (indices: '@a.x' components, '@a.@a' = 4)."""
    if a == b and _is_index(a):
        return Poly.const(4)
    a, b = sorted((a, b))
    return Poly.sym(f"{a}.{b}")


# ------------------------------------------------------------------------------------------------
# Dirac strings: list of (Poly, tuple of factor names)
DiracExpr = list[tuple[Poly, tuple[str, ...]]]


def dirac(*factors: str, coeff=1) -> DiracExpr:
    """One Dirac string: slashed vectors / '@index' gammas / 'g5', times coeff."""
    return [(poly(coeff), tuple(factors))]


def dirac_sum(*exprs: DiracExpr) -> DiracExpr:
    return [t for e in exprs for t in e]


def dirac_mul(*exprs: DiracExpr) -> DiracExpr:
    out: DiracExpr = [(Poly.const(1), ())]
    for e in exprs:
        out = [(c1 * c2, f1 + f2) for c1, f1 in out for c2, f2 in e]
    return out


def dirac_bar(expr: DiracExpr) -> DiracExpr:
    """gamma0 X^dagger gamma0: reversed strings, a minus sign per gamma5 (real coefficients)."""
    out = []
    for c, f in expr:
        sign = -1 if sum(x == G5 for x in f) % 2 else 1
        out.append((c * sign, tuple(reversed(f))))
    return out


def _move_g5(factors: tuple[str, ...]) -> tuple[int, tuple[str, ...], int]:
    """(sign, gammas without gamma5, number of gamma5) with every gamma5 moved to the right."""
    sign, out, n5 = 1, [], 0
    for x in factors:
        if x == G5:
            n5 += 1
        else:
            if n5 % 2:  # an odd number of gamma5 to the left of x: x moves left through them
                sign = -sign
            out.append(x)
    return sign, tuple(out), n5


@cache
def _trace_vectors(vs: tuple[str, ...]) -> Poly:
    """Tr of a product of slashed vectors / index gammas (recursive expansion)."""
    n = len(vs)
    if n == 0:
        return Poly.const(4)
    if n % 2:
        return Poly()
    out = Poly()
    a = vs[0]
    for j in range(1, n):
        sign = 1 if j % 2 else -1  # (-1)^(j+1) with j counted from 0: a1.a2 +, a1.a3 -, ...
        rest = vs[1:j] + vs[j + 1 :]
        out = out + dot(a, vs[j]) * _trace_vectors(rest) * sign
    return out


def _contract(p: Poly) -> Poly:
    """(@a.x)(@a.y) -> x.y for every repeated index (each appears exactly twice)."""
    out: dict[Monomial, Fraction] = defaultdict(Fraction)
    for m, c in p.terms.items():
        by_index: dict[str, list[str]] = defaultdict(list)
        rest: list[tuple[str, int]] = []
        for s, pw in m:
            a, _, b = s.partition(".")
            if _is_index(a) or _is_index(b):
                idx, other = (a, b) if _is_index(a) else (b, a)
                by_index[idx].extend([other] * pw)
            else:
                rest.append((s, pw))
        mono = tuple(sorted(rest))
        coef = Fraction(c)
        for idx, others in by_index.items():
            if len(others) != 2:
                raise ValueError(f"index {idx} appears {len(others)} times after the trace")
            x, y = others
            if _is_index(x):
                raise ValueError("nested index contraction is not supported")
            mono = _mono_mul(mono, next(iter(dot(x, y).terms)))
        out[mono] += coef
    return Poly(out)


def trace(expr: DiracExpr) -> Poly:
    """Tr[expr] with contracted repeated indices (gamma5-odd, Levi-Civita, parts dropped)."""
    out = Poly()
    for c, f in expr:
        sign, vs, n5 = _move_g5(f)
        if n5 % 2:
            continue
        out = out + c * _trace_vectors(vs) * sign
    return _contract(out)
