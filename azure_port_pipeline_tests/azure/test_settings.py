"""Settings come from the environment, fail loudly when malformed, and never show secrets."""

from __future__ import annotations

import pytest
from azure.identity import ClientSecretCredential, DefaultAzureCredential

from azure_port_pipeline.azure import AzureConfigError, AzureSettings
from azure_port_pipeline.azure.credentials import build_credential

SUB_A = "11111111-1111-1111-1111-111111111111"
SUB_B = "22222222-2222-2222-2222-222222222222"


def test_service_principal_from_env_keeps_the_secret_out_of_reprs():
    settings = AzureSettings.from_env(
        {
            "AZURE_TENANT_ID": "tenant",
            "AZURE_CLIENT_ID": "client",
            "AZURE_CLIENT_SECRET": "super-secret-value",
        }
    )
    assert settings.client_secret is not None
    assert settings.client_secret.get_secret_value() == "super-secret-value"
    assert "super-secret-value" not in repr(settings)
    assert "super-secret-value" not in str(settings.model_dump())
    assert not settings.uses_default_credential
    assert isinstance(build_credential(settings), ClientSecretCredential)


def test_public_cloud_defaults():
    settings = AzureSettings.from_env({})
    assert settings.resolved_arm_endpoint == "https://management.azure.com"
    assert settings.credential_scope == "https://management.azure.com/.default"
    assert settings.resolved_authority_host == "https://login.microsoftonline.com"
    assert settings.is_microsoft_authority


@pytest.mark.parametrize(
    ("cloud", "endpoint", "scope", "authority"),
    [
        (
            "usgov",
            "https://management.usgovcloudapi.net",
            "https://management.core.usgovcloudapi.net/.default",
            "https://login.microsoftonline.us",
        ),
        (
            "AzureChinaCloud",
            "https://management.chinacloudapi.cn",
            "https://management.chinacloudapi.cn/.default",
            "https://login.chinacloudapi.cn",
        ),
    ],
)
def test_sovereign_clouds_select_endpoint_scope_and_authority(cloud, endpoint, scope, authority):
    settings = AzureSettings.from_env({"AZURE_CLOUD": cloud})
    assert settings.resolved_arm_endpoint == endpoint
    assert settings.credential_scope == scope
    assert settings.resolved_authority_host == authority
    assert settings.is_microsoft_authority


def test_emulator_overrides_endpoint_and_authority_and_skips_instance_discovery():
    settings = AzureSettings.from_env(
        {
            "AZURE_ARM_ENDPOINT": "https://127.0.0.1:8443/",
            "AZURE_AUTHORITY_HOST": "https://127.0.0.1:8443",
            "AZURE_CA_BUNDLE": "/tmp/ca.pem",
        }
    )
    assert settings.resolved_arm_endpoint == "https://127.0.0.1:8443"
    assert settings.ca_bundle == "/tmp/ca.pem"
    assert not settings.is_microsoft_authority


def test_unknown_cloud_is_rejected_naming_the_variable():
    with pytest.raises(AzureConfigError, match="AZURE_CLOUD"):
        AzureSettings.from_env({"AZURE_CLOUD": "germany"})


def test_plain_http_authority_is_rejected():
    with pytest.raises(AzureConfigError, match="https"):
        AzureSettings.from_env({"AZURE_AUTHORITY_HOST": "http://127.0.0.1:1"})


def test_secret_without_tenant_fails_before_any_request():
    settings = AzureSettings.from_env({"AZURE_CLIENT_ID": "c", "AZURE_CLIENT_SECRET": "s"})
    with pytest.raises(AzureConfigError, match="AZURE_TENANT_ID"):
        build_credential(settings)


@pytest.mark.parametrize(
    "env",
    [
        {
            "AZURE_USE_DEFAULT_CREDENTIAL": "true",
            "AZURE_CLIENT_SECRET": "s",
            "AZURE_TENANT_ID": "t",
            "AZURE_CLIENT_ID": "c",
        },
        {"AZURE_CLIENT_ID": "managed-identity-client"},
    ],
)
def test_default_credential_when_asked_or_without_secret(env):
    settings = AzureSettings.from_env(env)
    assert settings.uses_default_credential
    assert isinstance(build_credential(settings), DefaultAzureCredential)


def test_bad_boolean_is_rejected():
    with pytest.raises(AzureConfigError, match="AZURE_USE_DEFAULT_CREDENTIAL"):
        AzureSettings.from_env({"AZURE_USE_DEFAULT_CREDENTIAL": "maybe"})


def test_subscription_lists_are_comma_separated_guids_lower_cased():
    settings = AzureSettings.from_env(
        {
            "AZURE_SUBSCRIPTIONS_INCLUDE": f" {SUB_A.upper()} , {SUB_B}",
            "AZURE_SUBSCRIPTIONS_EXCLUDE": SUB_B,
        }
    )
    assert settings.subscriptions_include == (SUB_A, SUB_B)
    assert settings.subscriptions_exclude == (SUB_B,)
    with pytest.raises(AzureConfigError, match="GUID"):
        AzureSettings.from_env({"AZURE_SUBSCRIPTIONS_INCLUDE": "prod-subscription"})


def test_resource_group_tag_filters_in_port_format_and_ours():
    port_format = AzureSettings.from_env(
        {
            "AZURE_RESOURCE_GROUP_TAG_FILTERS": (
                '{"include": {"Environment": "Production"}, "exclude": {"Temporary": "true"}}'
            ),
        }
    )
    assert port_format.rg_tags_include == {"Environment": "Production"}
    assert port_format.rg_tags_exclude == {"Temporary": "true"}

    ours = AzureSettings.from_env(
        {
            "AZURE_RESOURCE_GROUP_TAG_FILTERS": '{"include": {"Environment": "Production"}}',
            "AZURE_RG_TAGS_INCLUDE": "team=platform, env=prod",
            "AZURE_RG_TAGS_EXCLUDE": '{"Temporary": "true"}',
        }
    )
    assert ours.rg_tags_include == {"team": "platform", "env": "prod"}  # the specific one wins
    assert ours.rg_tags_exclude == {"Temporary": "true"}

    with pytest.raises(AzureConfigError, match="AZURE_RG_TAGS_INCLUDE"):
        AzureSettings.from_env({"AZURE_RG_TAGS_INCLUDE": "no-equals-sign"})
    with pytest.raises(AzureConfigError, match="AZURE_RESOURCE_GROUP_TAG_FILTERS"):
        AzureSettings.from_env({"AZURE_RESOURCE_GROUP_TAG_FILTERS": "{not json"})


def test_numeric_settings_and_graph_limits():
    settings = AzureSettings.from_env({"AZURE_RETRY_TOTAL": "2", "AZURE_GRAPH_PAGE_SIZE": "5"})
    assert settings.retry_total == 2
    assert settings.graph_page_size == 5
    with pytest.raises(AzureConfigError, match="AZURE_RETRY_TOTAL"):
        AzureSettings.from_env({"AZURE_RETRY_TOTAL": "many"})
    with pytest.raises(AzureConfigError, match="1000"):
        AzureSettings.from_env({"AZURE_GRAPH_BATCH_SIZE": "5000"})


SECRET = "do-not-show-this-secret"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("AZURE_ARM_ENDPOINT", "::::"),
        ("AZURE_ARM_ENDPOINT", "https://"),
        ("AZURE_ARM_ENDPOINT", "http://management.azure.com"),
        ("AZURE_ARM_ENDPOINT", "https://management azure com"),
        ("AZURE_ARM_ENDPOINT", "https://host:port"),
        ("AZURE_ARM_ENDPOINT", "https://user:pw@management.azure.com"),
        ("AZURE_AUTHORITY_HOST", "https://login.microsoftonline.com?x=1"),
        ("AZURE_AUTHORITY_HOST", "htps://login.microsoftonline.com"),
        ("AZURE_RG_TAGS_INCLUDE", '{"a": [1, 2]}'),
        ("AZURE_RG_TAGS_INCLUDE", '{"a": {"b": "c"}}'),
        ("AZURE_RG_TAGS_EXCLUDE", '{"a": 1}'),
        ("AZURE_RG_TAGS_EXCLUDE", '{"a": null}'),
        ("AZURE_RESOURCE_GROUP_TAG_FILTERS", '{"include": {"a": [1, 2]}}'),
        ("AZURE_RESOURCE_GROUP_TAG_FILTERS", '{"exclude": {"a": true}}'),
        ("AZURE_TIMEOUT", "0"),
        ("AZURE_TIMEOUT", "-1"),
        ("AZURE_TIMEOUT", "inf"),
        ("AZURE_TIMEOUT", "nan"),
        ("AZURE_DEADLINE_SECONDS", "0"),
        ("AZURE_DEADLINE_SECONDS", "inf"),
        ("AZURE_RETRY_TOTAL", "-1"),
        ("AZURE_RETRY_BACKOFF_FACTOR", "-0.5"),
        ("AZURE_RETRY_BACKOFF_FACTOR", "inf"),
        ("AZURE_RETRY_BACKOFF_MAX", "-1"),
        ("AZURE_GRAPH_PAGE_SIZE", "0"),
        ("AZURE_GRAPH_BATCH_SIZE", "1001"),
        ("AZURE_GRAPH_MAX_THROTTLE_WAITS", "-1"),
        ("AZURE_GRAPH_MAX_WAIT_SECONDS", "-1"),
        ("AZURE_GRAPH_MAX_WAIT_SECONDS", "nan"),
    ],
)
def test_bad_values_fail_at_load_naming_the_variable_never_a_secret(variable, value):
    env = {
        "AZURE_TENANT_ID": "tenant",
        "AZURE_CLIENT_ID": "client",
        "AZURE_CLIENT_SECRET": SECRET,
        variable: value,
    }
    with pytest.raises(AzureConfigError) as raised:
        AzureSettings.from_env(env)
    message = str(raised.value)
    assert variable in message
    assert SECRET not in message
    assert "pw@" not in message  # a URL's credentials are not repeated either


def test_good_endpoints_and_tag_filters_still_load():
    settings = AzureSettings.from_env(
        {
            "AZURE_ARM_ENDPOINT": "https://[::1]:8443/",
            "AZURE_AUTHORITY_HOST": "login.microsoftonline.us",
            "AZURE_RG_TAGS_INCLUDE": '{"env": "prod"}',
            "AZURE_RG_TAGS_EXCLUDE": "team=legacy",
            "AZURE_DEADLINE_SECONDS": "3",
        }
    )
    assert settings.resolved_arm_endpoint == "https://[::1]:8443"
    assert settings.resolved_authority_host == "https://login.microsoftonline.us"
    assert (settings.rg_tags_include, settings.rg_tags_exclude) == (
        {"env": "prod"},
        {"team": "legacy"},
    )
    assert settings.deadline_seconds == 3
