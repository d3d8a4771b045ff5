"""Least-squares line with a 95% confidence band, without scipy (the report env stays small).

Figure 1 of the paper draws "linear regression lines ... with 95% CIs" of accuracy against the log2 thinking budget;
:func:`linear_fit` gives the same band as seaborn's ``regplot`` analytic interval for the mean response.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


def t_two_sided_coverage(t: float, df: int) -> float:
    """P(|T| < t) for Student's t with ``df`` degrees of freedom (exact finite series, Abramowitz & Stegun 26.7.3-4)."""
    if df < 1:
        raise ValueError(f"degrees of freedom must be >= 1, got {df}")
    if t <= 0:
        return 0.0
    theta = math.atan(t / math.sqrt(df))
    s, c = math.sin(theta), math.cos(theta)
    if df % 2 == 1:
        term, total = c, c if df > 1 else 0.0
        for k in range(3, df - 1, 2):  # cos^k with factor 2*4*...(k-1) / (3*5*...k)
            term *= c * c * (k - 1) / k
            total += term
        return min(1.0, 2.0 / math.pi * (theta + s * total))
    term, total = 1.0, 1.0
    for k in range(2, df - 1, 2):  # cos^k with factor 1*3*...(k-1) / (2*4*...k)
        term *= c * c * (k - 1) / k
        total += term
    return min(1.0, s * total)


def t_quantile(p: float, df: int) -> float:
    """The two-sided critical value t with P(|T| < t) = 2p - 1, e.g. p = 0.975 -> 12.706 for df = 1, 1.96 as df grows."""
    if not 0.5 < p < 1:
        raise ValueError(f"p must be in (0.5, 1), got {p}")
    target = 2 * p - 1
    lo, hi = 0.0, 1.0
    while t_two_sided_coverage(hi, df) < target:
        hi *= 2
    for _ in range(200):
        mid = (lo + hi) / 2
        if t_two_sided_coverage(mid, df) < target:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-12:
            break
    return (lo + hi) / 2


@dataclass(frozen=True)
class LinearFit:
    """y = intercept + slope * x over n points; ``band`` gives the confidence interval of the mean response."""

    n: int
    slope: float
    intercept: float
    r2: float
    residual_se: float  # sqrt(SSE / (n - 2)); nan for n < 3
    x_mean: float
    sxx: float
    t_crit: float  # nan for n < 3 (no interval)
    slope_ci: tuple[float, float]

    def predict(self, x: float) -> float:
        return self.intercept + self.slope * x

    def band(self, x: float) -> tuple[float, float]:
        """(low, high) of the 95% CI for the fitted mean at x; (nan, nan) when n < 3."""
        if self.n < 3 or not math.isfinite(self.t_crit):
            return (math.nan, math.nan)
        half = self.t_crit * self.residual_se * math.sqrt(1 / self.n + (x - self.x_mean) ** 2 / self.sxx)
        y = self.predict(x)
        return (y - half, y + half)


def linear_fit(xs: Sequence[float], ys: Sequence[float], level: float = 0.95) -> LinearFit:
    """Ordinary least squares of ys on xs; needs at least two distinct x values."""
    if len(xs) != len(ys):
        raise ValueError(f"xs and ys differ in length ({len(xs)} vs {len(ys)})")
    n = len(xs)
    if n < 2:
        raise ValueError(f"a line needs at least 2 points, got {n}")
    xm, ym = sum(xs) / n, sum(ys) / n
    sxx = sum((x - xm) ** 2 for x in xs)
    if sxx == 0:
        raise ValueError("all x values are equal: no line")
    sxy = sum((x - xm) * (y - ym) for x, y in zip(xs, ys))
    syy = sum((y - ym) ** 2 for y in ys)
    slope = sxy / sxx
    intercept = ym - slope * xm
    sse = sum((y - intercept - slope * x) ** 2 for x, y in zip(xs, ys))
    r2 = 1 - sse / syy if syy > 0 else 1.0
    if n >= 3:
        se = math.sqrt(sse / (n - 2))
        t = t_quantile(0.5 + level / 2, n - 2)
        half = t * se / math.sqrt(sxx)
        slope_ci = (slope - half, slope + half)
    else:
        se, t, slope_ci = math.nan, math.nan, (math.nan, math.nan)
    return LinearFit(
        n=n, slope=slope, intercept=intercept, r2=r2, residual_se=se, x_mean=xm, sxx=sxx, t_crit=t, slope_ci=slope_ci
    )
