"""Raw ARM reads through an SDK client's pipeline.

The typed SDK operations cannot list an arbitrary resource type with the api-version the
mapping names, and return thin generic objects. So, like Port's exporter, the reader GETs
`/subscriptions/{sub}/providers/{Namespace}/{type}?api-version=...` itself, but through
the SDK's own pipeline (bearer auth, RetryPolicy, user agent, counting policies), never
behind its back. Unlike the SDK pager it keeps the kind's api-version on every nextLink.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import orjson
from azure.core.exceptions import (
    ClientAuthenticationError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.core.rest import HttpRequest, HttpResponse

from azure_port_pipeline.redaction import redact

from .counters import CounterSink
from .policies import DEADLINE_CODE, AzureDeadlineError


class ArmRequestError(Exception):
    """An ARM GET failed for good (after the pipeline's retries).

    The message never carries a credential: ARM error bodies that echo the request's
    `Authorization` header (or anything JWT-shaped) are redacted here, where they enter.
    """

    def __init__(self, url: str, status: int | None, code: str | None, message: str) -> None:
        self.url = url
        self.status = status
        self.code = code
        self.message = redact(message)
        if code == DEADLINE_CODE:  # the message names the operation, the wait and the setting
            super().__init__(self.message)
            return
        status_text = f"HTTP {status}" if status is not None else "no response"
        code_text = f" {code}" if code else ""
        super().__init__(redact(f"{status_text}{code_text}: {self.message} (GET {_path(url)})"))


@dataclass
class ArmPipeline:
    """GET JSON from ARM with an SDK pipeline client (`azure.mgmt.core.ARMPipelineClient`)."""

    pipeline_client: Any
    endpoint: str
    sink: CounterSink

    def url(self, path_or_url: str, api_version: str) -> str:
        """An absolute URL with exactly one `api-version`, the given one."""
        absolute = (
            urljoin(self.endpoint.rstrip("/") + "/", path_or_url.lstrip("/"))
            if (path_or_url.startswith("/"))
            else path_or_url
        )
        parts = urlsplit(absolute)
        query = [
            (k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "api-version"
        ]
        query.append(("api-version", api_version))
        return urlunsplit(parts._replace(query=urlencode(query)))

    def get(self, path_or_url: str, api_version: str) -> dict[str, Any] | None:
        """The JSON object at a path; None on 404 (the resource does not exist)."""
        url = self.url(path_or_url, api_version)
        response = self._send(url)
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise _failure(url, response)
        return _json(url, response)

    def pages(self, path_or_url: str, api_version: str) -> Iterator[list[Any]]:
        """Each page's `value` of a list call, following nextLink with the same api-version.

        Raises ArmRequestError at the page that failed (an error status, no answer in time,
        a body that is not JSON or whose `value` is not a list): the caller keeps what it read.
        The elements are as ARM sent them; the caller checks each is an object.
        """
        url: str | None = self.url(path_or_url, api_version)
        seen: set[str] = set()
        while url:
            if url in seen:
                raise ArmRequestError(
                    url, None, "RepeatedNextLink", "ARM returned a nextLink already read"
                )
            seen.add(url)
            response = self._send(url)
            if response.status_code != 200:
                raise _failure(url, response)
            body = _json(url, response)
            value = body.get("value")
            if value is not None and not isinstance(value, list):
                raise ArmRequestError(
                    url,
                    response.status_code,
                    "InvalidResponse",
                    f"the page's 'value' is a {json_type(value)}, not a list",
                )
            next_link = body.get("nextLink")
            if next_link is not None and not isinstance(next_link, str):
                raise ArmRequestError(
                    url,
                    response.status_code,
                    "InvalidResponse",
                    f"the page's 'nextLink' is a {json_type(next_link)}, not a URL",
                )
            self.sink.add(pages=1)
            yield list(value or [])
            url = self.url(next_link, api_version) if next_link else None

    def _send(self, url: str) -> HttpResponse:
        try:
            response = self.pipeline_client.send_request(HttpRequest("GET", url))
            response.read()
            return response
        except ClientAuthenticationError:
            raise
        except AzureDeadlineError as err:
            raise ArmRequestError(url, None, DEADLINE_CODE, _one_line(str(err))) from None
        except (ServiceRequestError, ServiceResponseError) as err:
            raise ArmRequestError(url, None, type(err).__name__, _one_line(str(err))) from None


def error_details(response: HttpResponse) -> tuple[str | None, str]:
    """(code, message) of an ARM error body, tolerating non-JSON bodies."""
    try:
        body = response.json()
    except (ValueError, json.JSONDecodeError, UnicodeDecodeError):
        return None, _one_line(response.text()[:300]) or (response.reason or "")
    error = body.get("error", body) if isinstance(body, dict) else {}
    if not isinstance(error, dict):
        return None, _one_line(str(error))
    return error.get("code"), _one_line(str(error.get("message") or ""))


def _failure(url: str, response: HttpResponse) -> ArmRequestError:
    code, message = error_details(response)
    return ArmRequestError(url, response.status_code, code, message)


def is_storm(err: ArmRequestError) -> bool:
    """Azure is not answering (throttled, failing, unreachable, out of time): more requests
    in the same call would only wait out the same deadline again."""
    return err.status is None or err.status == 429 or err.status >= 500


def _json(url: str, response: HttpResponse) -> dict[str, Any]:
    try:
        # orjson: a listing page of 1,000 resources parses several times faster than with json
        body = orjson.loads(response.content)
    except (ValueError, UnicodeDecodeError):
        kind = response.headers.get("content-type") or "no content type"
        raise ArmRequestError(
            url,
            response.status_code,
            "InvalidJson",
            f"ARM answered with a body that is not JSON ({kind}, {len(response.content)} bytes)",
        ) from None
    if not isinstance(body, dict):
        raise ArmRequestError(
            url,
            response.status_code,
            "InvalidJson",
            f"ARM answered with a JSON {json_type(body)}, not an object",
        )
    return body


def json_type(value: Any) -> str:
    names = {dict: "object", list: "list", str: "string", bool: "boolean", type(None): "null"}
    return names.get(type(value), "number" if isinstance(value, int | float) else "value")


def _path(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


def _one_line(text: str) -> str:
    return " ".join(text.split())
