"""Compatibility shim: the mechanisms now live in :mod:`sim.core.mechanisms` (removed at merge)."""

from sim.core.mechanisms import (
    NEG,
    ExportOptions,
    acceptance,
    allocate_exports,
    channel_targets,
    hedging_penalty,
    masked_softmax,
    mean_reverting_log_price,
    resource_value_added,
    segment_sum,
    smooth_stock,
    softmax_weights,
    sum_slots,
    trade_shares,
)

__all__ = [
    "NEG",
    "ExportOptions",
    "acceptance",
    "allocate_exports",
    "channel_targets",
    "hedging_penalty",
    "masked_softmax",
    "mean_reverting_log_price",
    "resource_value_added",
    "segment_sum",
    "smooth_stock",
    "softmax_weights",
    "sum_slots",
    "trade_shares",
]
