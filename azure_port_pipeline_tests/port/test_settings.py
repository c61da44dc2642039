"""PORT_* settings: a bad value fails at load naming the variable, never showing a secret."""

from __future__ import annotations

import pytest

from azure_port_pipeline.port import PortConfigError, PortSettings

SECRET = "do-not-show-this-port-secret"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("PORT_BASE_URL", "not a url"),
        ("PORT_BASE_URL", "htps://api.port.io"),
        ("PORT_BASE_URL", "ftp://api.port.io"),
        ("PORT_BASE_URL", "api.port.io"),
        ("PORT_BASE_URL", "https://"),
        ("PORT_BASE_URL", "https://api.port.io:port"),
        ("PORT_BASE_URL", "http://api.port.io"),  # the secret would cross the network in clear
        ("PORT_BASE_URL", "http://10.0.0.5:8080"),
        ("PORT_BASE_URL", "https://user:pw@api.port.io"),
        ("PORT_BASE_URL", "https://api.port.io?region=eu"),
        ("PORT_INSTALLATION_ID", "prod; scope=other"),
        ("PORT_INSTALLATION_ID", "   "),
        ("PORT_TIMEOUT", "0"),
        ("PORT_TIMEOUT", "inf"),
        ("PORT_MAX_CONCURRENCY", "0"),
        ("PORT_REQUESTS_PER_SECOND", "0"),
        ("PORT_REQUESTS_PER_SECOND", "nan"),
        ("PORT_MAX_RETRIES", "-1"),
        ("PORT_BACKOFF_BASE", "-1"),
        ("PORT_BACKOFF_MAX", "-1"),
        ("PORT_MAX_RETRY_WAIT", "-1"),
        ("PORT_RETRY_DEADLINE", "0"),
        ("PORT_RETRY_DEADLINE", "inf"),
        ("PORT_TOKEN_REFRESH_MARGIN", "-1"),
        ("PORT_LOW_REMAINING_RATIO", "1.5"),
    ],
)
def test_bad_values_fail_at_load_naming_the_variable_never_a_secret(variable, value):
    env = {"PORT_CLIENT_ID": "client", "PORT_CLIENT_SECRET": SECRET, variable: value}
    with pytest.raises(PortConfigError) as raised:
        PortSettings.from_env(env)
    message = str(raised.value)
    assert variable in message
    assert SECRET not in message
    assert "pw@" not in message


@pytest.mark.parametrize(
    "url",
    [
        "https://api.port.io",
        "https://api.us.port.io/",
        "http://127.0.0.1:5555",  # the emulator
        "http://localhost:5555",
        "http://[::1]:5555",
    ],
)
def test_https_and_loopback_http_base_urls_load(url):
    settings = PortSettings.from_env({"PORT_BASE_URL": url}, require_credentials=False)
    assert settings.api_url == url.rstrip("/")
