"""Subscriptions: every page read, disabled ones kept apart, include/exclude lists applied."""

from __future__ import annotations

from azure_port_pipeline_tests.azure_fixtures import emulator_env

SUB_NOT_VISIBLE = "99999999-9999-4999-8999-999999999999"


def test_every_page_is_read_and_disabled_subscriptions_are_not_enabled(
    azure_emulator_clean, make_reader
):
    emulator = azure_emulator_clean
    emulator.page_size = 1
    reader = make_reader(emulator)

    listing = reader.list_subscriptions()

    estate_ids = [s.lower() for s in emulator.estate.subscription_ids]
    disabled = {s.lower() for s in emulator.estate.disabled_subscription_ids}
    assert listing.complete and listing.error is None
    assert sorted(item["subscription_id"] for item in listing.items) == sorted(estate_ids)
    assert disabled, "the test estate has a disabled subscription"
    assert set(listing.enabled_ids) == set(estate_ids) - disabled
    assert listing.counters.pages == len(estate_ids)  # one subscription per page
    assert emulator.counters["GET /subscriptions"] == len(estate_ids)


def test_records_have_the_shape_ports_default_mapping_reads(azure_emulator_clean, make_reader):
    emulator = azure_emulator_clean
    listing = make_reader(emulator).list_subscriptions()
    record = listing.items[0]
    rest = emulator.estate.subscription(record["subscription_id"])
    assert record["id"] == rest["id"]
    assert record["display_name"] == rest["displayName"]
    assert record["tenant_id"] == emulator.tenant_id
    assert record["state"] == rest["state"]
    assert record["tags"] == rest.get("tags")  # tag names keep their spelling
    assert "displayName" not in record
    assert set(record["subscription_policies"]) >= {"quota_id"}


def test_include_and_exclude_lists(azure_emulator_clean, make_reader):
    emulator = azure_emulator_clean
    first, second, third = (s.lower() for s in emulator.estate.subscription_ids)
    reader = make_reader(
        emulator,
        AZURE_SUBSCRIPTIONS_INCLUDE=f"{first},{second.upper()},{SUB_NOT_VISIBLE}",
        AZURE_SUBSCRIPTIONS_EXCLUDE=second,
    )

    listing = reader.list_subscriptions()

    assert [item["subscription_id"] for item in listing.items] == [first]
    assert sorted(listing.excluded) == sorted([second, third])
    assert listing.missing_included == [SUB_NOT_VISIBLE]
    assert listing.complete


def test_subscription_kind_is_the_subscription_record(azure_emulator_clean, make_reader):
    emulator = azure_emulator_clean
    reader = make_reader(emulator)
    sub = emulator.estate.subscription_ids[0]

    listing = reader.list_kind(sub, "subscription", "2022-09-01")

    assert listing.complete
    assert [item["subscription_id"] for item in listing.items] == [sub.lower()]
    assert listing.items[0]["display_name"]


def test_a_failed_subscription_page_is_reported_incomplete(azure_emulator_clean, make_reader):
    emulator = azure_emulator_clean
    emulator.page_size = 1
    emulator.faults.server_error(times=100, status=500, route="GET /subscriptions")
    reader = make_reader(emulator, AZURE_RETRY_TOTAL="1")

    listing = reader.list_subscriptions()

    assert not listing.complete
    assert "500" in listing.error
    assert listing.counters.retries == 1


def test_default_credential_path_reads_the_environment(
    azure_emulator_clean, make_reader, monkeypatch
):
    """AZURE_USE_DEFAULT_CREDENTIAL=true: DefaultAzureCredential (its environment credential
    here; managed identity in Azure) still trusts the CA bundle and skips instance discovery."""
    emulator = azure_emulator_clean
    for name, value in emulator_env(emulator).items():
        monkeypatch.setenv(name, value)
    reader = make_reader(emulator, AZURE_USE_DEFAULT_CREDENTIAL="true")
    assert reader.settings.uses_default_credential

    listing = reader.list_subscriptions()

    assert listing.complete and len(listing.items) == len(emulator.estate.subscription_ids)
