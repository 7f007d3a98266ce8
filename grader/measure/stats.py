"""Small, exact statistics for paired timing: Student's t quantiles without SciPy.

The t distribution's CDF has a closed form for integer degrees of freedom
(Abramowitz & Stegun 26.7.3-4); the quantile is found by bisection on it, which
is exact to float precision and needs no table.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from statistics import NormalDist


def t_cdf(t: float, df: int) -> float:
    """P(T <= t) for Student's t with ``df`` >= 1 integer degrees of freedom."""
    if df < 1:
        raise ValueError("df must be >= 1")
    theta = math.atan2(abs(t), math.sqrt(df))
    s, c2 = math.sin(theta), math.cos(theta) ** 2
    if df % 2 == 1:
        total, term = 0.0, 1.0
        if df > 1:
            total = term = 1.0
            for k in range(1, (df - 3) // 2 + 1):
                term *= c2 * (2 * k) / (2 * k + 1)
                total += term
        inside = (2 / math.pi) * (theta + s * math.cos(theta) * total) if df > 1 else 2 * theta / math.pi
    else:
        total = term = 1.0
        for k in range(1, (df - 2) // 2 + 1):
            term *= c2 * (2 * k - 1) / (2 * k)
            total += term
        inside = s * total
    return 0.5 + 0.5 * inside if t >= 0 else 0.5 - 0.5 * inside


def t_quantile(p: float, df: int) -> float:
    """The ``p`` quantile of Student's t with ``df`` degrees of freedom (0 < p < 1)."""
    if not 0.0 < p < 1.0:
        raise ValueError("p must be in (0, 1)")
    if p < 0.5:
        return -t_quantile(1.0 - p, df)
    lo, hi = 0.0, 1.0
    while t_cdf(hi, df) < p:
        hi *= 2.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if t_cdf(mid, df) < p:
            lo = mid
        else:
            hi = mid
        if hi - lo <= 1e-12 * max(1.0, hi):
            break
    return 0.5 * (lo + hi)


def mean(values: Sequence[float]) -> float:
    return math.fsum(values) / len(values)


def stdev(values: Sequence[float]) -> float:
    """Sample standard deviation (n - 1); needs at least two values."""
    m = mean(values)
    return math.sqrt(math.fsum((v - m) ** 2 for v in values) / (len(values) - 1))


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolation percentile (as numpy's default), ``q`` in [0, 100]."""
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100.0
    below = math.floor(position)
    above = min(below + 1, len(ordered) - 1)
    return ordered[below] + (ordered[above] - ordered[below]) * (position - below)


def median(values: Sequence[float]) -> float:
    return percentile(values, 50.0)


def _binomial_cdf(k: int, n: int, p: float) -> float:
    """P(K <= k) for K ~ Binomial(n, p), 0 < p < 1 (log-space terms: exact to float precision for any n)."""
    if k < 0:
        return 0.0
    if k >= n:
        return 1.0
    log_p, log_q = math.log(p), math.log1p(-p)
    return math.fsum(math.exp(math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1)
                              + i * log_p + (n - i) * log_q) for i in range(k + 1))


def quantile_ranks(n: int, p: float, confidence: float) -> tuple[int, int] | None:
    """Ranks (r, s), 1-based, such that [x_(r), x_(s)] covers the ``p`` quantile with at least ``confidence``.

    Distribution-free (the number of samples below the quantile is Binomial(n, p)), so it holds
    for any shape of timing noise. The ranks start at the normal approximation and widen until
    the exact coverage P(r <= K < s) reaches ``confidence``; None when even [x_(1), x_(n)] cannot.
    """
    if n < 1 or not 0.0 < p < 1.0:
        raise ValueError("need n >= 1 and 0 < p < 1")
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    spread = z * math.sqrt(n * p * (1.0 - p))
    r, s = max(1, math.floor(n * p - spread)), min(n, math.ceil(n * p + spread) + 1)
    while True:
        coverage = _binomial_cdf(s - 1, n, p) - _binomial_cdf(r - 1, n, p)
        if coverage >= confidence:
            return r, s
        if r == 1 and s == n:
            return None
        r, s = max(1, r - 1), min(n, s + 1)
