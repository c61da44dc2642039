"""deploy/helm/: values for Dagster's Helm chart, checked without the chart.

The chart's schema was checked at development time (deploy/helm/README.md says how); here the
values are held to the project: the instance settings equal the root dagster.yaml (so the
single-machine and Kubernetes setups cannot drift), secrets appear only as references, the image
and module are this package's, and every environment variable set is a real setting of the
project (read from its pydantic-settings classes) with a value those classes accept.
"""

from __future__ import annotations

import copy
import importlib
import importlib.util
import inspect
import pkgutil
import re
import tomllib
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from pydantic_settings import BaseSettings

import azure_port_pipeline
from azure_port_pipeline.envsettings import from_environ, variable_of
from azure_port_pipeline_tests.paths import PROJECT_ROOT

HELM = PROJECT_ROOT / "deploy" / "helm"
VALUES = yaml.safe_load((HELM / "values.yaml").read_text())
OVERLAY = yaml.safe_load((HELM / "values-workload-identity.yaml").read_text())
INSTANCE = yaml.safe_load((PROJECT_ROOT / "dagster.yaml").read_text())
PYPROJECT = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())
# names of secret settings (AZURE_CLIENT_SECRET, ..._CONNECTION_STRING) and of chart keys that
# would hold one (postgresqlPassword, secretKey, accessKeyOrSasToken)
SECRET_WORDS = re.compile(r"SECRET|PASSWORD|TOKEN|CONNECTION_STRING|(^|_)KEY$")
SECRET_KEYS = re.compile(r"secret|password|token|accesskey|connectionstring", re.IGNORECASE)


def helm_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Helm's merge of values files: maps deep-merge, null deletes a key, the rest replaces."""
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = helm_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


LAYERS = {"values.yaml": VALUES, "+ values-workload-identity.yaml": helm_merge(VALUES, OVERLAY)}


def deployment(values: dict[str, Any]) -> dict[str, Any]:
    (only,) = values["dagster-user-deployments"]["deployments"]
    return only


def settings_classes() -> list[type[BaseSettings]]:
    """Every pydantic-settings class of the production package (emulators and demo aside)."""
    found = []
    for module in pkgutil.walk_packages(azure_port_pipeline.__path__, "azure_port_pipeline."):
        leaf = module.name.rsplit(".", 1)[-1]
        if not leaf.endswith("settings") or ".emulators" in module.name or ".demo" in module.name:
            continue
        loaded = importlib.import_module(module.name)
        for _, cls in inspect.getmembers(loaded, inspect.isclass):
            if issubclass(cls, BaseSettings) and cls.__module__ == module.name:
                found.append(cls)
    return found


SETTINGS = settings_classes()
VARIABLES = {variable_of(cls, field): cls for cls in SETTINGS for field in cls.model_fields}


def test_the_settings_are_found() -> None:
    # the name check below is only as good as this list
    assert {"AZURE_CLIENT_SECRET", "PORT_CLIENT_SECRET", "AZURE_PORT_STORAGE_URL"} <= set(VARIABLES)
    assert {"PORT_CONCURRENT_WRITERS", "AZURE_EVENTS_QUEUE_NAME"} <= set(VARIABLES)


def test_the_run_queue_equals_dagster_yaml() -> None:
    runs = INSTANCE["concurrency"]["runs"]
    chart_runs = VALUES["concurrency"]["runs"]
    assert VALUES["concurrency"]["enabled"] is True
    assert chart_runs["maxConcurrentRuns"] == runs["max_concurrent_runs"]
    assert chart_runs["tagConcurrencyLimits"] == runs["tag_concurrency_limits"]
    assert {
        "key": "dagster/partition",
        "value": {"applyLimitPerUniqueValue": True},
        "limit": 1,
    } in (chart_runs["tagConcurrencyLimits"])


def test_the_pools_equal_dagster_yaml() -> None:
    pools = INSTANCE["concurrency"]["pools"]
    assert VALUES["concurrency"]["pools"] == {
        "defaultLimit": pools["default_limit"],
        "granularity": pools["granularity"],
    }


def test_the_run_coordinator_equals_dagster_yaml() -> None:
    coordinator = VALUES["dagsterDaemon"]["runCoordinator"]
    assert coordinator["enabled"] is True
    # the chart renders a CustomRunCoordinator as module/class/config, verbatim
    assert coordinator["type"] == "CustomRunCoordinator"
    rendered = coordinator["config"]["customRunCoordinator"]
    expected = INSTANCE["run_coordinator"]
    assert rendered == {
        "module": expected["module"],
        "class": expected["class"],
        "config": expected["config"],
    }
    # Dagster refuses run limits in run_coordinator once `concurrency` sets runs or pools
    assert not {"max_concurrent_runs", "tag_concurrency_limits"} & set(rendered["config"])


def test_run_monitoring_and_retries_equal_dagster_yaml() -> None:
    daemon = VALUES["dagsterDaemon"]
    camel = {
        re.sub(r"_(\w)", lambda m: m.group(1).upper(), key): value
        for key, value in INSTANCE["run_monitoring"].items()
    }
    assert daemon["runMonitoring"] == camel
    assert daemon["runRetries"] == {
        "enabled": INSTANCE["run_retries"]["enabled"],
        "maxRetries": INSTANCE["run_retries"]["max_retries"],
    }
    assert VALUES["telemetry"] == INSTANCE["telemetry"] == {"enabled": False}


def test_runs_get_a_pod_each_and_storage_is_an_external_postgres() -> None:
    assert VALUES["runLauncher"]["type"] == "K8sRunLauncher"
    postgres = VALUES["postgresql"]
    assert postgres["enabled"] is False
    assert postgres["postgresqlHost"] and postgres["postgresqlUsername"]
    assert postgres["postgresqlDatabase"]
    assert "postgresqlPassword" not in postgres
    assert VALUES["generatePostgresqlPasswordSecret"] is False
    assert VALUES["global"]["postgresqlSecretName"]
    logs = VALUES["computeLogManager"]
    assert logs["type"] == "AzureBlobComputeLogManager"
    assert {"storageAccount", "container", "prefix"} <= set(
        logs["config"]["azureBlobComputeLogManager"]
    )


def walk(node: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield from walk(value, f"{path}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from walk(value, f"{path}/{index}")
    else:
        yield path, node


@pytest.mark.parametrize("layer", LAYERS)
def test_no_secret_is_inline(layer: str) -> None:
    values = LAYERS[layer]
    for path, value in walk(values):
        key = path.rsplit("/", 1)[-1]
        if SECRET_KEYS.search(key) and not key.endswith("SecretName"):
            # e.g. postgresqlPassword, secretKey: only a switch or nothing, never a value
            assert value in (None, False, ""), f"{layer}: {path} holds a value"
    env = deployment(values).get("env") or {}
    leaked = sorted(name for name in env if SECRET_WORDS.search(name))
    assert not leaked, f"{layer}: secret settings set inline: {leaked}"
    logs = values["computeLogManager"]["config"]["azureBlobComputeLogManager"]
    token = logs.get("accessKeyOrSasToken")
    assert token is None or set(token) == {"env"}, "the compute logs' SAS token must come from env"
    assert {"name": "azure-port-pipeline-credentials"} in deployment(values)["envSecrets"]


@pytest.mark.parametrize("layer", LAYERS)
def test_images_and_module_are_this_package(layer: str) -> None:
    values = LAYERS[layer]
    project = PYPROJECT["project"]
    images = [
        deployment(values)["image"],
        values["dagsterWebserver"]["image"],
        values["dagsterDaemon"]["image"],
    ]
    for image in images:
        assert image["repository"].rsplit("/", 1)[-1] == project["name"]
        assert str(image["tag"]) == project["version"]
    args = deployment(values)["dagsterApiGrpcArgs"]
    module = args[args.index("--module-name") + 1]
    assert module == PYPROJECT["tool"]["dagster"]["module_name"]
    assert importlib.util.find_spec(module) is not None
    assert deployment(values)["port"] == 3030


@pytest.mark.parametrize("layer", LAYERS)
def test_the_env_names_are_settings_of_the_project(layer: str) -> None:
    env = deployment(LAYERS[layer])["env"]
    unknown = sorted(set(env) - set(VARIABLES))
    assert not unknown, f"{layer}: not a setting of azure_port_pipeline: {unknown}"
    assert all(isinstance(value, str) for value in env.values()), (
        "Kubernetes env values are strings"
    )


@pytest.mark.parametrize("layer", LAYERS)
def test_the_settings_accept_the_values(layer: str) -> None:
    env = deployment(LAYERS[layer])["env"]
    for cls in {VARIABLES[name] for name in env}:
        own = {name: value for name, value in env.items() if VARIABLES[name] is cls}
        required = {
            variable_of(cls, field): "placeholder"
            for field, info in cls.model_fields.items()
            if info.is_required() and variable_of(cls, field) not in own
        }
        from_environ(cls, {**required, **own}, ValueError)


def test_the_port_budget_is_split_between_the_concurrent_runs() -> None:
    env = deployment(VALUES)["env"]
    runs = VALUES["concurrency"]["runs"]["maxConcurrentRuns"]
    assert (
        int(env["PORT_CONCURRENT_WRITERS"])
        == runs
        == INSTANCE["concurrency"]["runs"]["max_concurrent_runs"]
    )
    assert float(env["PORT_ORGANIZATION_REQUESTS_PER_SECOND"]) > 0
    assert env["AZURE_PORT_STORAGE_URL"].startswith("az://")


def test_the_workload_identity_overlay_only_adds_identity() -> None:
    base, identity = deployment(VALUES), deployment(OVERLAY)
    assert identity["labels"] == {"azure.workload.identity/use": "true"}
    differing = {
        key
        for key in set(base) | set(identity)
        if key != "labels" and base.get(key) != identity.get(key)
    }
    assert not differing, f"the overlay's deployment drifted from values.yaml: {sorted(differing)}"
    merged = LAYERS["+ values-workload-identity.yaml"]
    assert merged["serviceAccount"]["annotations"]["azure.workload.identity/client-id"]
    pod = merged["runLauncher"]["config"]["k8sRunLauncher"]["runK8sConfig"]
    assert pod["podTemplateSpecMetadata"]["labels"] == {"azure.workload.identity/use": "true"}
    logs = merged["computeLogManager"]["config"]["azureBlobComputeLogManager"]
    assert "accessKeyOrSasToken" not in logs and logs["defaultAzureCredential"] == {}
