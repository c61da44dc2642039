"""ARM URLs keep the kind's api-version, even on a nextLink that names another one."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from azure_port_pipeline.azure.arm import ArmPipeline
from azure_port_pipeline.azure.counters import CounterSink


def _pipeline() -> ArmPipeline:
    return ArmPipeline(pipeline_client=None, endpoint="https://arm.example/", sink=CounterSink())


def test_relative_path_gets_the_endpoint_and_the_api_version():
    url = _pipeline().url("/subscriptions/s/providers/Microsoft.Web/sites", "2023-12-01")
    assert url == (
        "https://arm.example/subscriptions/s/providers/Microsoft.Web/sites?api-version=2023-12-01"
    )


def test_next_link_keeps_its_skip_token_and_takes_the_kinds_api_version():
    next_link = (
        "https://arm.example/subscriptions/s/providers/Microsoft.Web/sites"
        "?api-version=2099-01-01&%24skiptoken=a%2Bb%3D%3D&%24filter=x%20eq%20%27y%27"
    )
    url = _pipeline().url(next_link, "2023-12-01")
    query = parse_qs(urlsplit(url).query)
    assert query["api-version"] == ["2023-12-01"]
    assert query["$skiptoken"] == ["a+b=="]
    assert query["$filter"] == ["x eq 'y'"]
    assert urlsplit(url).path == "/subscriptions/s/providers/Microsoft.Web/sites"
