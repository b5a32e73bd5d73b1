"""Reads of a few top-level fields fetch only those fields, and return exactly what MongoDB would.

The KPI loop's first refresh reads six fields of the lookback's transactions, and the archive used to read two
of every hot transaction (``find({}, {_id: 0, event_time: 1, ingest_time: 1})``, the case kept below as
"histogram"). MongoDB reads only what it returns; FerretDB v1 reads every whole document from SQLite, decodes all
of it and projects in Go, so that read cost as much as reading the documents whole. paylake builds it with
``paylake/stack/ferretdb/projection-pushdown.patch``: for a plain inclusion of top-level fields, SQLite returns
only the fields the projection, the filter and the sort read, and FerretDB decodes only those. Its explain
says so (``projectionPushdown``). The answers must not change: these tests compare each projected read with
the projection computed here by MongoDB's rules (``_id`` first unless excluded, then the included fields the
document has, in its order, missing ones left out), type for type, over documents whose values a careless
translation would change (int vs long vs double, dates, nulls, escapes, nested documents and arrays,
binary, regexes, timestamps), and also for the projections the patch must leave to the general path.
(FerretDB v1 refuses arrays in arrays, and stores -0.0 as 0 whatever the read: neither is tested here.)
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from bson import Binary, Int64, ObjectId, Regex, Timestamp
from pymongo import ASCENDING, DESCENDING
from pymongo.database import Database

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
COLL = "projected"

ODD_DOCS: list[dict[str, Any]] = [  # besides ordinary transactions, every shape a projection can meet
    {"_id": "odd-types", "seq": -1, "event_time": T0, "ingest_time": T0 + timedelta(milliseconds=1),
     "amount": -2.5e-300, "zero": 0.0, "whole": 3.0, "long": Int64(2**62), "int": -(2**31), "flag": False, "none": None,
     "text": 'quote " backslash \\ <html> & é ✓ 😀 \t\n\u2028', "empty": "",
     "nested": {"k": 1, "inner": {"list": [1, "two", None, {"deep": True, "e": {}}]}},
     "arr": [T0, 1.5, {}, {"k": Int64(1)}], "bin": Binary(b"\x00\x01\xff", 0), "user_bin": Binary(b"x", 128),
     "re": Regex('^a"\\d', "i"), "ts": Timestamp(1_700_000_000, 7), "big": 1e300, "tiny": 5e-324},
    {"amount": 1, "_id": ObjectId("6256c5ba182d4e8b2c0c5d01"), "seq": -2, "ingest_time": "not a date",
     "nested": [], "event_time": None},  # _id inserted after other fields
    {"_id": 7, "seq": -3},  # none of the projected fields
    {"_id": {"compound": 1, "key": "x"}, "seq": -4, "event_time": T0 - timedelta(days=1), "arr": None,
     "nested": {"k": None}},
    {"_id": 2.5, "seq": -5, "ingest_time": [T0, T0 + timedelta(hours=1)], "amount": Int64(-7), "status": "declined",
     "a-b": "dash", "event_time": datetime(1969, 12, 31, 23, 59, 59, 999000, tzinfo=UTC)},
]


def _ordinary(i: int) -> dict[str, Any]:
    event = T0 + timedelta(seconds=37 * i)
    return {"_id": f"T{i:05d}", "seq": i, "event_time": event, "ingest_time": event + timedelta(milliseconds=i % 997),
            "amount": round(i * 1.37, 2), "status": "approved" if i % 7 else "declined", "flag": i % 3 == 0,
            "nested": {"k": i % 5, "tag": f"n{i}"}, "arr": [i, {"k": i % 4}], "int": i, "text": f"t{i}"}


DOCS = ODD_DOCS + [_ordinary(i) for i in range(300)]  # more than a batch: getMore continues the pushed-down read


def _stored(doc: dict[str, Any]) -> dict[str, Any]:
    """The document as MongoDB stores it: ``_id`` moved first, the rest in insertion order."""
    return {"_id": doc["_id"], **{k: v for k, v in doc.items() if k != "_id"}}


def _project(doc: dict[str, Any], projection: dict[str, Any]) -> dict[str, Any]:
    """MongoDB's plain inclusion projection of top-level fields."""
    keep = {k for k, v in projection.items() if k != "_id" and v}
    out = {"_id": doc["_id"]} if projection.get("_id", 1) else {}
    out.update((k, v) for k, v in doc.items() if k in keep)
    return out


def _typed(value: Any) -> Any:
    """A value with its BSON type spelled out, so that 1, 1.0, True and Int64(1) differ, -0.0 differs from 0.0,
    and documents compare in field order."""
    if isinstance(value, dict):
        return ("doc", [(k, _typed(v)) for k, v in value.items()])
    if isinstance(value, list):
        return ("array", [_typed(v) for v in value])
    if isinstance(value, float):
        return ("double", value.hex(), math.copysign(1, value))
    if isinstance(value, datetime):
        return ("date", value.astimezone(UTC).isoformat())
    if isinstance(value, Regex):
        return ("regex", value.pattern, value.flags)
    if isinstance(value, Binary | bytes):  # pymongo returns subtype 0 as bytes
        return ("binary", getattr(value, "subtype", 0), bytes(value))
    return (type(value).__name__, value)


def _rows(docs: Any) -> list[Any]:
    return [_typed(d) for d in docs]


@pytest.fixture
def coll(mongo_db: Database[Any]) -> Any:
    mongo_db[COLL].insert_many([dict(d) for d in DOCS])
    return mongo_db[COLL]


STORED = [_stored(d) for d in DOCS]
HISTOGRAM = {"_id": 0, "event_time": 1, "ingest_time": 1}
PROJECTIONS: dict[str, dict[str, Any]] = {
    "histogram": HISTOGRAM,
    "id_by_default": {"amount": 1, "event_time": True},
    "id_only": {"_id": 1},
    "id_included_last": {"nested": 1, "_id": True},
    "composite_values": {"_id": False, "nested": 1, "arr": 1, "missing": 1},
    "every_type": {f: 1 for f in ODD_DOCS[0] if f != "_id"},
    "numbers_as_inclusion": {"amount": 2.5, "long": Int64(1), "flag": -1},
}


def test_the_whole_documents_are_stored_as_mongodb_stores_them(coll: Any) -> None:
    """The reference the projections are computed from: reading whole documents is not what changed."""
    assert _rows(coll.find({}).sort("seq", ASCENDING)) == _rows(sorted(STORED, key=lambda d: d["seq"]))


def test_whole_documents_come_back_as_stored_unsorted_in_batches_and_with_odd_keys(coll: Any) -> None:
    """A find without a projection returns the documents FerretDB decoded as they are (find-whole-documents.patch),
    each split into its members in one pass (sjson-fast-split.patch). (FerretDB v1 writes keys into its JSON
    unescaped: a key holding a quote, a backslash or a control character cannot be stored, so none is tested.)"""
    by_id = {str(d["_id"]): _typed(d) for d in STORED}
    assert sorted((str(d["_id"]), _typed(d)) for d in coll.find({}, batch_size=50)) == sorted(by_id.items())
    ordinary = {"seq": {"$gte": 0}}
    assert _rows(coll.find(ordinary, batch_size=7).sort("seq", ASCENDING)) == _rows(STORED[len(ODD_DOCS):])
    odd = {"_id": "odd-keys", "é ✓": {"ü": None}, "": 0.5, "a<b>&{}[],:": ["]", "}"], "s": {"k": 1}}
    coll.insert_one(dict(odd))
    assert _rows(coll.find({"_id": "odd-keys"})) == _rows([odd])


@pytest.mark.parametrize("projection", PROJECTIONS.values(), ids=list(PROJECTIONS))
def test_a_top_level_inclusion_returns_exactly_the_projected_documents(coll: Any, projection: dict[str, Any]) -> None:
    expected = _rows(_project(d, projection) for d in STORED)
    assert _rows(coll.find({}, projection, batch_size=50)) == expected
    assert _rows(coll.aggregate([{"$project": projection}], batchSize=50)) == expected


FILTERED: dict[str, tuple[dict[str, Any], Any]] = {  # filter -> which stored documents match
    "on_a_projected_field": ({"amount": {"$gt": 100}}, lambda d: _num(d.get("amount")) > 100),
    "on_another_field": ({"status": "declined"}, lambda d: d.get("status") == "declined"),
    "on_a_nested_path": ({"nested.k": 3}, lambda d: isinstance(d.get("nested"), dict) and d["nested"].get("k") == 3),
    "in_an_array": ({"arr.k": 2}, lambda d: any(isinstance(e, dict) and e.get("k") == 2 for e in _list(d.get("arr")))),
    "or_and": ({"$or": [{"seq": {"$lt": -2}}, {"$and": [{"flag": True}, {"int": {"$gte": 290}}]}]},
               lambda d: d["seq"] < -2 or (d.get("flag") is True and _num(d.get("int")) >= 290)),
    "nor": ({"$nor": [{"status": "approved"}, {"seq": {"$gte": 0}}]},
            lambda d: d.get("status") != "approved" and d["seq"] < 0),
    "null_matches_missing": ({"event_time": None}, lambda d: d.get("event_time") is None),
    "exists_false": ({"text": {"$exists": False}}, lambda d: "text" not in d),
    "dates": ({"event_time": {"$gte": T0 + timedelta(hours=1)}},
              lambda d: isinstance(d.get("event_time"), datetime) and d["event_time"] >= T0 + timedelta(hours=1)),
    "comment": ({"$comment": "why", "seq": {"$lt": 0}}, lambda d: d["seq"] < 0),
    "id_in_on_the_index": ({"_id": {"$in": ["T00003", "T00150", "odd-types", "absent"]}},  # id-in-pushdown's WHERE
                           lambda d: isinstance(d["_id"], str) and d["_id"] in ("T00003", "T00150", "odd-types")),
    "id_in_with_a_number": ({"_id": {"$in": ["T00004", 7.0]}},
                            lambda d: d["_id"] == "T00004" or (type(d["_id"]) is int and d["_id"] == 7)),
    "id_equal": ({"_id": "T00042"}, lambda d: d["_id"] == "T00042"),
}


def _num(value: Any) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else -math.inf


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


@pytest.mark.parametrize("case", FILTERED.values(), ids=list(FILTERED))
@pytest.mark.parametrize("projection", [HISTOGRAM, {"amount": 1, "status": 1}], ids=["histogram", "amount_status"])
def test_a_filter_sees_the_fields_it_reads(coll: Any, case: tuple[dict[str, Any], Any],
                                           projection: dict[str, Any]) -> None:
    query, matches = case
    selected = [d for d in STORED if matches(d)]
    assert selected, "the case must select something"
    expected = _unordered(_project(d, projection) for d in selected)  # an index may serve the filter, in its order
    assert _unordered(coll.find(query, projection, batch_size=50)) == expected
    pipeline = [{"$match": query}, {"$project": projection}]
    assert _unordered(coll.aggregate(pipeline, batchSize=50)) == expected


def _unordered(docs: Any) -> list[str]:
    """The documents, each with its fields in order, in no particular order."""
    return sorted(repr(row) for row in _rows(docs))


@pytest.mark.parametrize("key", ["seq", "nested.k", "int"])
def test_a_sort_sees_the_fields_it_reads(coll: Any, key: str) -> None:
    ordinary = [d for d in STORED if d["seq"] >= 0]  # the odd documents' types would sort by type order
    if key == "nested.k":
        ordered = sorted(ordinary, key=lambda d: (-d["nested"]["k"], d["seq"]))  # a stable sort: ties keep order
        sort = [("nested.k", DESCENDING), ("seq", ASCENDING)]
    else:
        ordered = sorted(ordinary, key=lambda d: d[key])
        sort = [(key, ASCENDING)]
    query = {"seq": {"$gte": 0}}
    expected = _rows(_project(d, HISTOGRAM) for d in ordered)
    assert _rows(coll.find(query, HISTOGRAM).sort(sort)) == expected
    assert _rows(coll.find(query, HISTOGRAM).sort(sort).skip(10).limit(25)) == expected[10:35]
    pipeline = [{"$match": query}, {"$sort": dict(sort)}, {"$project": HISTOGRAM}, {"$skip": 10}, {"$limit": 25}]
    assert _rows(coll.aggregate(pipeline)) == expected[10:35]


def test_limit_and_skip_keep_their_meaning(coll: Any) -> None:
    expected = _rows(_project(d, HISTOGRAM) for d in STORED)
    assert _rows(coll.find({}, HISTOGRAM).limit(7)) == expected[:7]
    assert _rows(coll.find({}, HISTOGRAM).skip(3).limit(4)) == expected[3:7]


def _exclude(doc: dict[str, Any], fields: set[str]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if k not in fields}


OTHER_PROJECTIONS: dict[str, tuple[dict[str, Any], Any]] = {  # left to the general path, with their answers
    "exclusion": ({"nested": 0, "arr": 0}, lambda d: _exclude(d, {"nested", "arr"})),
    "id_excluded_only": ({"_id": 0}, lambda d: _exclude(d, {"_id"})),
    "nested_path": ({"_id": 0, "nested.k": 1},
                    lambda d: {"nested": {"k": d["nested"]["k"]} if "k" in d["nested"] else {}}
                    if isinstance(d.get("nested"), dict) else ({"nested": []} if d.get("nested") == [] else {})),
    "odd_field_name": ({"a-b": 1, "seq": 1}, lambda d: _project(d, {"a-b": 1, "seq": 1})),
}


@pytest.mark.parametrize("case", OTHER_PROJECTIONS.values(), ids=list(OTHER_PROJECTIONS))
def test_other_projections_are_unchanged(coll: Any, case: tuple[dict[str, Any], Any]) -> None:
    projection, project = case
    assert _rows(coll.find({}, projection)) == _rows(project(d) for d in STORED)


def test_a_capped_collection_keeps_its_natural_order(mongo_db: Database[Any]) -> None:
    capped = mongo_db.create_collection("capped_projected", capped=True, size=1 << 20)
    capped.insert_many([dict(d) for d in DOCS[:50]])
    expected = _rows(_project(d, HISTOGRAM) for d in STORED[:50])
    assert _rows(capped.find({}, HISTOGRAM)) == expected
    assert _rows(capped.find({}, HISTOGRAM).sort("$natural", DESCENDING)) == expected[::-1]


def _pushdown(db: Database[Any], command: dict[str, Any]) -> Any:
    plan = db.command("explain", command)
    # The fixtures run paylake's FerretDB build; against anything else these cases mean nothing: a failure.
    assert "ferretdbVersion" in plan.get("serverInfo", {}), f"not paylake's FerretDB: {plan.get('serverInfo')}"
    return plan.get("projectionPushdown")


PUSHED: dict[str, dict[str, Any]] = {
    "histogram_find": {"find": COLL, "filter": {}, "projection": HISTOGRAM},
    "find_with_filter_and_sort": {"find": COLL, "filter": {"status": "declined", "nested.k": 1},
                                  "projection": {"amount": 1}, "sort": {"seq": 1}},
    "aggregate": {"aggregate": COLL, "pipeline": [{"$match": {"seq": {"$gt": 3}}}, {"$project": HISTOGRAM}],
                  "cursor": {}},
}
NOT_PUSHED: dict[str, dict[str, Any]] = {
    "no_projection": {"find": COLL, "filter": {}},
    "exclusion": {"find": COLL, "filter": {}, "projection": {"nested": 0}},
    "nested_path": {"find": COLL, "filter": {}, "projection": {"nested.k": 1}},
    "elem_match": {"find": COLL, "filter": {}, "projection": {"arr": {"$elemMatch": {"k": 1}}}},
    "slice": {"find": COLL, "filter": {}, "projection": {"arr": {"$slice": 1}}},
    "positional": {"find": COLL, "filter": {"arr": 1}, "projection": {"arr.$": 1}},
    "literal": {"find": COLL, "filter": {}, "projection": {"amount": "x"}},
    "expr_filter": {"find": COLL, "filter": {"$expr": {"$gt": ["$amount", 1]}}, "projection": HISTOGRAM},
    "aggregate_group_first": {"aggregate": COLL, "pipeline": [{"$group": {"_id": "$status"}}, {"$project": {"_id": 1}}],
                              "cursor": {}},
    "aggregate_computed": {"aggregate": COLL, "pipeline": [{"$project": {"x": {"$add": [1, 2]}}}], "cursor": {}},
}


@pytest.mark.parametrize("command", PUSHED.values(), ids=list(PUSHED))
def test_explain_shows_the_projection_pushed_down(coll: Any, command: dict[str, Any]) -> None:
    assert _pushdown(coll.database, command) is True


@pytest.mark.parametrize("command", NOT_PUSHED.values(), ids=list(NOT_PUSHED))
def test_explain_shows_other_reads_take_the_whole_documents(coll: Any, command: dict[str, Any]) -> None:
    assert _pushdown(coll.database, command) is False
