"""Reads by a list of ``_id`` values are served by the ``_id`` index, and lose nothing.

The KPI job fetches the customers its new rows reference with ``{_id: {$in: [...]}}``. MongoDB serves that
from the ``_id`` index. FerretDB v1 hands SQLite only ``{_id: <value>}`` (and, written on an expression
the index is not built on, scans anyway); paylake's ``id-in-pushdown.patch`` puts both on the index's
expression and pushes down ``$in`` lists of strings and ObjectIds. The SQL must select a superset of the
matches (FerretDB still applies the whole filter), so these tests compare every answer with MongoDB's rules,
evaluated here, over ``_id`` values and lists that a careless translation would get wrong: other types, a
string spelled like an ObjectId's hex, characters JSON escapes, numbers, arrays, nulls and regexes.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from bson import ObjectId
from bson.regex import Regex
from pymongo.database import Database

from paylake import names

OID = ObjectId("6256c5ba182d4e8b2c0c5d01")
IDS: list[Any] = [  # _id values other than the ordinary customer ids
    "",
    'quote " and backslash \\',
    "<html> & ampersand",  # Go's JSON encoder escapes these: the stored text and the bound value must agree
    "unicode é ✓ 😀",
    "s_one",
    "s_two",
    OID,  # FerretDB's JSON stores it as its hex string: its unique _id index refuses str(OID) beside it
    ObjectId("6256c5ba182d4e8b2c0c5d02"),
    7,
    2.5,
    {"k": 1},
]
ORDINARY = [f"C{i:07d}" for i in range(200)]


@pytest.fixture
def keyed(mongo_db: Database[Any]) -> Database[Any]:
    mongo_db[names.CUSTOMERS].insert_many([{"_id": key, "n": i} for i, key in enumerate(ORDINARY + IDS)])
    return mongo_db


def _same(stored: Any, listed: Any) -> bool:
    """MongoDB's equality of an _id with one $in value: numbers across int/double, every other type only
    with itself; a regex matches strings."""
    if isinstance(listed, Regex):
        return isinstance(stored, str) and re.search(listed.pattern, stored) is not None
    number = (int, float)
    if isinstance(listed, number) and not isinstance(listed, bool):
        return isinstance(stored, number) and not isinstance(stored, bool) and stored == listed
    return type(stored) is type(listed) and stored == listed


LISTS: dict[str, list[Any]] = {
    "strings": ["C0000003", "C0000150", "absent", "", "<html> & ampersand", "unicode é ✓ 😀"],
    "escaped_strings": ['quote " and backslash \\', "s_one"],
    "strings_and_object_ids": ["C0000010", OID, ObjectId("6256c5ba182d4e8b2c0c5dff")],
    "hex_string_not_the_object_id": ["C0000018", str(OID)],  # same SQL text: the handler must drop OID
    "object_id": [OID],
    "with_a_number": ["C0000011", 7.0],  # not pushed down: 7.0 matches the _id 7
    "with_a_float": ["C0000012", 2.5],
    "with_an_array": ["C0000013", ["C0000014"]],  # an array value is no _id's: matches nothing
    "with_null": ["C0000015", None],
    "with_a_document": ["C0000016", {"k": 1}],
    "with_a_regex": ["C0000017", Regex("^s_")],
}


@pytest.mark.parametrize("listed", LISTS.values(), ids=list(LISTS))
def test_an_id_list_returns_exactly_what_mongodb_would(keyed: Database[Any], listed: list[Any]) -> None:
    customers = keyed[names.CUSTOMERS]
    stored = [d["_id"] for d in customers.find({}, {"_id": 1})]
    expected = sorted(repr(s) for s in stored if any(_same(s, v) for v in listed))
    assert expected, "the case must select something"

    query = {"_id": {"$in": listed}}
    assert sorted(repr(d["_id"]) for d in customers.find(query)) == expected
    assert sorted(repr(d["_id"]) for d in customers.aggregate([{"$match": query}])) == expected


def test_an_id_list_combines_with_other_conditions(keyed: Database[Any]) -> None:
    customers = keyed[names.CUSTOMERS]
    listed = [f"C{i:07d}" for i in range(0, 200, 3)]
    found = {d["_id"] for d in customers.find({"_id": {"$in": listed, "$ne": "C0000003"}, "n": {"$lt": 30}})}
    assert found == {f"C{i:07d}" for i in range(0, 30, 3)} - {"C0000003"}
    assert list(customers.find({"_id": {"$in": []}})) == []


def test_equality_on_an_id_still_tells_types_apart(keyed: Database[Any]) -> None:
    customers = keyed[names.CUSTOMERS]
    assert list(customers.find({"_id": str(OID)})) == []
    assert [d["n"] for d in customers.find({"_id": OID})] == [len(ORDINARY) + IDS.index(OID)]
    assert [d["n"] for d in customers.find({"_id": "unicode é ✓ 😀"})] == [len(ORDINARY) + 3]


def test_a_list_longer_than_sqlite_takes_is_still_answered(keyed: Database[Any]) -> None:
    """Above the patch's bound (30,000 values, under SQLite's 32,766 parameters) the filter runs in Go."""
    listed = [f"C{i:07d}" for i in range(0, 35_000)]
    assert keyed[names.CUSTOMERS].count_documents({"_id": {"$in": listed}}) == len(ORDINARY)


@pytest.mark.parametrize("query", [{"_id": {"$in": ORDINARY[:100]}}, {"_id": "C0000042"}], ids=["in", "equal"])
def test_an_id_lookup_is_served_by_the_id_index(keyed: Database[Any], query: dict[str, Any]) -> None:
    for command in ({"find": names.CUSTOMERS, "filter": query},
                    {"aggregate": names.CUSTOMERS, "pipeline": [{"$match": query}], "cursor": {}}):
        plan = keyed.command("explain", command)
        text = str(plan.get("queryPlanner") or plan.get("stages") or plan)
        # FerretDB shows SQLite's plan; MongoDB names the _id index's stage (IDHACK for equality).
        assert ("USING INDEX" in text and "_id_" in text) or "IXSCAN" in text or "IDHACK" in text, text
