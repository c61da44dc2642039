"""ARM answering badly: one bad item is reported and the rest kept, never a crash.

Every answer below is produced by the emulator over real HTTPS (`faults.rewrite_page`), read
by the real SDK pipeline, and mapped with the default mapping.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from azure_port_pipeline.mapping import load_mapping, map_items

MAPPING = Path(__file__).resolve().parents[2] / "mapping" / "azure.yaml"
STORAGE = "Microsoft.Storage/storageAccounts"
VERSION = "2023-01-01"


@pytest.fixture(scope="module")
def storage_entry() -> Any:
    return next(e for e in load_mapping(MAPPING).entries if e.kind == STORAGE)


def _storage(emulator: Any, sub: str) -> list[dict[str, Any]]:
    return list(emulator.estate.resources(sub, STORAGE))


def test_a_string_in_value_is_reported_and_the_rest_is_kept(
    azure_emulator_clean, make_reader, storage_entry
):
    emulator = azure_emulator_clean
    emulator.page_size = 3
    sub = emulator.estate.subscription_ids[0]
    expected = _storage(emulator, sub)
    assert len(expected) > 3

    def garble(body: dict[str, Any]) -> dict[str, Any]:
        body["value"].insert(1, "not an object")
        return body

    emulator.faults.rewrite_page(garble, times=1, route=f"*{STORAGE}*")
    listing = make_reader(emulator).list_kind(sub, STORAGE, VERSION)

    assert sorted(i["id"] for i in listing.items) == sorted(r["id"] for r in expected)
    assert not listing.complete  # an unreadable item: nothing may be deleted on this listing
    assert "item 1 of page 1 is a string, not a JSON object" in listing.error
    assert STORAGE in listing.error and sub in listing.error
    result = map_items(storage_entry, listing.items)
    assert result.report.entities_out == len(expected) and not result.report.errors


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda item: item.pop("id"), "identifier"),
        (lambda item: item.update(id=None), "identifier"),
        (lambda item: item.pop("name"), None),
        (lambda item: item.pop("type"), None),
        (lambda item: item.update(tags=None), None),
    ],
    ids=["no id", "id null", "no name", "no type", "tags null"],
)
def test_items_missing_fields_are_reported_by_the_mapping_and_the_rest_kept(
    azure_emulator_clean, make_reader, storage_entry, change, field
):
    emulator = azure_emulator_clean
    sub = emulator.estate.subscription_ids[0]
    expected = _storage(emulator, sub)

    def damage(body: dict[str, Any]) -> dict[str, Any]:
        change(body["value"][0])
        return body

    emulator.faults.rewrite_page(damage, times=1, route=f"*{STORAGE}*")
    listing = make_reader(emulator).list_kind(sub, STORAGE, VERSION)

    assert listing.complete, listing.error  # every item was read; the mapping judges them
    assert len(listing.items) == len(expected)
    result = map_items(storage_entry, listing.items)
    if field == "identifier":  # reported for that item alone, counted, not written
        assert result.report.entities_out == len(expected) - 1
        assert result.report.skipped_empty == 1
        assert "port.entity.mappings.identifier" in {e.field for e in result.report.errors}
    else:
        assert result.report.entities_out == len(expected)
        assert not result.report.errors


def test_non_ascii_names_list_and_map(azure_emulator_clean, make_reader, storage_entry):
    emulator = azure_emulator_clean
    sub = emulator.estate.subscription_ids[0]
    expected = _storage(emulator, sub)

    def rename(body: dict[str, Any]) -> dict[str, Any]:
        item = body["value"][0]
        item["name"] = "stöckholm-数据-ü"
        item["id"] = item["id"].rsplit("/", 1)[0] + "/stöckholm-数据-ü"
        item["tags"] = {"équipe": "données"}
        return body

    emulator.faults.rewrite_page(rename, times=1, route=f"*{STORAGE}*")
    listing = make_reader(emulator).list_kind(sub, STORAGE, VERSION)

    assert listing.complete and len(listing.items) == len(expected)
    renamed = [i for i in listing.items if i["name"] == "stöckholm-数据-ü"]
    assert len(renamed) == 1 and renamed[0]["tags"] == {"équipe": "données"}
    result = map_items(storage_entry, listing.items)
    assert result.report.entities_out == len(expected)
    assert "stöckholm-数据-ü" in {e.title for e in result.entities}


def test_a_page_that_is_not_json_is_a_named_azure_error(azure_emulator_clean, make_reader):
    emulator = azure_emulator_clean
    emulator.page_size = 3
    sub = emulator.estate.subscription_ids[0]
    html = "<html><body><h1>502 Bad Gateway</h1></body></html>"
    calls = []

    def second_page_is_html(body: dict[str, Any]) -> Any:
        calls.append(1)
        return html if len(calls) == 2 else body

    emulator.faults.rewrite_page(second_page_is_html, times=None, route=f"*{STORAGE}*")
    listing = make_reader(emulator).list_kind(sub, STORAGE, VERSION)

    assert not listing.complete
    assert len(listing.items) == 3  # the first page
    assert "InvalidJson" in listing.error and "not JSON" in listing.error
    assert "text/html" in listing.error
    assert STORAGE in listing.error and sub in listing.error
    assert "JSONDecodeError" not in listing.error and "Expecting value" not in listing.error


@pytest.mark.parametrize(
    "body", [{"value": "oops"}, {"value": {"id": "x"}}, [1, 2], {"value": [], "nextLink": 5}]
)
def test_a_page_of_the_wrong_shape_is_a_named_azure_error(azure_emulator_clean, make_reader, body):
    emulator = azure_emulator_clean
    sub = emulator.estate.subscription_ids[0]
    emulator.faults.rewrite_page(lambda _: body, times=1, route=f"*{STORAGE}*")

    listing = make_reader(emulator).list_kind(sub, STORAGE, VERSION)

    assert not listing.complete and listing.items == []
    assert "InvalidJson" in listing.error or "InvalidResponse" in listing.error
    assert STORAGE in listing.error


def test_the_same_id_on_two_pages_is_reported_and_kept_once(
    azure_emulator_clean, make_reader, storage_entry
):
    emulator = azure_emulator_clean
    emulator.page_size = 3
    sub = emulator.estate.subscription_ids[0]
    expected = _storage(emulator, sub)
    first_page: list[dict[str, Any]] = []

    def repeat(body: dict[str, Any]) -> dict[str, Any]:
        if not first_page:
            first_page.extend(body["value"])
        else:  # later pages repeat the first item, its id in another casing
            twin = dict(first_page[0], id=first_page[0]["id"].upper(), kind="Updated")
            body["value"].append(twin)
        return body

    emulator.faults.rewrite_page(repeat, times=2, route=f"*{STORAGE}*")
    listing = make_reader(emulator).list_kind(sub, STORAGE, VERSION)

    ids = [i["id"].lower() for i in listing.items]
    assert sorted(ids) == sorted(r["id"].lower() for r in expected)  # one copy each
    assert next(i for i in listing.items if i["id"].lower() == ids[0])["kind"] == "Updated"
    assert not listing.complete
    assert "same id more than once" in listing.error
    assert first_page[0]["id"].upper() in listing.error
    result = map_items(storage_entry, listing.items)
    identifiers = [e.identifier for e in result.entities]
    assert len(identifiers) == len(set(identifiers)) == len(expected)
