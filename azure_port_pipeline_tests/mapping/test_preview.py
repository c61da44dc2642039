"""`preview`: a file of raw objects through the mapping entries of each item's kind."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from azure_port_pipeline.mapping.preview import PreviewError, preview

from . import fixtures as fx

DEFAULT_MAPPING = Path(__file__).resolve().parents[2] / "mapping" / "azure.yaml"
ALL_KINDS = [
    fx.SUBSCRIPTION,
    fx.RESOURCE_GROUP,
    fx.STORAGE_ACCOUNT,
    fx.VIRTUAL_MACHINE,
    fx.MANAGED_CLUSTER,
    fx.CONTAINER_APP,
    fx.LOAD_BALANCER,
    {"id": "/subscriptions/x/providers/Microsoft.Web/sites/s", "type": "Microsoft.Web/sites"},
]


def write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "items.json"
    path.write_text(json.dumps(data))
    return path


def test_preview_routes_each_item_by_type(tmp_path: Path) -> None:
    items = [
        {**item, "type": item["type"].upper()} if "type" in item else item for item in ALL_KINDS
    ]
    out = preview(DEFAULT_MAPPING, write(tmp_path, {"value": items}))
    blueprints = [entity["blueprint"] for entity in out["entities"]]
    assert blueprints == ["azureSubscription", "azureResourceGroup"] + ["azureCloudResource"] * 5
    assert out["entities"][1]["identifier"] == fx.RG_ID_PORT
    report = out["report"]
    assert (report["items_in"], report["entities_out"], report["unmatched"]) == (7, 7, 1)
    assert report["errors"] == []


def test_preview_with_an_explicit_kind(tmp_path: Path) -> None:
    out = preview(
        DEFAULT_MAPPING,
        write(tmp_path, [fx.STORAGE_ACCOUNT, {"id": "", "name": "x"}]),
        kind="microsoft.storage/storageaccounts",
    )
    assert [e["title"] for e in out["entities"]] == ["contosoprodst01"]
    assert out["report"]["skipped_empty"] == 1
    assert out["report"]["kind"] == "microsoft.storage/storageaccounts"


def test_preview_errors(tmp_path: Path) -> None:
    with pytest.raises(PreviewError, match=r"no mapping entry of kind 'Microsoft\.Foo/bars'"):
        preview(DEFAULT_MAPPING, write(tmp_path, []), kind="Microsoft.Foo/bars")
    with pytest.raises(PreviewError, match="must hold a JSON list"):
        preview(DEFAULT_MAPPING, write(tmp_path, {"items": []}))
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    with pytest.raises(PreviewError, match="not valid JSON"):
        preview(DEFAULT_MAPPING, bad)
