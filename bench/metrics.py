"""Result records and the few statistics the report needs.

Why a flat list of named metrics: the table, the ratio column and the JSON file all come from the
same records, and a metric missing for one server (a failed scenario) simply shows as a dash.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(slots=True, frozen=True)
class Metric:
    """One figure: ``key`` is unique per run, e.g. ``fanout.rate.p99_ms``."""

    key: str
    value: float
    unit: str
    better: str = ""  # "higher", "lower" or "" (informational)

    def as_dict(self) -> dict[str, object]:
        """Return a JSON-ready dict."""
        return asdict(self)


def percentile(sorted_values: list[int] | list[float], q: float) -> float:
    """Return the q-quantile (0..1) of already sorted values by nearest rank; nan if empty."""
    if not sorted_values:
        return float("nan")
    idx = min(len(sorted_values) - 1, max(0, int(round(q * len(sorted_values) + 0.5)) - 1))
    return float(sorted_values[idx])


def latency_metrics(prefix: str, samples_ns: list[int]) -> list[Metric]:
    """Return p50/p95/p99/max in milliseconds for one set of nanosecond samples."""
    values = sorted(samples_ns)
    out = [Metric(f"{prefix}.samples", float(len(values)), "count")]
    for name, q in (("p50", 0.50), ("p95", 0.95), ("p99", 0.99), ("max", 1.0)):
        out.append(Metric(f"{prefix}.{name}_ms", percentile(values, q) / 1e6, "ms", "lower"))
    return out
