"""AZURE_PORT_* settings, and resources built from the environment: bad values stop loading
with the variable named (never a secret), instead of a Dagster invariant error or a run."""

from __future__ import annotations

import pytest

from azure_port_pipeline.azure import AzureConfigError
from azure_port_pipeline.defs.factory import build_definitions
from azure_port_pipeline.defs.resources import AzureResource, PortResource
from azure_port_pipeline.defs.settings import PipelineSettings, PipelineSettingsError
from azure_port_pipeline.port import PortConfigError


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("AZURE_PORT_FRESHNESS_HOURS", "-5"),
        ("AZURE_PORT_FRESHNESS_HOURS", "0"),
        ("AZURE_PORT_FRESHNESS_HOURS", "0.01"),  # under Dagster's one-minute windows
        ("AZURE_PORT_FRESHNESS_HOURS", "inf"),
        ("AZURE_PORT_FRESHNESS_HOURS", "nan"),
        ("AZURE_PORT_FRESHNESS_HOURS", "1e12"),
        ("AZURE_PORT_INCREMENTAL_MINUTES", "0"),
        ("AZURE_PORT_INCREMENTAL_MINUTES", "30000"),  # beyond the 14-day change retention
        ("AZURE_PORT_DISCOVERY_SECONDS", "-1"),
        ("AZURE_PORT_FULL_SYNC_CRON", "every day at two"),
        ("AZURE_PORT_FULL_SYNC_CRON", "61 2 * * *"),
        ("AZURE_PORT_AUTOSTART", "perhaps"),
        ("AZURE_PORT_IDENTIFIER_POLICY", "lenient"),
    ],
)
def test_bad_values_fail_at_load_naming_the_variable(variable, value):
    with pytest.raises(PipelineSettingsError) as raised:
        PipelineSettings.from_env({variable: value})
    assert variable in str(raised.value)


def test_smallest_freshness_window_builds_definitions():
    settings = PipelineSettings.from_env(
        {"AZURE_PORT_FRESHNESS_HOURS": "0.05", "AZURE_PORT_FULL_SYNC_CRON": " 30 1 * * * "}
    )
    defs = build_definitions(settings=settings)
    assert defs.resolve_schedule_def("full_resync").cron_schedule == "30 1 * * *"


@pytest.mark.parametrize(
    ("environ", "variable"),
    [
        ({"AZURE_ARM_ENDPOINT": "::::"}, "AZURE_ARM_ENDPOINT"),
        ({"AZURE_TIMEOUT": "0"}, "AZURE_TIMEOUT"),
        ({"AZURE_DEADLINE_SECONDS": "-3"}, "AZURE_DEADLINE_SECONDS"),
        ({"AZURE_RG_TAGS_INCLUDE": '{"a": [1, 2]}'}, "AZURE_RG_TAGS_INCLUDE"),
    ],
)
def test_the_azure_resource_refuses_bad_variables_when_definitions_load(environ, variable):
    secret = "azure-secret-never-shown"
    environ = {**environ, "AZURE_TENANT_ID": "t", "AZURE_CLIENT_ID": "c"}
    with pytest.raises(AzureConfigError) as raised:
        AzureResource.from_env({**environ, "AZURE_CLIENT_SECRET": secret})
    assert variable in str(raised.value) and secret not in str(raised.value)


@pytest.mark.parametrize(
    "base_url", ["not a url", "htps://api.port.io", "http://api.port.io", "https://"]
)
def test_the_port_resource_refuses_a_bad_base_url_when_definitions_load(base_url):
    with pytest.raises(PortConfigError, match="PORT_BASE_URL"):
        PortResource.from_env({"PORT_BASE_URL": base_url})


def test_the_azure_resource_carries_the_deadline():
    resource = AzureResource.from_env({"AZURE_DEADLINE_SECONDS": "42"})
    assert resource.deadline_seconds == 42
    assert resource.settings().deadline_seconds == 42
