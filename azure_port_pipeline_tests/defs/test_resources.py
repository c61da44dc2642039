"""Resources carry their configuration: validated from the environment once, secrets as EnvVar."""

from __future__ import annotations

import pytest
from dagster import EnvVar

from azure_port_pipeline.azure import AzureConfigError
from azure_port_pipeline.defs.factory import build_definitions
from azure_port_pipeline.defs.profiles import ProfileError
from azure_port_pipeline.defs.resources import AzureResource, PortResource
from azure_port_pipeline.defs.settings import PipelineSettings, PipelineSettingsError
from azure_port_pipeline.port import PortConfigError

SUB = "11111111-1111-1111-1111-111111111111"


def test_azure_resource_from_env_types_fields_and_keeps_the_secret_an_env_var() -> None:
    resource = AzureResource.from_env(
        {
            "AZURE_TENANT_ID": "tenant",
            "AZURE_CLIENT_ID": "client",
            "AZURE_CLIENT_SECRET": "super-secret-value",
            "AZURE_SUBSCRIPTIONS_INCLUDE": SUB,
            "AZURE_RG_TAGS_INCLUDE": "team=platform",
            "AZURE_RETRY_TOTAL": "3",
        }
    )
    assert resource.client_secret == EnvVar("AZURE_CLIENT_SECRET")
    assert resource.subscriptions_include == [SUB]
    assert resource.rg_tags_include == {"team": "platform"}
    assert resource.retry_total == 3
    assert "super-secret-value" not in repr(resource)


def test_azure_resource_without_a_secret_uses_the_default_credential() -> None:
    resource = AzureResource.from_env({"AZURE_CLIENT_ID": "managed-identity"})
    assert resource.client_secret is None
    assert resource.settings().uses_default_credential


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("AZURE_CLOUD", "germany"),
        ("AZURE_RETRY_TOTAL", "many"),
        ("AZURE_SUBSCRIPTIONS_INCLUDE", "prod"),
        ("AZURE_ARM_ENDPOINT", "http://127.0.0.1:1"),
    ],
)
def test_a_bad_azure_variable_fails_building_the_resource_naming_it(
    variable: str, value: str
) -> None:
    with pytest.raises(AzureConfigError, match=variable):
        AzureResource.from_env({variable: value})


def test_a_resource_never_reads_the_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AZURE_RETRY_TOTAL", "99")
    monkeypatch.setenv("AZURE_ARM_ENDPOINT", "https://elsewhere.example")
    monkeypatch.setenv("PORT_MAX_CONCURRENCY", "63")
    azure = AzureResource(retry_total=3).settings()
    assert azure.retry_total == 3
    assert azure.resolved_arm_endpoint == "https://management.azure.com"
    port = PortResource(client_id="id", client_secret="secret").settings()
    assert port.max_concurrency == 4


def test_port_resource_from_env_defers_credentials_to_run_time() -> None:
    resource = PortResource.from_env({"PORT_INSTALLATION_ID": "prod", "PORT_TIMEOUT": "12"})
    assert resource.client_id == EnvVar("PORT_CLIENT_ID")
    assert resource.client_secret == EnvVar("PORT_CLIENT_SECRET")
    assert (resource.installation_id, resource.timeout) == ("prod", 12.0)
    with pytest.raises(PortConfigError, match="PORT_MAX_CONCURRENCY"):
        PortResource.from_env({"PORT_MAX_CONCURRENCY": "0"})


def test_a_port_client_without_credentials_names_the_missing_variables() -> None:
    with pytest.raises(PortConfigError, match="PORT_CLIENT_ID and PORT_CLIENT_SECRET"):
        PortResource(client_id="", client_secret="").client()


def test_pipeline_settings_are_validated_when_definitions_load() -> None:
    with pytest.raises(PipelineSettingsError, match="AZURE_PORT_INCREMENTAL_MINUTES"):
        PipelineSettings.from_env({"AZURE_PORT_INCREMENTAL_MINUTES": "soon"})
    with pytest.raises(PipelineSettingsError, match="AZURE_PORT_AUTOSTART"):
        PipelineSettings.from_env({"AZURE_PORT_AUTOSTART": "perhaps"})
    with pytest.raises(ProfileError, match="AZURE_PORT_PROFILE"):
        build_definitions(settings=PipelineSettings.from_env({"AZURE_PORT_PROFILE": "qa"}))


def test_profile_overrides_apply_one_by_one() -> None:
    settings = PipelineSettings.from_env(
        {"AZURE_PORT_PROFILE": "Staging", "AZURE_PORT_DISCOVERY_SECONDS": "30"}
    )
    defs = build_definitions(settings=settings)
    sensor = defs.resolve_sensor_def("subscription_discovery")
    assert sensor.minimum_interval_seconds == 30
    assert defs.resolve_schedule_def("full_resync").cron_schedule == "0 3 * * *"


def test_outside_a_run_an_env_var_field_is_read_never_taken_as_the_secret(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AZURE_CLIENT_SECRET", "the-real-secret")
    resource = AzureResource.from_env({"AZURE_CLIENT_SECRET": "at-load", "AZURE_TENANT_ID": "t"})
    secret = resource.settings().client_secret
    assert secret is not None and secret.get_secret_value() == "the-real-secret"
    monkeypatch.setenv("PORT_CLIENT_ID", "port-id")
    monkeypatch.setenv("PORT_CLIENT_SECRET", "port-secret")
    port = PortResource.from_env({}).settings()
    assert (port.client_id, port.secret) == ("port-id", "port-secret")
