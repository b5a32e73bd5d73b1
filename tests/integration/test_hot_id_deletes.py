"""Deletes by a list of ``_id`` values delete exactly what MongoDB deletes.

The archive deletes each verified batch with ``delete_many({_id: {$in: [...]}})``. MongoDB serves that from
the ``_id`` index. FerretDB v1 reads, decodes and re-filters every candidate document before deleting it;
paylake's ``delete-by-id.patch`` deletes a list of strings and ObjectIds with one SQL statement on the
``_id`` index instead, never reading the documents. That is only right if the SQL is exact: a string, an
ObjectId and a binData ``_id`` are all stored as JSON strings, so the patch also checks each document's
stored type. These tests compare every deleted count and every remaining ``_id`` with MongoDB's rules,
evaluated here, over ``_id`` values a careless translation would get wrong: a string spelled like an
ObjectId's hex or a binData's base64, characters JSON escapes, numbers of two types, nulls, regexes, arrays.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from bson import Binary, ObjectId
from bson.regex import Regex
from pymongo.collection import Collection
from pymongo.database import Database

OID = ObjectId("6256c5ba182d4e8b2c0c5d01")
BIN = Binary(b"\x00\x00\x00")  # base64 "AAAA": stored by FerretDB as the JSON string "AAAA"
SPECIAL: list[Any] = [
    "",
    'quote " and backslash \\',
    "<html> & ampersand",  # Go's JSON encoder escapes these: the stored text and the bound value must agree
    "unicode é ✓ 😀",
    OID,
    ObjectId("6256c5ba182d4e8b2c0c5d02"),
    BIN,
    7,
    2.5,
    {"k": 1},
]
ORDINARY = [f"T{i:07d}" for i in range(300)]

LISTS: dict[str, list[Any]] = {
    "strings": ["T0000003", "T0000150", "absent", "", "<html> & ampersand", "unicode é ✓ 😀", "T0000003"],
    "escaped_strings": ['quote " and backslash \\', "T0000299"],
    "object_ids": [OID, ObjectId("6256c5ba182d4e8b2c0c5dff")],
    "strings_and_object_ids": ["T0000010", OID, "T0000011"],
    "hex_string_not_the_object_id": ["T0000018", str(OID)],  # same SQL text as OID: it must stay
    "base64_string_not_the_binary": ["T0000019", "AAAA"],  # same SQL text as BIN: it must stay
    "empty": [],
    # not done by id in SQL (the usual path): other types match by other rules
    "with_a_number": ["T0000020", 7.0],  # 7.0 deletes the _id 7
    "with_a_binary": ["T0000021", BIN],
    "with_null": ["T0000022", None],
    "with_an_array": ["T0000023", ["T0000024"]],
    "with_a_document": ["T0000025", {"k": 1}],
    "with_a_regex": ["T0000026", Regex("^T000003")],
}


def _same(stored: Any, listed: Any) -> bool:
    """MongoDB's equality of an _id with one $in value: numbers across int/double, every other type only
    with itself (bytes for binData); a regex matches strings."""
    if isinstance(listed, Regex):
        return isinstance(stored, str) and re.search(listed.pattern, stored) is not None
    number = (int, float)
    if isinstance(listed, number) and not isinstance(listed, bool):
        return isinstance(stored, number) and not isinstance(stored, bool) and stored == listed
    if isinstance(listed, bytes):
        return isinstance(stored, bytes) and bytes(stored) == bytes(listed)
    return type(stored) is type(listed) and stored == listed


def _ids(coll: Collection[Any]) -> list[str]:
    return sorted(repr(d["_id"]) for d in coll.find({}, {"_id": 1}))


@pytest.fixture
def keyed(mongo_db: Database[Any]) -> Collection[Any]:
    coll = mongo_db["id_deletes"]
    coll.insert_many([{"_id": key, "n": i} for i, key in enumerate(ORDINARY + SPECIAL)])
    return coll


@pytest.mark.parametrize("listed", LISTS.values(), ids=list(LISTS))
def test_an_id_list_deletes_exactly_what_mongodb_would(keyed: Collection[Any], listed: list[Any]) -> None:
    stored = [d["_id"] for d in keyed.find({}, {"_id": 1})]
    gone = {repr(s) for s in stored if any(_same(s, v) for v in listed)}
    assert gone or not listed, "the case must delete something"

    deleted = keyed.delete_many({"_id": {"$in": listed}}).deleted_count

    assert deleted == len(gone)
    assert _ids(keyed) == sorted(repr(s) for s in stored if repr(s) not in gone)
    assert keyed.delete_many({"_id": {"$in": listed}}).deleted_count == 0  # a re-run deletes nothing more


def test_other_filters_on_an_id_list_keep_their_meaning(keyed: Collection[Any]) -> None:
    listed = [f"T{i:07d}" for i in range(0, 300, 3)]
    assert keyed.delete_one({"_id": {"$in": listed}}).deleted_count == 1  # limit 1: not a delete of the list
    assert keyed.delete_many({"_id": {"$in": listed}, "n": {"$lt": 30}}).deleted_count == 9  # 3…27, 0 is gone
    assert keyed.delete_many({"_id": {"$in": listed, "$ne": "T0000030"}}).deleted_count == len(listed) - 11
    assert [d["_id"] for d in keyed.find({"_id": {"$in": listed}})] == ["T0000030"]


def test_a_list_as_long_as_an_archive_chunk_and_a_longer_one(mongo_db: Database[Any]) -> None:
    """20,000 ids is the archive's chunk; above the patch's bound (30,000) the usual path deletes."""
    coll = mongo_db["id_deletes_long"]
    ids = [f"L{i:07d}" for i in range(40_000)]
    for start in range(0, len(ids), 10_000):
        coll.insert_many([{"_id": i} for i in ids[start : start + 10_000]])
    assert coll.delete_many({"_id": {"$in": ids[:20_000] + ["absent"]}}).deleted_count == 20_000
    assert coll.delete_many({"_id": {"$in": ids[10_000:] + [f"X{i}" for i in range(5_000)]}}).deleted_count == 20_000
    assert coll.count_documents({}) == 0
