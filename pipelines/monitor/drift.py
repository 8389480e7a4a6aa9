"""Drift of logged traffic against the training reference, feature by feature.

Each feature is compared with the population stability index over the reference's deciles,
``PSI = Σ (p_i − q_i) · ln(p_i / q_i)`` (p: share of traffic in bin i, q: share of the reference), and with
the two-sample Kolmogorov–Smirnov test. The verdict follows the PSI's usual reading: below 0.1 stable,
0.1 to 0.25 a moderate shift, above 0.25 drift. The KS p-value is reported beside it, not used: with
thousands of records it flags differences too small to matter.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

BINS = 10
SHIFT_PSI, DRIFT_PSI = 0.1, 0.25
MIN_RECORDS = 200
"""Fewer logged records than this give no verdict: the index of two samples of one distribution grows as
about (bins − 1) · (1/n + 1/m), 0.05 for 200 records against a 1,000-sentence reference."""
_FLOOR = 1e-4
"""Smallest bin share, so an empty bin does not make the index infinite."""


@dataclass(frozen=True)
class FeatureDrift:
    feature: str
    psi: float
    ks_statistic: float
    ks_p_value: float
    reference_median: float
    traffic_median: float

    @property
    def verdict(self) -> str:
        if self.psi >= DRIFT_PSI:
            return "drift"
        return "moderate shift" if self.psi >= SHIFT_PSI else "stable"


def bin_edges(reference: np.ndarray, bins: int = BINS) -> np.ndarray:
    """Inner edges at the reference's quantiles (repeated ones merged, as token counts repeat)."""
    return np.unique(np.quantile(reference, np.linspace(0, 1, bins + 1)[1:-1]))


def psi(reference: np.ndarray, traffic: np.ndarray, bins: int = BINS) -> float:
    """Population stability index of ``traffic`` against ``reference`` over the reference's quantile bins."""
    edges = bin_edges(reference, bins)
    q = np.bincount(np.searchsorted(edges, reference, side="right"), minlength=len(edges) + 1) / len(reference)
    p = np.bincount(np.searchsorted(edges, traffic, side="right"), minlength=len(edges) + 1) / len(traffic)
    p, q = np.clip(p, _FLOOR, None), np.clip(q, _FLOOR, None)
    return float(np.sum((p - q) * np.log(p / q)))


def compare(reference: pd.DataFrame, traffic: pd.DataFrame, features: list[str]) -> list[FeatureDrift]:
    """One :class:`FeatureDrift` per feature present (non-null) on both sides."""
    results = []
    for feature in features:
        ref = reference[feature].dropna().to_numpy(dtype=float)
        now = traffic[feature].dropna().to_numpy(dtype=float)
        if len(ref) == 0 or len(now) == 0:
            continue
        ks = stats.ks_2samp(ref, now)
        medians = float(np.median(ref)), float(np.median(now))
        results.append(FeatureDrift(feature, psi(ref, now), float(ks.statistic), float(ks.pvalue), *medians))
    return results


def unusual(reference: pd.DataFrame, traffic: pd.DataFrame, features: list[str], top: int = 10) -> pd.DataFrame:
    """The ``top`` logged records least like the reference: for each feature the two-sided tail share of the
    reference beyond the record's value, as surprise ``−log10``; records ranked by their summed surprise."""
    surprise = pd.Series(0.0, index=traffic.index)
    for feature in features:
        ref = np.sort(reference[feature].dropna().to_numpy(dtype=float))
        values = traffic[feature].to_numpy(dtype=float)
        if len(ref) == 0 or np.isnan(values).all():
            continue
        below = np.searchsorted(ref, values, side="right") / len(ref)
        above = 1 - np.searchsorted(ref, values, side="left") / len(ref)
        tail = np.clip(2 * np.minimum(below, above), 1 / len(ref), 1)
        surprise += np.nan_to_num(-np.log10(tail))
    ranked = traffic.assign(surprise=surprise).sort_values("surprise", ascending=False)
    return ranked.head(top)
