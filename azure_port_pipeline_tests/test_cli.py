"""The command line as users run it: mapping preview and the headless demo."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from azure_port_pipeline.cli import main
from azure_port_pipeline_tests.paths import PROJECT_ROOT

STORAGE_ID = (
    "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/My-RG/providers/"
    "Microsoft.Storage/storageAccounts/stdata01"
)


def test_map_prints_port_entities_and_report(tmp_path: Path, capsys) -> None:
    raw = tmp_path / "raw.json"
    raw.write_text(
        json.dumps(
            {
                "value": [
                    {
                        "id": STORAGE_ID,
                        "name": "stdata01",
                        "type": "Microsoft.Storage/storageAccounts",
                        "location": "westeurope",
                        "tags": {"team": "data"},
                        "properties": {},
                    }
                ]
            }
        )
    )

    code = main(["map", "--mapping", str(PROJECT_ROOT / "mapping/azure.yaml"), "--input", str(raw)])

    assert code == 0
    output = json.loads(capsys.readouterr().out)
    (entity,) = output["entities"]
    assert entity["identifier"] == STORAGE_ID.replace(
        "resourceGroups/My-RG", "resourcegroups/my-rg"
    )
    assert entity["blueprint"] == "azureCloudResource"
    assert entity["relations"] == {
        "resource_group": "/subscriptions/00000000-0000-0000-0000-000000000001/resourcegroups/my-rg"
    }
    assert output["report"]["items_in"] == 1 and output["report"]["errors"] == []


def test_map_exits_non_zero_naming_the_problem_for_an_invalid_mapping(
    tmp_path: Path, capsys
) -> None:
    mapping = tmp_path / "bad.yaml"
    mapping.write_text(
        "resources:\n- kind: subscription\n  selector:\n    query: 'true'\n"
        "  port:\n    entity:\n      mappings:\n        identifier: .id |\n"
        "        title: .name\n        blueprint: '\"x\"'\n"
    )
    raw = tmp_path / "raw.json"
    raw.write_text("[]")

    code = main(["map", "--mapping", str(mapping), "--input", str(raw)])

    assert code != 0
    error = capsys.readouterr().err
    assert "bad.yaml" in error and "identifier" in error


@pytest.mark.e2e
def test_headless_demo_syncs_and_verifies() -> None:
    completed = subprocess.run(
        [
            str(Path(sys.executable).with_name("azure-port-pipeline")),
            "demo",
            "--once",
            "--resources",
            "600",
        ],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout[-4000:] + completed.stderr[-4000:]
    assert "OK: Port holds exactly the entities the mapping produces from Azure." in (
        completed.stdout
    )
    output = completed.stdout
    # 3 subscriptions synced in full twice; then the changed ones through one change window,
    # then through the Event Grid events of more changes
    full, window, events = (
        output.split("Full resync:")[1].split("One incremental window:")[0],
        output.split("One incremental window:")[1].split("Event Grid events")[0],
        output.split("one sensor tick:")[1],
    )
    assert output.split("Full resync:")[0].count(" yes ") == 3
    assert full.count(" yes ") == 3
    assert 1 <= window.count(" yes ") <= 3 and "runs requested" in window
    assert 1 <= events.count(" yes ") <= 3
    assert "incremental runs" in completed.stderr and "events received" in completed.stderr
    assert " NO " not in output
