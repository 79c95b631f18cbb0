"""Per-cell summaries of a run, computed from its records: metric means with 95% intervals,
decision rate, unreadable and failed counts, turns, calls, tokens, cache hits and wall time."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from madebate.runs._analytics import aggregate_analytics
from madebate.runs._scoring import summarize


def summarize_records(
    records: Iterable[dict[str, Any]], cell_order: list[str] | None = None
) -> dict[str, Any]:
    cells: dict[str, dict[str, Any]] = {}
    for r in records:
        c = cells.setdefault(
            r["cell"],
            {
                "n": 0,
                "scores": {},
                "decided": 0,
                "no_answer": 0,
                "errors": 0,
                "turns": 0,
                "calls": 0,
                "tokens": 0,
                "cache_hits": 0,
                "retries": 0,
                "failed_calls": 0,
                "truncated": 0,
                "looped": 0,
                "unreadable": 0,
                "replies": 0,
                "failed": [],
                "wall_s": 0.0,
                "stop_reasons": {},
                "analytics": [],
            },
        )
        c["n"] += 1
        c["decided"] += bool(r.get("decided"))
        c["no_answer"] += r.get("answer") is None
        c["errors"] += r.get("stop_reason") == "error"
        c["turns"] += r.get("turns", 0)
        c["calls"] += r.get("calls", 0)
        c["tokens"] += r.get("tokens", 0)
        c["cache_hits"] += r.get("cache_hits", 0)
        c["retries"] += r.get("retries", 0)
        c["failed_calls"] += r.get("failed_calls", 0)
        c["truncated"] += r.get("truncated", 0)
        c["looped"] += r.get("looped", 0)
        c["unreadable"] += r.get("unreadable", 0)
        if r.get("stop_reason") == "error" and len(c["failed"]) < 50:
            c["failed"].append(
                {
                    "example_id": r.get("example_id"),
                    "repeat": r.get("repeat"),
                    "cause": (r.get("error") or {}).get("message", "")[:300],
                }
            )
        c["wall_s"] += r.get("wall_s", 0.0)
        stop = r.get("stop_reason", "?")
        c["stop_reasons"][stop] = c["stop_reasons"].get(stop, 0) + 1
        if isinstance(r.get("analytics"), dict):
            c["analytics"].append({"analytics": r["analytics"]})  # not the whole record
        for name, value in (r.get("scores") or {}).items():
            c["scores"].setdefault(name, []).append(float(value))
    order = [k for k in (cell_order or []) if k in cells] + sorted(
        k for k in cells if k not in (cell_order or [])
    )
    out = {}
    for key in order:
        c = cells[key]
        n = c["n"]
        out[key] = {
            "n": n,
            "metrics": {m: summarize(v).model_dump() for m, v in c["scores"].items()},
            "decision_rate": c["decided"] / n,
            "undecided": n - c["decided"],
            "no_answer": c["no_answer"],
            "errors": c["errors"],
            "mean_turns": c["turns"] / n,
            "calls_per_example": c["calls"] / n,
            "tokens_per_example": c["tokens"] / n,
            "cache_hits": c["cache_hits"],
            "retries": c["retries"],
            "failed_calls": c["failed_calls"],
            "truncated_replies": c["truncated"],  # calls cut at max_tokens
            "looped_replies": c["looped"],  # calls stopped repeating themselves
            "unreadable_replies": c["unreadable"],  # discussion messages with no reading
            "failed_examples": c["failed"],  # up to 50, with their cause
            "discussion_wall_s": c["wall_s"],
            "stop_reasons": c["stop_reasons"],
            "analytics": aggregate_analytics(c["analytics"]),
        }
    return {"cells": out}
