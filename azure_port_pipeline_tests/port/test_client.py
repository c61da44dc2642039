"""PortClient over real HTTP against the Port emulator, faults included."""

from __future__ import annotations

import time

import pytest
import requests

from azure_port_pipeline.emulators.port import PortApiError as EmulatedError
from azure_port_pipeline.emulators.port import PortEmulator
from azure_port_pipeline.entities import Entity
from azure_port_pipeline.port import PortApiError, PortAuthError, PortClient
from azure_port_pipeline.port.blueprints import creation_order
from azure_port_pipeline_tests.port.conftest import (
    BLUEPRINTS,
    CLIENT_ID,
    SECRET,
    cloud_resources,
    desired_view,
    fast_settings,
    resource_groups,
    stored_view,
)

BULK = "POST /v1/blueprints/{bp}/entities/bulk"
AUTH = "POST /v1/auth/access_token"
SCOPE = "sub-1:Microsoft.Resources/resourceGroups"


def test_upserts_land_with_datasource_and_one_request_per_20(
    emulator: PortEmulator, client: PortClient
) -> None:
    entities = resource_groups(45)
    outcomes = client.bulk_upsert(entities, scope=SCOPE)
    assert [o.identifier for o in outcomes] == [e.identifier for e in entities]
    assert all(o.ok and o.created for o in outcomes)
    assert emulator.counters[BULK] == 3
    assert client.metrics.by_route[BULK] == 3 and client.metrics.writes == 3
    assert stored_view(emulator, "azureResourceGroup") == desired_view(entities)
    assert {e["datasource"] for e in emulator.entities()} == {client.user_agent(SCOPE)}
    again = client.bulk_upsert(entities[:2], scope=SCOPE)
    assert [o.created for o in again] == [False, False]


def test_token_is_refreshed_before_expiry_and_once_after_a_401() -> None:
    with PortEmulator(CLIENT_ID, SECRET, token_lifetime=0.5) as emu:
        emu.add_blueprints(BLUEPRINTS)
        with PortClient(fast_settings(emu)) as client:
            client.bulk_upsert(resource_groups(1), scope=SCOPE)
            time.sleep(0.5)  # the token's whole lifetime: the next call must fetch a new one
            client.bulk_upsert(resource_groups(2), scope=SCOPE)
            assert emu.counters[AUTH] == 2
            emu.expire_tokens()  # revoked early: Port answers 401, the client refreshes once
            outcomes = client.bulk_upsert(resource_groups(3), scope=SCOPE)
            assert all(o.ok for o in outcomes)
            assert emu.counters[AUTH] == 3
            assert emu.entity_count("azureResourceGroup") == 3


def test_wrong_secret_fails_clearly_without_showing_it(emulator: PortEmulator) -> None:
    wrong = "Wrong-Secret-Value-99"
    client = PortClient(fast_settings(emulator, client_secret=wrong))
    with client, pytest.raises(PortAuthError) as caught:
        client.search_owned("azureResourceGroup", SCOPE)
    text = str(caught.value) + repr(caught.value)
    assert "401" in text and "/v1/auth/access_token" in text and "unauthorized" in text
    assert wrong not in text and SECRET not in text
    assert SECRET not in repr(client) and SECRET not in repr(client.settings)


def test_errors_never_contain_the_secret_or_token(emulator: PortEmulator) -> None:
    token = requests.post(
        f"{emulator.base_url}/v1/auth/access_token",
        json={"clientId": CLIENT_ID, "clientSecret": SECRET},
        timeout=5,
    ).json()["accessToken"]  # Port hands out one active token per credential: the same one
    emulator.reject(lambda bp, body: EmulatedError(500, "internal_error", f"{token} {SECRET}"))
    with PortClient(fast_settings(emulator, max_retries=1)) as client:
        emulator.faults.fail_next(5, status=503, route="entities/search")
        with pytest.raises(PortApiError) as caught:
            client.search_owned("azureResourceGroup", SCOPE)
        error = caught.value
        assert (error.status, error.code) == (503, "service_unavailable")
        assert "POST /v1/blueprints/azureResourceGroup/entities/search" in str(error)
        with pytest.raises(PortApiError) as missing:
            client.ensure_blueprints([{"identifier": "bad id", "title": "x", "schema": {}}])
        [rejected] = client.bulk_upsert(resource_groups(1), scope=SCOPE)
        assert (rejected.ok, rejected.status, rejected.message) == (False, 500, "*** ***")
        texts = (str(error), repr(error), str(missing.value), repr(missing.value))
        for text in texts:
            assert token not in text and SECRET not in text


def test_partial_207_is_reported_per_entity_while_the_rest_land(
    emulator: PortEmulator, client: PortClient
) -> None:
    entities = resource_groups(30)
    emulator.reject(lambda bp, body: body["identifier"].endswith(("-7", "-21")) and "no way")
    outcomes = client.bulk_upsert(entities, scope=SCOPE)
    failed = {o.identifier: o for o in outcomes if not o.ok}
    assert set(failed) == {entities[7].identifier, entities[21].identifier}
    assert {(o.status, o.code, o.message) for o in failed.values()} == {
        (422, "blueprint_schema_mismatch", "no way")
    }
    assert emulator.entity_count("azureResourceGroup") == 28
    assert emulator.counters[BULK] == 2


def test_invalid_identifiers_and_schema_mismatches_are_isolated(
    emulator: PortEmulator, client: PortClient
) -> None:
    good = resource_groups(5)
    bad_id = Entity("azureResourceGroup", "has a space", title="bad")
    bad_type = Entity("azureResourceGroup", "rg-typed", properties={"location": 42})
    entities = [*good[:2], bad_id, *good[2:], bad_type]
    outcomes = {o.identifier: o for o in client.bulk_upsert(entities, scope=SCOPE)}
    assert outcomes["has a space"].ok is False
    assert (outcomes["has a space"].status, outcomes["has a space"].code) == (
        422,
        "invalid_request",
    )
    assert "identifier" in (outcomes["has a space"].message or "")
    assert (outcomes["rg-typed"].status, outcomes["rg-typed"].code) == (
        422,
        "blueprint_schema_mismatch",
    )
    assert all(outcomes[e.identifier].ok for e in good)
    assert stored_view(emulator, "azureResourceGroup") == desired_view(good)


def test_413_splits_the_batch_and_oversized_entities_are_refused_locally() -> None:
    with PortEmulator(CLIENT_ID, SECRET, body_limit=40_000) as emu:
        emu.add_blueprints(BLUEPRINTS)
        with PortClient(fast_settings(emu)) as client:
            rg = resource_groups(1)[0]
            client.bulk_upsert([rg], scope=SCOPE)
            entities = cloud_resources(20, rg.identifier, pad=5_000)  # 20 x 5 kB > 40 kB
            outcomes = client.bulk_upsert(entities, scope=SCOPE)
            assert all(o.ok for o in outcomes)
            assert stored_view(emu, "azureCloudResource") == desired_view(entities)
            assert emu.counters[BULK] > 2  # one 413, then smaller batches
            huge = cloud_resources(1, rg.identifier, pad=1_100_000)
            before = emu.counters[BULK]
            [outcome] = client.bulk_upsert(huge, scope=SCOPE)
            assert (outcome.ok, outcome.status) == (False, 413)
            assert emu.counters[BULK] == before


def test_storms_of_429_5xx_and_dropped_connections_lose_nothing(emulator: PortEmulator) -> None:
    settings = fast_settings(emulator, max_retries=30, retry_deadline=60)
    with PortClient(settings) as client:
        rgs = resource_groups(3)
        client.bulk_upsert(rgs, scope=SCOPE)
        entities = [e for rg in rgs for e in cloud_resources(60, rg.identifier)]
        emulator.faults.configure(
            rate_limit=6, rate_window=0.2, retry_after=False, error_rate=0.2, drop_rate=0.1, seed=7
        )
        emulator.faults.drop_next(2, route="entities/bulk", after=True)  # written, answer lost
        outcomes = client.bulk_upsert(entities, scope="sub-1:cloudResource")
        emulator.faults.clear()
        assert all(o.ok for o in outcomes), [o for o in outcomes if not o.ok][:3]
        assert stored_view(emulator, "azureCloudResource") == desired_view(entities)
        assert client.metrics.retries > 0
        assert client.metrics.retries_by_route[BULK] == client.metrics.retries


def test_timeouts_are_retried(emulator: PortEmulator) -> None:
    with PortClient(fast_settings(emulator, timeout=0.3)) as client:
        client.search_owned("azureResourceGroup", SCOPE)
        emulator.faults.delay_next(1, seconds=0.6, route="entities/search")
        assert client.search_owned("azureResourceGroup", SCOPE) == []
        assert client.metrics.retries == 1


def test_retry_after_on_429_is_honoured_by_every_thread(emulator: PortEmulator) -> None:
    with PortClient(fast_settings(emulator, max_retry_wait=5.0)) as client:
        emulator.faults.throttle_next(1, route="entities/bulk", retry_after=1.0)
        started = time.monotonic()
        outcomes = client.bulk_upsert(resource_groups(80), scope=SCOPE)
        assert all(o.ok for o in outcomes)
        assert time.monotonic() - started >= 0.9  # Retry-After: 1 was waited, not backoff
        assert client.metrics.throttle_seconds >= 0.9 and client.metrics.retries == 1


@pytest.mark.parametrize("reset_format", ["seconds", "epoch"])
def test_limiter_keeps_under_the_budget_port_announces(
    emulator: PortEmulator, reset_format: str
) -> None:
    emulator.faults.configure(rate_limit=4, rate_window=0.2, reset_format=reset_format)
    with PortClient(fast_settings(emulator, max_concurrency=1)) as client:
        outcomes = client.bulk_upsert(resource_groups(20 * 6), scope=SCOPE)
        assert all(o.ok for o in outcomes)
        assert emulator.faults.throttled == 0  # paused on x-ratelimit-remaining: 0, no 429
        assert client.metrics.throttle_waits >= 1 and client.metrics.retries == 0


def test_retries_give_up_with_a_clear_error(emulator: PortEmulator) -> None:
    with PortClient(fast_settings(emulator, max_retries=2)) as client:
        emulator.faults.fail_next(10, status=500, route="entities/bulk")
        with pytest.raises(PortApiError) as caught:
            client.bulk_upsert(resource_groups(1), scope=SCOPE)
        assert (caught.value.status, caught.value.code) == (500, "internal_error")
        assert "/entities/bulk" in caught.value.route
        assert client.metrics.retries == 2


def test_search_owned_pages_and_sees_only_this_scope(
    emulator: PortEmulator, client: PortClient
) -> None:
    mine = resource_groups(1_100)
    client.bulk_upsert(mine, scope=SCOPE)
    client.bulk_upsert(
        resource_groups(3, "sub-2"), scope="sub-2:Microsoft.Resources/resourceGroups"
    )
    emulator.put_entity(
        "azureResourceGroup", {"identifier": "foreign", "title": "f"}, datasource="someone-else"
    )
    emulator.reset_counters()
    owned = client.search_owned("azureResourceGroup", SCOPE)
    assert sorted(e["identifier"] for e in owned) == sorted(e.identifier for e in mine)
    assert all(e["blueprint"] == "azureResourceGroup" for e in owned)
    assert emulator.counters["POST /v1/blueprints/{bp}/entities/search"] == 2
    assert client.search_owned("azureResourceGroup", "sub-9:x") == []


#: Alerts must relate to a resource group: Port refuses to delete a group alerts relate to
#: unless `delete_dependents=true`, and then deletes the alerts too, whoever wrote them.
ALERT = {
    "identifier": "alert",
    "title": "Alert",
    "schema": {"properties": {}},
    "relations": {
        "resource_group": {"target": "azureResourceGroup", "required": True, "many": False}
    },
}
THEIRS = "another-integration/2.0 (installation=x)"


def test_deletes_cascade_only_into_dependents_this_installation_owns(
    emulator: PortEmulator, client: PortClient
) -> None:
    emulator.add_blueprint(ALERT)
    rgs = resource_groups(4)
    client.bulk_upsert(rgs, scope=SCOPE)
    ours = Entity("alert", "ours", relations={"resource_group": rgs[0].identifier})
    client.bulk_upsert([ours], scope="sub-1:alerts")
    theirs = {"identifier": "theirs", "relations": {"resource_group": rgs[1].identifier}}
    emulator.put_entity("alert", theirs, datasource=THEIRS)
    ids = [rg.identifier for rg in rgs] + ["never-existed"]

    refused = {
        o.identifier: o
        for o in client.bulk_delete("azureResourceGroup", ids[:2], delete_dependents=False)
    }
    assert (refused[ids[0]].ok, refused[ids[0]].status, refused[ids[0]].code) == (
        False,
        403,
        "has_dependents",
    )
    assert refused[ids[1]].kept_for_foreign_dependents
    assert emulator.entity_count("azureResourceGroup") == 4

    outcomes = {
        o.identifier: o
        for o in client.bulk_delete("azureResourceGroup", ids, delete_dependents=True)
    }

    assert outcomes[ids[0]].ok and outcomes[ids[0]].foreign_dependents == ()
    assert emulator.entity("alert", "ours") is None  # cascaded into: it was ours
    kept = outcomes[ids[1]]
    assert kept.kept_for_foreign_dependents and not kept.ok and kept.operation == "delete"
    assert kept.foreign_dependents == (("alert", "theirs"),)
    assert "alert/theirs" in (kept.message or "")
    assert kept.as_dict()["foreign_dependents"] == [["alert", "theirs"]]
    assert all(outcomes[i].ok for i in ids[2:])
    assert [e["identifier"] for e in emulator.entities("azureResourceGroup")] == [ids[1]]
    assert emulator.entity("alert", "theirs") is not None  # never touched


def test_dependents_that_cannot_be_checked_are_never_cascaded_into(
    emulator: PortEmulator, client: PortClient
) -> None:
    emulator.add_blueprint(ALERT)
    rgs = resource_groups(2)
    client.bulk_upsert(rgs, scope=SCOPE)
    client.bulk_upsert(
        [Entity("alert", "ours", relations={"resource_group": rgs[0].identifier})],
        scope="sub-1:alerts",
    )
    emulator.faults.fail_next(10, 400, route="POST /v1/entities/search")

    outcomes = client.bulk_delete(
        "azureResourceGroup", [rg.identifier for rg in rgs], delete_dependents=True
    )

    refused, leaf = outcomes
    assert (refused.ok, refused.code) == (False, "has_dependents")
    assert "could not be checked, so nothing was cascaded" in (refused.message or "")
    assert leaf.ok
    assert emulator.entity("alert", "ours") is not None
    assert emulator.entity("azureResourceGroup", rgs[0].identifier) is not None


def test_foreign_cascade_is_an_explicit_opt_in(emulator: PortEmulator, client: PortClient) -> None:
    emulator.add_blueprint(ALERT)
    rgs = resource_groups(2)
    client.bulk_upsert(rgs, scope=SCOPE)
    theirs = {"identifier": "theirs", "relations": {"resource_group": rgs[0].identifier}}
    emulator.put_entity("alert", theirs, datasource=THEIRS)

    outcomes = client.bulk_delete(
        "azureResourceGroup",
        [rg.identifier for rg in rgs],
        delete_dependents=True,
        foreign_cascade=True,
    )

    assert all(o.ok for o in outcomes)
    assert outcomes[0].foreign_dependents == (("alert", "theirs"),)  # reported as deleted
    assert emulator.entity_count() == 0


def test_a_foreign_entity_under_an_optional_relation_stays_and_is_reported(
    emulator: PortEmulator, client: PortClient
) -> None:
    rgs = resource_groups(2)
    client.bulk_upsert(rgs, scope=SCOPE)
    client.bulk_upsert(cloud_resources(2, rgs[0].identifier), scope="sub-1:storage")
    theirs = {"identifier": "theirs", "relations": {"resource_group": rgs[0].identifier}}
    emulator.put_entity("azureCloudResource", theirs, datasource=THEIRS)

    outcomes = client.bulk_delete(
        "azureResourceGroup", [rg.identifier for rg in rgs], delete_dependents=True
    )

    assert all(o.ok for o in outcomes)
    assert outcomes[0].foreign_dependents == (("azureCloudResource", "theirs"),)
    assert outcomes[1].foreign_dependents == ()
    assert emulator.entity_count("azureResourceGroup") == 0
    kept = emulator.entity("azureCloudResource", "theirs")
    assert kept is not None and kept["relations"] == {"resource_group": None}
    assert emulator.entity_count("azureCloudResource") == 3  # no cascade: ours wait their turn


def test_bulk_delete_uses_100_per_request(emulator: PortEmulator, client: PortClient) -> None:
    rgs = resource_groups(250)
    client.bulk_upsert(rgs, scope=SCOPE)
    outcomes = client.bulk_delete(
        "azureResourceGroup", [rg.identifier for rg in rgs], delete_dependents=False
    )
    assert len(outcomes) == 250 and all(o.ok for o in outcomes)
    assert emulator.counters["POST /v1/blueprints/{bp}/bulk/entities/delete"] == 3
    assert emulator.entity_count() == 0


def test_ensure_blueprints_creates_only_missing_and_never_overwrites() -> None:
    with PortEmulator(CLIENT_ID, SECRET) as emu:
        users = {
            "identifier": "azureSubscription",
            "title": "My Subs",
            "schema": {"properties": {"owner": {"type": "string"}}},
        }
        emu.add_blueprint(users)
        with PortClient(fast_settings(emu)) as client:
            report = client.ensure_blueprints(BLUEPRINTS)
            assert report.created == ["azureResourceGroup", "azureCloudResource"]
            assert report.existing == ["azureSubscription"]
            stored = {bp["identifier"]: bp for bp in emu.blueprints()}
            assert stored["azureSubscription"]["title"] == "My Subs"
            assert set(stored["azureSubscription"]["schema"]["properties"]) == {"owner"}
            assert stored["azureCloudResource"]["relations"]["resource_group"]["target"] == (
                "azureResourceGroup"
            )
            assert stored["azureResourceGroup"]["relations"]["subscription"]["target"] == (
                "azureSubscription"
            )
            emu.reset_counters()
            again = client.ensure_blueprints(BLUEPRINTS)
            assert again.created == [] and len(again.existing) == 3
            assert set(emu.counters) == {"GET /v1/blueprints"}


def test_each_missing_blueprint_is_created_whole_after_those_it_points_at() -> None:
    """One request a blueprint, relations included, targets first: a run killed in the middle
    of the setup leaves only complete blueprints (never one without its relations, which the
    next run, leaving existing blueprints alone, would not complete)."""
    with PortEmulator(CLIENT_ID, SECRET) as emu, PortClient(fast_settings(emu)) as client:
        reversed_file = list(reversed(BLUEPRINTS))  # sources before their targets
        emu.faults.delay_next(1, seconds=0.01, route="POST /v1/blueprints")  # passes
        emu.faults.fail_next(1, status=400, route="POST /v1/blueprints")
        emu.reset_counters()
        with pytest.raises(PortApiError):  # "killed" after the first blueprint
            client.ensure_blueprints(reversed_file)
        first = {bp["identifier"]: bp for bp in emu.blueprints()}
        assert set(first) == {"azureSubscription"}  # the target of the others, first

        report = client.ensure_blueprints(reversed_file)
        stored = {bp["identifier"]: bp for bp in emu.blueprints()}
        assert (
            set(report.created) | set(first)
            == set(stored)
            == {bp["identifier"] for bp in BLUEPRINTS}
        )
        assert stored["azureCloudResource"]["relations"]["resource_group"]["target"] == (
            "azureResourceGroup"
        )
        assert not any(key.startswith("PATCH") for key in emu.counters)


@pytest.mark.parametrize(
    ("relations", "existing", "whole", "cyclic"),
    [
        ({"b": "a", "c": "b"}, set(), ["a", "b", "c"], []),
        ({"b": "a", "c": "b"}, {"a"}, ["b", "c"], []),
        ({"a": "b", "b": "a", "c": None}, set(), ["c"], ["a", "b"]),
        ({"a": "a"}, set(), ["c", "b"], ["a"]),
    ],
    ids=["chain", "target-exists", "cycle", "self"],
)
def test_creation_order(
    relations: dict[str, str | None], existing: set[str], whole: list[str], cyclic: list[str]
) -> None:
    blueprints = [  # the file lists sources first
        {
            "identifier": name,
            "relations": {"to": {"target": relations[name]}} if relations.get(name) else {},
        }
        for name in ["c", "b", "a"]
    ]
    made, left = creation_order(blueprints, existing)
    assert [bp["identifier"] for bp in made] == whole
    assert sorted(bp["identifier"] for bp in left) == cyclic
