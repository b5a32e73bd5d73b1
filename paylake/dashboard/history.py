"""The daily marts' history and the data-quality gate runs, decoded from the JSON the marts job puts in Redis.

Keys (paylake.names): MARTS_HISTORY (one JSON object: the last published days, the latest top merchants and
RFM segments), DQ_LAST (the last gate run) and DQ_RECENT (gate runs, newest first). Decoding is strict about
the fields the page shows (a wrong type is an error naming the field, so a changed writer is noticed, not
drawn as zeros) and ignores any other field, so a writer that adds fields keeps working. Ratios are
nullable: the job writes null for a ratio whose denominator is zero (a day without traffic, nothing flagged).
"""

from __future__ import annotations

import functools
import json
import math
from dataclasses import MISSING, dataclass, field, fields
from datetime import date
from typing import Any, TypeVar, cast, get_type_hints


class HistoryDecodeError(ValueError):
    """A marts or gate-run payload is not what the dashboard expects; the message names the field."""


@dataclass(frozen=True)
class Day:
    """One published date of the daily summary mart."""

    date: str  # YYYY-MM-DD (UTC date)
    transactions: int
    amount: float
    approved_amount: float
    commission: float
    fraud_count: int
    flagged: int
    avg_ticket: float | None = None
    fraud_rate: float | None = None
    flagged_share: float | None = None
    rule_precision: float | None = None  # None when nothing was flagged


@dataclass(frozen=True)
class TopMerchant:
    merchant_id: str
    name: str
    category: str
    country: str
    transactions: int
    sales: float
    commission: float
    fraud_rate: float | None = None


@dataclass(frozen=True)
class Segment:
    rfm_segment: str
    customers: int
    monetary: float
    fraud_ratio: float | None = None


@dataclass(frozen=True)
class MartsHistory:
    updated_at: str
    days: list[Day]  # ascending by date; dates may have gaps (a date not built or not published)
    top_merchants_date: str | None = None
    top_merchants: list[TopMerchant] = field(default_factory=list)
    segments_date: str | None = None
    segments: list[Segment] = field(default_factory=list)

    @property
    def latest(self) -> Day | None:
        return self.days[-1] if self.days else None

    @property
    def previous(self) -> Day | None:
        return self.days[-2] if len(self.days) > 1 else None


@dataclass(frozen=True)
class Check:
    name: str
    passed: bool
    count: int  # offending rows
    sample: list[str] = field(default_factory=list)  # a few offending ids
    detail: str = ""  # what the check asserts


@dataclass(frozen=True)
class GateRun:
    run_id: str
    date: str  # the UTC date the gate checked
    finished_at: str
    passed: bool
    checks: list[Check] = field(default_factory=list)

    @property
    def failed(self) -> list[Check]:
        return [c for c in self.checks if not c.passed]


T = TypeVar("T")


def _number(value: Any, where: str, integral: bool) -> float | int:
    # bool is an int in Python, but `true` where a count belongs is a writer bug, not 1.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise HistoryDecodeError(f"{where} is {value!r}, not a number")
    if integral:
        if isinstance(value, float) and not value.is_integer():
            raise HistoryDecodeError(f"{where} is {value!r}, not a whole number")
        return int(value)
    return float(value)


def _value(kind: Any, value: Any, where: str) -> Any:
    """``value`` as the dataclass field type ``kind`` (str, bool, int, float, float | None, list[str])."""
    if kind == float | None:
        # NaN too: a 0/0 that slipped through as NaN means "no ratio", like null.
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return None
        return _number(value, where, integral=False)
    if kind is int or kind is float:
        return _number(value, where, integral=kind is int)
    if kind is bool and isinstance(value, bool):
        return value
    if kind is str and isinstance(value, str):
        return value
    if kind == list[str] and isinstance(value, list):
        return [str(v) for v in value]
    raise HistoryDecodeError(f"{where} is {value!r}, not {getattr(kind, '__name__', kind)}")


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    """A dataclass's field types, resolved once: get_type_hints evaluates the annotations' text on every call
    (~25 µs), and a refresh decodes hundreds of records (bench/dashboard.py: 10 ms per refresh uncached)."""
    return get_type_hints(cls)


def _record(cls: type[T], obj: Any, where: str, nested: dict[str, Any] | None = None) -> T:
    """An instance of the dataclass ``cls`` from a JSON object; ``nested`` gives fields decoded by the caller."""
    if not isinstance(obj, dict):
        raise HistoryDecodeError(f"{where} is {type(obj).__name__}, not an object")
    hints, values = _hints(cast(type, cls)), dict(nested or {})
    for f in fields(cls):  # type: ignore[arg-type]
        if f.name in values:
            continue
        if f.name not in obj:
            if f.default is MISSING and f.default_factory is MISSING:
                raise HistoryDecodeError(f"{where} has no {f.name!r}")
            continue
        values[f.name] = _value(hints[f.name], obj[f.name], f"{where}.{f.name}")
    return cls(**values)


def _date(text: str, where: str) -> str:
    # Exactly YYYY-MM-DD (fromisoformat also takes 20261130): the charts read the text as a date.
    try:
        valid = date.fromisoformat(text).isoformat() == text
    except ValueError:
        valid = False
    if not valid:
        raise HistoryDecodeError(f"{where} is {text!r}, not a YYYY-MM-DD date")
    return text


def _list(obj: Any, where: str) -> list[Any]:
    if not isinstance(obj, list):
        raise HistoryDecodeError(f"{where} is {type(obj).__name__}, not a list")
    return obj


def _dated_rows(obj: Any, cls: type[T], where: str) -> tuple[str | None, list[T]]:
    """A ``{"date": ..., "rows": [...]}`` block (top merchants, segments); (None, []) when absent (null)."""
    if obj is None:
        return None, []
    if not isinstance(obj, dict):
        raise HistoryDecodeError(f"{where} is {type(obj).__name__}, not an object")
    rows = [_record(cls, r, f"{where}.rows[{i}]") for i, r in enumerate(_list(obj.get("rows"), f"{where}.rows"))]
    return _date(str(obj.get("date")), f"{where}.date"), rows


def _loads(text: str) -> Any:
    try:
        return json.loads(text)
    except (TypeError, ValueError) as exc:
        raise HistoryDecodeError(f"not JSON ({exc})") from exc


def decode_history(text: str) -> MartsHistory:
    """names.MARTS_HISTORY's value; days sorted by date whatever order they came in (the charts need it)."""
    obj = _loads(text)
    if not isinstance(obj, dict):
        raise HistoryDecodeError(f"history is {type(obj).__name__}, not an object")
    days = [_record(Day, d, f"days[{i}]") for i, d in enumerate(_list(obj.get("days"), "days"))]
    for i, day in enumerate(days):
        _date(day.date, f"days[{i}].date")
    merchants_date, merchants = _dated_rows(obj.get("top_merchants"), TopMerchant, "top_merchants")
    segments_date, segments = _dated_rows(obj.get("segments"), Segment, "segments")
    return MartsHistory(updated_at=str(obj.get("updated_at") or ""), days=sorted(days, key=lambda d: d.date),
                        top_merchants_date=merchants_date, top_merchants=merchants,
                        segments_date=segments_date, segments=segments)


def gate_run(obj: Any, where: str = "gate run") -> GateRun:
    """One gate run from its decoded JSON object."""
    raw_checks = _list(obj.get("checks"), f"{where}.checks") if isinstance(obj, dict) else []
    checks = [_record(Check, c, f"{where}.checks[{i}]") for i, c in enumerate(raw_checks)]
    return _record(GateRun, obj, where, nested={"checks": checks})


def decode_gate_run(text: str) -> GateRun:
    """names.DQ_LAST's value."""
    return gate_run(_loads(text))


def decode_gate_runs(raw: list[Any]) -> tuple[list[GateRun], int]:
    """names.DQ_RECENT's items, in order; (runs, how many items were skipped as malformed)."""
    runs: list[GateRun] = []
    for i, text in enumerate(raw):
        try:
            runs.append(gate_run(_loads(text), f"recent[{i}]"))
        except HistoryDecodeError:
            continue
    return runs, len(raw) - len(runs)
