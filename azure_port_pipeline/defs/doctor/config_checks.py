"""Checks 1 and 2: the settings load from the environment, and the mapping loads.

Nothing is sent anywhere: these are what definition loading would refuse, said up front.
"""

from __future__ import annotations

from azure_port_pipeline.azure import AzureConfigError, AzureSettings
from azure_port_pipeline.defs.doctor.findings import Findings
from azure_port_pipeline.defs.doctor.results import Verdict, fail, ok, skipped
from azure_port_pipeline.defs.factory import configured_mapping
from azure_port_pipeline.defs.profiles import ProfileError, active_profile
from azure_port_pipeline.defs.settings import PipelineSettings, PipelineSettingsError
from azure_port_pipeline.mapping import (
    DEFAULT_BLUEPRINTS_NAME,
    MappingConfigError,
    default_blueprints,
    load_blueprints,
)
from azure_port_pipeline.port import PortConfigError, PortSettings


def check_settings(found: Findings) -> Verdict:
    """`AZURE_PORT_*`, `AZURE_*` and `PORT_*`, each loaded on its own so one bad variable
    does not hide another, and so the checks that need only the others still run."""
    problems: list[str] = []
    profile = ""
    try:
        found.pipeline = PipelineSettings.from_env(found.environ)
        profile = active_profile(found.pipeline).name
    except (PipelineSettingsError, ProfileError) as error:
        problems.append(str(error))
    try:
        azure = AzureSettings.from_env(found.environ)
        azure.check_credentials_configured()
        found.azure = azure
    except AzureConfigError as error:
        problems.append(str(error))
    try:
        found.port = PortSettings.from_env(found.environ)
    except PortConfigError as error:
        problems.append(str(error))
    if problems:
        return fail(
            "; ".join(problems),
            "fix the variables named (README: Configuration), then run doctor again",
        )
    assert found.azure is not None and found.port is not None
    login = (
        "DefaultAzureCredential" if found.azure.uses_default_credential else "a service principal"
    )
    return ok(
        f"profile {profile}; Azure {found.azure.cloud} cloud with {login}; "
        f"Port at {found.port.api_url} (installation {found.port.installation_id})"
    )


def check_mapping(found: Findings) -> Verdict:
    """The mapping (AZURE_PORT_MAPPING_FILE or the packaged default) and the blueprints the
    pipeline creates (AZURE_PORT_BLUEPRINTS_FILE or the packaged default)."""
    settings = found.pipeline
    if settings is None:
        return skipped("valid AZURE_PORT_* settings")
    try:
        mapping = configured_mapping(settings)
    except MappingConfigError as error:
        return fail(str(error), _mapping_hint(settings))
    blueprints_file = settings.blueprints_file
    try:
        blueprints = load_blueprints(blueprints_file) if blueprints_file else default_blueprints()
    except ValueError as error:
        return fail(str(error), "fix that file, or unset AZURE_PORT_BLUEPRINTS_FILE")
    found.mapping = mapping
    found.blueprints = blueprints
    found.blueprints_source = blueprints_file or DEFAULT_BLUEPRINTS_NAME
    return ok(
        f"{mapping.source}: {len(mapping.entries)} kinds; "
        f"{len(blueprints)} blueprints from {found.blueprints_source}"
    )


def _mapping_hint(settings: PipelineSettings) -> str:
    if settings.mapping_file:
        return (
            f"fix {settings.mapping_file} (try it: azure-port-pipeline map --mapping "
            f"{settings.mapping_file} --input raw.json), or unset AZURE_PORT_MAPPING_FILE "
            "for the packaged default"
        )
    return "the packaged default mapping does not load: reinstall azure-port-pipeline"
