"""pydantic-settings, read from the process environment, a given mapping, or plain values.

The Azure and Port settings are `BaseSettings` classes. Three ways to build one matter here:
from `os.environ` (a deployment), from a mapping (tests and the CLI, without touching the
process), and from values alone (a Dagster resource's fields, where the environment must not
fill in anything behind the resource's back). Errors name the environment variable, never the
value, so a mistyped secret cannot leak into a log.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TypeVar

from pydantic import ValidationError
from pydantic_settings import BaseSettings, EnvSettingsSource, InitSettingsSource
from pydantic_settings.sources.utils import parse_env_vars

SettingsT = TypeVar("SettingsT", bound=BaseSettings)


class _MappingEnvSource(EnvSettingsSource):
    """The environment source, reading a given mapping instead of `os.environ`."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        self._environ = dict(environ)
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return parse_env_vars(
            self._environ, self.case_sensitive, self.env_ignore_empty, self.env_parse_none_str
        )


def from_environ(
    cls: type[SettingsT], environ: Mapping[str, str] | None, error: type[ValueError]
) -> SettingsT:
    """Settings from `environ` (None: the process environment) and nothing else.

    Invalid values raise `error` naming each variable and what is wrong with it.
    """
    with _named_errors(cls, error):
        if environ is None:
            return cls()
        return cls(_build_sources=((_MappingEnvSource(cls, environ),), {}))


def from_values(
    cls: type[SettingsT], values: Mapping[str, Any], error: type[ValueError]
) -> SettingsT:
    """Settings from explicit values only: no environment variable is consulted."""
    kept = {key: value for key, value in values.items() if value is not None}
    with _named_errors(cls, error):
        return cls(_build_sources=((InitSettingsSource(cls, kept),), kept))


@contextmanager
def _named_errors(cls: type[BaseSettings], error: type[ValueError]) -> Iterator[None]:
    try:
        yield
    except ValidationError as invalid:
        raise error(f"invalid {cls.__name__}: {describe(cls, invalid)}") from None


def variable_of(cls: type[BaseSettings], field: str) -> str:
    """The environment variable a field is read from (its alias, else prefix + name)."""
    info = cls.model_fields.get(field)
    if info is not None and isinstance(info.validation_alias, str):
        return info.validation_alias
    prefix = str(cls.model_config.get("env_prefix") or "")
    return f"{prefix}{field}".upper()


def describe(cls: type[BaseSettings], error: ValidationError) -> str:
    """One line per problem, each naming its variable; input values are left out."""
    problems = []
    for item in error.errors(include_input=False, include_url=False):
        location = item["loc"][0] if item["loc"] else ""
        message = str(item["msg"]).removeprefix("Value error, ")
        # a problem without a field (a model validator) names its variable in the message
        problems.append(f"{variable_of(cls, str(location))}: {message}" if location else message)
    return "; ".join(problems)
