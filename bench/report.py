"""Render results as a side-by-side table (with first/second ratio) and as JSON."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.metrics import Metric


@dataclass(slots=True)
class ServerResult:
    """Every metric taken from one server, plus what went wrong."""

    name: str
    info: dict[str, Any] = field(default_factory=dict)
    metrics: list[Metric] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def by_key(self) -> dict[str, Metric]:
        """Index the metrics by key."""
        return {m.key: m for m in self.metrics}


def _fmt(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "-"
    if value == 0:
        return "0"
    mag = abs(value)
    if mag >= 1000:
        return f"{value:,.0f}"
    if mag >= 100:
        return f"{value:.0f}"
    if mag >= 10:
        return f"{value:.1f}"
    if mag >= 0.1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def ratio(a: float | None, b: float | None) -> float | None:
    """Return a/b, or None when it means nothing (missing, nan, zero denominator)."""
    if a is None or b is None or math.isnan(a) or math.isnan(b) or b == 0:
        return None
    return a / b


def table(results: list[ServerResult]) -> str:
    """Return the text table: one row per metric, one column per server, then the ratio."""
    keys: list[str] = []
    for res in results:
        keys += [m.key for m in res.metrics if m.key not in keys]
    indexed = [r.by_key() for r in results]
    header = ["metric", "unit", *(r.name for r in results)]
    if len(results) == 2:
        header.append(f"{results[0].name}/{results[1].name}")
    rows = [header]
    for key in keys:
        unit = next(ix[key].unit for ix in indexed if key in ix)
        vals = [ix[key].value if key in ix else None for ix in indexed]
        row = [key, unit, *(_fmt(v) for v in vals)]
        if len(results) == 2:
            r = ratio(vals[0], vals[1])
            row.append("-" if r is None else f"{r:.2f}x")
        rows.append(row)
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = []
    for n, row in enumerate(rows):
        cells = [row[0].ljust(widths[0]), row[1].ljust(widths[1])]
        cells += [c.rjust(w) for c, w in zip(row[2:], widths[2:], strict=True)]
        lines.append("  ".join(cells))
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def write_json(path: Path, results: list[ServerResult], setup: dict[str, Any]) -> None:
    """Write every metric of every server, plus the ratios when there are two servers."""
    doc: dict[str, Any] = {"setup": setup, "servers": {}}
    for res in results:
        doc["servers"][res.name] = {
            "info": res.info,
            "failures": res.failures,
            "metrics": {m.key: m.as_dict() for m in res.metrics},
        }
    if len(results) == 2:
        a, b = results[0].by_key(), results[1].by_key()
        doc["ratios"] = {
            "of": f"{results[0].name}/{results[1].name}",
            "values": {k: ratio(a[k].value, b[k].value) for k in a if k in b},
        }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(sanitize(doc), indent=2, allow_nan=False) + "\n")


def sanitize(doc: Any) -> Any:
    """Replace NaN/inf with None, recursively (JSON has no NaN)."""
    if isinstance(doc, float) and not math.isfinite(doc):
        return None
    if isinstance(doc, dict):
        return {k: sanitize(v) for k, v in doc.items()}
    if isinstance(doc, list):
        return [sanitize(v) for v in doc]
    return doc
