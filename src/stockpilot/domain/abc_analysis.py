"""ABC classes by annual value, and the service level each class is planned for.

A few SKUs carry most of the value; planning them for a higher service level buys the most availability per
unit of stock held. Defaults: A = the SKUs making the first 80% of value, B the next 15%, C the last 5%;
A 98%, B 95%, C 90% cycle service.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

DEFAULT_CLASS_SERVICE: dict[str, float] = {"A": 0.98, "B": 0.95, "C": 0.90}
_EPS = 1e-12  # 0.80 + 0.15 is 0.9500000000000001 in floating point


def abc_classes_batch(annual_value: np.ndarray, *, a_share: float = 0.80, b_share: float = 0.15) -> np.ndarray:
    """Class per row ('A'/'B'/'C'), highest value first: a SKU whose predecessors hold less than `a_share` of
    the total is A, less than `a_share + b_share` B, else C, so the top SKU is always A. Ties keep row order;
    negative values count as 0; no value at all makes everything C."""
    v = np.maximum(np.asarray(annual_value, dtype=np.float64), 0.0)
    order = np.argsort(-v, kind="stable")
    ranked = v[order]
    total = ranked.sum()
    share = (np.cumsum(ranked) - ranked) / total if total > 0 else np.ones_like(ranked)
    labels = np.where(share < a_share - _EPS, "A", np.where(share < a_share + b_share - _EPS, "B", "C"))
    out = np.empty(v.shape, dtype="<U1")
    out[order] = labels
    return out


def abc_classes(
    annual_value_by_sku: Mapping[str, float], *, a_share: float = 0.80, b_share: float = 0.15,
) -> dict[str, str]:
    """`abc_classes_batch` keyed by SKU code; ties are broken by SKU code, so the split is deterministic."""
    skus = sorted(annual_value_by_sku)
    labels = abc_classes_batch(np.array([annual_value_by_sku[s] for s in skus], dtype=np.float64),
                               a_share=a_share, b_share=b_share)
    return dict(zip(skus, labels.tolist(), strict=True))


def class_service_levels(classes: np.ndarray, class_service: Mapping[str, float] | None = None) -> np.ndarray:
    """Service level per row from its class (NaN for a class the table does not know)."""
    table = DEFAULT_CLASS_SERVICE if class_service is None else class_service
    classes = np.asarray(classes)
    out = np.full(classes.shape, np.nan)
    for name, level in table.items():
        out[classes == name] = level
    return out


def service_levels(classes: Mapping[str, str], class_service: Mapping[str, float] | None = None) -> dict[str, float]:
    """Service level per SKU from its class (defaults A 0.98, B 0.95, C 0.90)."""
    table = DEFAULT_CLASS_SERVICE if class_service is None else class_service
    return {sku: table[c] for sku, c in classes.items()}
