"""Calibration metrics on numpy arrays: ECE, RMS calibration error, Brier score and AUROC.

Conventions follow Kadavath et al. (2022, "Language Models (Mostly) Know What They Know",
arXiv:2207.05221): ECE and RMS use 10 *equal-count* bins over the confidences (not equal-width).
Points are ranked by confidence and point ``r`` (0-based) goes to bin ``floor(n_bins * r / n)``;
tied confidences share their group's average rank, so a tie is never split across bins and the
result does not depend on the input order. With ``n < n_bins`` some bins are empty and skipped.

Every function rejects bad input with a ValueError that says what is wrong: empty arrays, arrays of
different lengths, NaN, confidences outside [0, 1], labels other than 0/1. AUROC is undefined when
every answer is correct (or every one wrong) and raises then too; ECE, RMS and Brier are defined.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from scipy.stats import rankdata

__all__ = ["ece", "rms_calibration_error", "brier", "auroc", "equal_count_bins"]


def _labels(correct: Any, n: int) -> np.ndarray:
    y = np.asarray(correct)
    if y.ndim != 1 or len(y) != n:
        raise ValueError(f"correct must be a 1-D array as long as the scores ({n}); got shape {y.shape}")
    if y.dtype != bool:
        try:
            yf = y.astype(float)
        except (TypeError, ValueError):
            raise ValueError("correct must hold booleans or 0/1") from None
        if np.isnan(yf).any() or not np.isin(yf, (0.0, 1.0)).all():
            raise ValueError("correct must hold booleans or 0/1 (no NaN, no other values)")
        y = yf
    return y.astype(float)


def _inputs(scores: Any, correct: Any, what: str = "confidences", unit: bool = True) -> tuple[np.ndarray, np.ndarray]:
    s = np.asarray(scores, dtype=float)
    if s.ndim != 1:
        raise ValueError(f"{what} must be a 1-D array; got shape {s.shape}")
    if len(s) == 0:
        raise ValueError(f"{what} is empty: a metric needs at least one scored answer")
    if np.isnan(s).any():
        raise ValueError(f"{what} contains NaN; drop the records without a confidence first")
    if unit and ((s < 0).any() or (s > 1).any()):
        raise ValueError(f"{what} must be probabilities in [0, 1]")
    return s, _labels(correct, len(s))


def equal_count_bins(confidences: Any, n_bins: int = 10) -> np.ndarray:
    """The bin (0..n_bins-1) of each confidence: equal-count bins, ties kept together."""
    c = np.asarray(confidences, dtype=float)
    if isinstance(n_bins, bool) or not isinstance(n_bins, (int, np.integer)) or n_bins < 1:
        raise ValueError(f"n_bins must be a positive integer; got {n_bins!r}")
    rank = rankdata(c, method="average") - 1.0  # 0-based; a tie group shares its mean rank
    return np.minimum((n_bins * rank / len(c)).astype(int), n_bins - 1)


def _bin_gaps(confidences: Any, correct: Any, n_bins: int) -> tuple[np.ndarray, np.ndarray]:
    c, y = _inputs(confidences, correct)
    b = equal_count_bins(c, n_bins)
    counts = np.bincount(b, minlength=n_bins).astype(float)
    used = counts > 0
    gap = (np.bincount(b, weights=y, minlength=n_bins)[used] - np.bincount(b, weights=c, minlength=n_bins)[used])
    return gap / counts[used], counts[used] / len(c)  # per-bin accuracy - confidence, bin weight


def ece(confidences: Any, correct: Any, n_bins: int = 10) -> float:
    """Expected calibration error: sum over bins of (bin size / n) * |accuracy - mean confidence|."""
    gap, weight = _bin_gaps(confidences, correct, n_bins)
    return float(np.sum(weight * np.abs(gap)))


def rms_calibration_error(confidences: Any, correct: Any, n_bins: int = 10) -> float:
    """RMS calibration error: sqrt(sum over bins of (bin size / n) * (accuracy - mean confidence)^2)."""
    gap, weight = _bin_gaps(confidences, correct, n_bins)
    return float(np.sqrt(np.sum(weight * gap ** 2)))


def brier(confidences: Any, correct: Any) -> float:
    """Brier score of a binary prediction: mean (confidence - correct)^2; 0 is best, 0.25 is a coin."""
    c, y = _inputs(confidences, correct)
    return float(np.mean((c - y) ** 2))


def auroc(scores: Any, correct: Any) -> float:
    """Area under the ROC curve of ``scores`` separating correct from wrong answers (ties count 1/2).

    The Mann-Whitney form: the probability that a random correct answer scores above a random wrong
    one. Scores need not be probabilities.
    """
    s, y = _inputs(scores, correct, "scores", unit=False)
    n_pos = int(y.sum())
    n_neg = len(y) - n_pos
    if n_pos == 0 or n_neg == 0:
        which = "correct" if n_neg == 0 else "wrong"
        raise ValueError(f"AUROC is undefined when every answer is {which}: it needs both kinds")
    ranks = rankdata(s, method="average")
    return float((ranks[y == 1].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))
