"""A run whose ARM answers echo the bearer token leaves the token nowhere.

The emulator's `echo_authorization` fault makes every storage-account listing fail with an
error quoting the request's `Authorization` header. After the run, every file the instance
wrote (snapshots, gzip-compressed, included; compute logs), every event the instance stored
and everything the run printed are searched for the tokens the emulator issued.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
from dagster import AssetKey

from azure_port_pipeline.defs.blueprints import BLUEPRINTS_KEY
from azure_port_pipeline.defs.headless import sync_partition
from azure_port_pipeline.defs.partitions import SUBSCRIPTIONS_PARTITION
from azure_port_pipeline_tests.defs.conftest import Pipeline

pytestmark = pytest.mark.e2e

STORAGE_KEYS = [
    BLUEPRINTS_KEY,
    AssetKey(["azure", "storage_accounts"]),
    AssetKey(["port_entities", "storage_accounts"]),
    AssetKey(["port_sync", "storage_accounts"]),
]


def _files_text(root: Path) -> str:
    texts = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        data = path.read_bytes()
        if path.suffix == ".gz" or data[:2] == b"\x1f\x8b":
            data = gzip.decompress(data)
        texts.append(data.decode("utf-8", "replace"))
    return "\n".join(texts)


def test_an_echoed_bearer_token_reaches_no_file_event_or_output(
    pipeline: Pipeline, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    subscription_id = pipeline.enabled_subscriptions[0]
    pipeline.instance.add_dynamic_partitions(SUBSCRIPTIONS_PARTITION, [subscription_id])
    pipeline.azure.faults.echo_authorization(times=None, route="*storageAccounts*")

    summary = sync_partition(
        pipeline.defs,
        pipeline.instance,
        subscription_id,
        log_level="DEBUG",
        asset_selection=STORAGE_KEYS,
    )

    printed = capfd.readouterr()
    tokens = pipeline.azure.issued_tokens()
    assert tokens, "the run authenticated against the emulator"
    events = "\n".join(
        repr(entry)
        for run in pipeline.instance.get_runs()
        for entry in pipeline.instance.all_logs(run.run_id)
    )
    files = _files_text(tmp_path)
    for token in tokens:
        for where, text in (
            ("event log", events),
            ("files under the instance directory", files),
            ("stdout", printed.out),
            ("stderr", printed.err),
        ):
            assert token not in text, f"the bearer token leaked into the {where}"
    # the failure is there, named, with the token masked
    assert "InvalidRequestHeaders" in events and "Bearer ***" in events
    assert "InvalidRequestHeaders" in files  # the raw snapshot's `error` field
    assert summary.success, "a failed listing is reported, not a crashed run"
