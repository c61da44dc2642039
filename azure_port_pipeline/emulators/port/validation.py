"""Port's validation rules, as its OpenAPI route schemas and blueprint schemas state them.

Two levels, as in Port:
- *route schema* checks (body shape, identifier patterns, sizes) reject the whole request
  with 422 `invalid_request` and an ajv-style message (`body/entities/0/identifier must ...`);
- *blueprint schema* checks (property types, unknown or required properties) are done per
  entity by the store and, in a bulk request, fail only that entity.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from typing import Any

from azure_port_pipeline.emulators.port.errors import PortApiError, invalid_request

ENTITY_ID_PATTERN = r"^(?!\.{1,2}$)[\p{L}0-9@_.+:\\/=-]+$"
BLUEPRINT_ID_PATTERN = r"^(?!\.{1,2}$)[\p{L}0-9@_.+:\\/-]+$"
KEY_PATTERN = r"^[A-Za-z0-9@_=\\-]+$"
ENTITY_ID_MAX = 1000
BLUEPRINT_ID_MAX = 100
KEY_MAX = 100
TITLE_MAX = 100
BULK_MAX_ENTITIES = 20
BULK_DELETE_MAX = 100

PROPERTY_TYPES = ("string", "number", "boolean", "object", "array")
PROPERTY_FORMATS = (
    "date-time",
    "url",
    "email",
    "idn-email",
    "ipv4",
    "ipv6",
    "markdown",
    "yaml",
    "user",
    "blueprints",
    "team",
    "timer",
    "proto",
    "labeled-url",
)
RELATION_KEYS = {"title", "target", "required", "many", "description", "type"}

# `[^\W\d_]` is "a Unicode letter" for the ASCII-fast path; non-ASCII identifiers are
# re-checked character by character with str.isalpha(), which is exactly \p{L}.
_ENTITY_ID_RE = re.compile(r"(?!\.{1,2}$)(?:[^\W\d_]|[0-9@_.+:\\/=-])+")
_BLUEPRINT_ID_RE = re.compile(r"(?!\.{1,2}$)(?:[^\W\d_]|[0-9@_.+:\\/-])+")
_KEY_RE = re.compile(r"[A-Za-z0-9@_=\\-]+")
_ENTITY_ID_EXTRA = set("0123456789@_.+:\\/=-")
_BLUEPRINT_ID_EXTRA = set("0123456789@_.+:\\/-")


def _matches_identifier(value: str, regex: re.Pattern[str], extra: set[str]) -> bool:
    if not regex.fullmatch(value):
        return False
    if value.isascii():
        return True
    return all(ch.isalpha() or ch in extra for ch in value)


def is_entity_identifier(value: Any) -> bool:
    return (
        isinstance(value, str)
        and len(value) <= ENTITY_ID_MAX
        and _matches_identifier(value, _ENTITY_ID_RE, _ENTITY_ID_EXTRA)
    )


def is_blueprint_identifier(value: Any) -> bool:
    return (
        isinstance(value, str)
        and len(value) <= BLUEPRINT_ID_MAX
        and _matches_identifier(value, _BLUEPRINT_ID_RE, _BLUEPRINT_ID_EXTRA)
    )


def check_entity_identifier(value: Any, where: str) -> None:
    """Route-schema check of an entity identifier (422 invalid_request)."""
    if isinstance(value, dict):
        raise invalid_request(f"{where}: search-query identifiers are not supported")
    if not isinstance(value, str):
        raise invalid_request(f"{where} must be string")
    if len(value) > ENTITY_ID_MAX:
        raise invalid_request(f"{where} must NOT have more than {ENTITY_ID_MAX} characters")
    if not _matches_identifier(value, _ENTITY_ID_RE, _ENTITY_ID_EXTRA):
        raise invalid_request(f'{where} must match pattern "{ENTITY_ID_PATTERN}"')


def check_entity_body(body: Any, where: str) -> None:
    """Route-schema checks of one entity body; raises 422 invalid_request for the request."""
    if not isinstance(body, dict):
        raise invalid_request(f"{where} must be object")
    if "identifier" in body:
        check_entity_identifier(body["identifier"], f"{where}/identifier")
    for key in ("title", "icon"):
        if body.get(key) is not None and not isinstance(body[key], str):
            raise invalid_request(f"{where}/{key} must be string")
    team = body.get("team")
    if team is not None and not isinstance(team, str):
        if isinstance(team, dict):
            raise invalid_request(f"{where}/team: team search queries are not supported")
        if not isinstance(team, list) or not all(isinstance(t, str) for t in team):
            raise invalid_request(f"{where}/team must be string or array of strings")
    properties = body.get("properties", {})
    if properties is not None and not isinstance(properties, dict):
        raise invalid_request(f"{where}/properties must be object")
    relations = body.get("relations", {})
    if relations is None:
        return
    if not isinstance(relations, dict):
        raise invalid_request(f"{where}/relations must be object")
    for name, value in relations.items():
        _check_relation_value(value, f"{where}/relations/{name}")


def _check_relation_value(value: Any, where: str) -> None:
    if value is None:
        return
    if isinstance(value, dict):
        raise invalid_request(f"{where}: relation search queries are not supported")
    if isinstance(value, list):
        for i, item in enumerate(value):
            check_entity_identifier(item, f"{where}/{i}")
        return
    check_entity_identifier(value, where)


def check_key(name: Any, where: str) -> None:
    if not isinstance(name, str) or len(name) > KEY_MAX or not _KEY_RE.fullmatch(name):
        raise invalid_request(f'{where} property name must match pattern "{KEY_PATTERN}"')


def check_blueprint_body(body: Any, *, require_identifier: bool = True) -> None:
    """Route-schema checks of a full blueprint (create / put / patched result)."""
    if not isinstance(body, dict):
        raise invalid_request("body must be object")
    if require_identifier or "identifier" in body:
        if "identifier" not in body:
            raise invalid_request("body must have required property 'identifier'")
        ident = body["identifier"]
        if not isinstance(ident, str):
            raise invalid_request("body/identifier must be string")
        if len(ident) > BLUEPRINT_ID_MAX:
            raise invalid_request(
                f"body/identifier must NOT have more than {BLUEPRINT_ID_MAX} characters"
            )
        if not is_blueprint_identifier(ident):
            raise invalid_request(f'body/identifier must match pattern "{BLUEPRINT_ID_PATTERN}"')
    for required in ("title", "schema"):
        if required not in body:
            raise invalid_request(f"body must have required property '{required}'")
    title = body["title"]
    if not isinstance(title, str):
        raise invalid_request("body/title must be string")
    if not 1 <= len(title) <= TITLE_MAX:
        raise invalid_request(f"body/title must have between 1 and {TITLE_MAX} characters")
    if body.get("icon") is not None and not isinstance(body["icon"], str):
        raise invalid_request("body/icon must be string")
    _check_schema(body["schema"])
    _check_relations(body.get("relations", {}))


def _check_schema(schema: Any) -> None:
    if not isinstance(schema, dict):
        raise invalid_request("body/schema must be object")
    extra = set(schema) - {"properties", "required"}
    if extra:
        raise invalid_request(f"body/schema must NOT have additional properties ({sorted(extra)})")
    if "properties" not in schema:
        raise invalid_request("body/schema must have required property 'properties'")
    properties = schema["properties"]
    for prop, where in _entries(properties, "body/schema/properties"):
        if "type" not in prop:
            raise invalid_request(f"{where} must have required property 'type'")
        if prop["type"] not in PROPERTY_TYPES:
            raise invalid_request(
                f"{where}/type must be equal to one of the allowed values {list(PROPERTY_TYPES)}"
            )
        if "format" in prop and prop["format"] not in PROPERTY_FORMATS:
            raise invalid_request(f"{where}/format must be equal to one of the allowed values")
        if prop.get("title") is not None and (
            not isinstance(prop["title"], str) or len(prop["title"]) > TITLE_MAX
        ):
            raise invalid_request(f"{where}/title must be a string of at most {TITLE_MAX}")
    required = schema.get("required", [])
    if not isinstance(required, list) or not all(isinstance(r, str) for r in required):
        raise invalid_request("body/schema/required must be array of strings")
    for name in required:
        if name not in properties:
            raise invalid_request(f'Required property "{name}" is not defined in the schema')


def _entries(value: Any, where: str) -> Iterator[tuple[dict[str, Any], str]]:
    """The entries of an object of objects (schema properties, relations), each with its
    path; refuses a non-object, a bad key or a non-object entry the way Port does."""
    if not isinstance(value, dict):
        raise invalid_request(f"{where} must be object")
    for name, entry in value.items():
        check_key(name, where)
        if not isinstance(entry, dict):
            raise invalid_request(f"{where}/{name} must be object")
        yield entry, f"{where}/{name}"


def _check_relations(relations: Any) -> None:
    if relations is None:
        return
    for rel, where in _entries(relations, "body/relations"):
        extra = set(rel) - RELATION_KEYS
        if extra:
            raise invalid_request(f"{where} must NOT have additional properties ({sorted(extra)})")
        for key in ("target", "required", "many"):
            if key not in rel:
                raise invalid_request(f"{where} must have required property '{key}'")
        if not isinstance(rel["target"], str):
            raise invalid_request(f"{where}/target must be string")
        for key in ("required", "many"):
            if not isinstance(rel[key], bool):
                raise invalid_request(f"{where}/{key} must be boolean")


_JSON_TYPE_NAMES = {
    str: "string",
    bool: "boolean",
    int: "number",
    float: "number",
    dict: "object",
    list: "array",
}


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    return _JSON_TYPE_NAMES.get(type(value), type(value).__name__)


_DATE_TIME_RE = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:?\d{2})"
)
_EMAIL_RE = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_URL_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://\S+")
_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_IPV4_RE = re.compile(rf"(?:{_OCTET}\.){{3}}{_OCTET}")


def property_value_error(name: str, prop: dict[str, Any], value: Any) -> str | None:
    """Why `value` does not fit property `name` of a blueprint, or None when it fits.

    null always fits (Port lets any property be cleared). Formats Port validates with ajv
    (date-time, url, email, ipv4) are checked; the rest are display hints.
    """
    if value is None:
        return None
    expected = prop.get("type")
    actual = json_type(value)
    fits = actual == expected
    if isinstance(value, float) and not math.isfinite(value):
        fits = False
    if not fits:
        return f'property "{name}" must be {expected}, got {actual}'
    if "enum" in prop and isinstance(prop["enum"], list) and value not in prop["enum"]:
        return f'property "{name}" must be equal to one of the allowed values {prop["enum"]}'
    fmt = prop.get("format")
    if expected == "string" and fmt and not _fits_format(fmt, value):
        return f'property "{name}" must match format "{fmt}"'
    return None


def _fits_format(fmt: str, value: str) -> bool:
    checks = {
        "date-time": _DATE_TIME_RE,
        "url": _URL_RE,
        "email": _EMAIL_RE,
        "idn-email": _EMAIL_RE,
        "ipv4": _IPV4_RE,
    }
    regex = checks.get(fmt)
    return regex is None or regex.fullmatch(value) is not None


def parse_bool(value: str | None, name: str, default: bool = False) -> bool:
    """Query-string booleans as Fastify's ajv coerces them (`true/false/1/0`)."""
    if value is None:
        return default
    lowered = value.lower()
    if lowered in ("true", "1"):
        return True
    if lowered in ("false", "0", ""):
        return False
    raise invalid_request(f"querystring/{name} must be boolean")


def require_list(value: Any, where: str, *, min_items: int, max_items: int) -> list[Any]:
    if not isinstance(value, list):
        raise invalid_request(f"{where} must be array")
    if len(value) < min_items:
        raise invalid_request(f"{where} must NOT have fewer than {min_items} items")
    if len(value) > max_items:
        raise invalid_request(f"{where} must NOT have more than {max_items} items")
    return value


__all__ = [
    "BULK_DELETE_MAX",
    "BULK_MAX_ENTITIES",
    "PortApiError",
    "check_blueprint_body",
    "check_entity_body",
    "check_entity_identifier",
    "is_blueprint_identifier",
    "is_entity_identifier",
    "parse_bool",
    "property_value_error",
    "require_list",
]
