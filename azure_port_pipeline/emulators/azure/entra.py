"""Entra ID (login.microsoftonline.com) as far as a confidential client needs it.

MSAL, under azure-identity's ClientSecretCredential, reads the tenant's OpenID
configuration and then posts a client-credentials grant to its token endpoint. Errors use
Entra's shape (`error`, `error_description` starting with the AADSTS code, `error_codes`)
so the SDK raises the same ClientAuthenticationError text it would against Azure.
Tokens are JWT-shaped (unsigned) so a reader can decode claims, and are remembered here so
ARM and Resource Graph can reject unknown or expired ones.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

from ..server import Response
from .wire import ArmRequest

ARM_AUDIENCES = frozenset(
    {
        "https://management.azure.com",
        "https://management.core.windows.net",
        "https://management.usgovcloudapi.net",
        "https://management.core.usgovcloudapi.net",
        "https://management.chinacloudapi.cn",
        "https://management.core.chinacloudapi.cn",
    }
)


@dataclass(frozen=True)
class TokenInfo:
    """What the emulator remembers about an access token it issued."""

    client_id: str
    tenant_id: str
    audience: str
    object_id: str
    expires_at: float


@dataclass(frozen=True)
class AuthFailure:
    """Why ARM refuses a request: the error code, message and WWW-Authenticate value."""

    code: str
    message: str
    www_authenticate: str


class Entra:
    """Service principals of one tenant, the token endpoint and token validation."""

    def __init__(
        self,
        tenant_id: str,
        client_id: str,
        client_secret: str,
        token_lifetime: float = 3599,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.tenant_id = tenant_id
        self.token_lifetime = token_lifetime
        self._clock = clock
        self._clients: dict[str, tuple[str, str]] = {}  # client_id -> (secret, object id)
        self._tokens: dict[str, TokenInfo] = {}
        self._lock = threading.Lock()
        self.add_client(client_id, client_secret)

    def add_client(self, client_id: str, client_secret: str) -> None:
        """Register another service principal (e.g. to test per-client quotas)."""
        object_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"sp:{self.tenant_id}:{client_id}"))
        self._clients[client_id.lower()] = (client_secret, object_id)

    def issued_tokens(self) -> list[str]:
        """Every access token issued so far."""
        with self._lock:
            return list(self._tokens)

    def expire_tokens(self) -> None:
        """Make every issued token expired now (tests the 401 path without waiting)."""
        with self._lock:
            now = self._clock() - 1
            self._tokens = {
                t: TokenInfo(i.client_id, i.tenant_id, i.audience, i.object_id, now)
                for t, i in self._tokens.items()
            }

    # ---- OpenID discovery ------------------------------------------------------------------
    def openid_configuration(self, tenant: str, base_url: str) -> tuple[int, dict[str, Any]]:
        if not self._known_tenant(tenant):
            return 400, self._error("invalid_tenant", 90002, _tenant_not_found(tenant))
        root = f"{base_url}/{self.tenant_id}"
        return 200, {
            "token_endpoint": f"{root}/oauth2/v2.0/token",
            "token_endpoint_auth_methods_supported": [
                "client_secret_post",
                "private_key_jwt",
                "client_secret_basic",
            ],
            "jwks_uri": f"{base_url}/{self.tenant_id}/discovery/v2.0/keys",
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": f"{root}/v2.0",
            "request_uri_parameter_supported": False,
            "userinfo_endpoint": "https://graph.microsoft.com/oidc/userinfo",
            "authorization_endpoint": f"{root}/oauth2/v2.0/authorize",
            "device_authorization_endpoint": f"{root}/oauth2/v2.0/devicecode",
            "http_logout_supported": True,
            "frontchannel_logout_supported": True,
            "end_session_endpoint": f"{root}/oauth2/v2.0/logout",
            "claims_supported": ["sub", "iss", "aud", "exp", "iat", "nbf", "tid", "oid"],
            "kerberos_endpoint": f"{root}/kerberos",
            "tenant_region_scope": "EU",
            "cloud_instance_name": "microsoftonline.com",
            "cloud_graph_host_name": "graph.windows.net",
            "msgraph_host": "graph.microsoft.com",
            "rbac_url": "https://pas.windows.net",
        }

    def instance_discovery(self, base_url: str) -> dict[str, Any]:
        """`/common/discovery/instance`: this host is its own (only) alias."""
        host = base_url.split("://", 1)[1]
        return {
            "tenant_discovery_endpoint": (
                f"{base_url}/{self.tenant_id}/v2.0/.well-known/openid-configuration"
            ),
            "api-version": "1.1",
            "metadata": [{"preferred_network": host, "preferred_cache": host, "aliases": [host]}],
        }

    # ---- token endpoint --------------------------------------------------------------------
    def issue_token(self, tenant: str, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        """The client-credentials grant, with Entra's errors for each way it can fail."""
        if not self._known_tenant(tenant):
            return 400, self._error("invalid_request", 90002, _tenant_not_found(tenant))
        grant = form.get("grant_type", "")
        if grant != "client_credentials":
            return 400, self._error(
                "unsupported_grant_type",
                70003,
                f"AADSTS70003: The app requested an unsupported grant type '{grant}'.",
            )
        client_id = form.get("client_id", "")
        client = self._clients.get(client_id.lower())
        if client is None:
            return 400, self._error(
                "unauthorized_client",
                700016,
                f"AADSTS700016: Application with identifier '{client_id}' was not found in the "
                f"directory '{self.tenant_id}'. This can happen if the application has not been "
                "installed by the administrator of the tenant or consented to by any user in the "
                "tenant. You may have sent your authentication request to the wrong tenant.",
            )
        if "client_secret" not in form:
            return 400, self._error(
                "invalid_client",
                7000218,
                "AADSTS7000218: The request body must contain the following parameter: "
                "'client_assertion' or 'client_secret'.",
            )
        if not secrets.compare_digest(form["client_secret"], client[0]):
            return 400, self._error(
                "invalid_client",
                7000215,
                "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in "
                "the request is the client secret value, not the client secret ID, for a secret "
                f"added to app '{client_id}'.",
            )
        scope = form.get("scope", "").split()
        resources = [s for s in scope if s.endswith("/.default")]
        if len(resources) != 1:
            return 400, self._error(
                "invalid_scope",
                1002012,
                f"AADSTS1002012: The provided value for scope {' '.join(scope)} is not valid. "
                "Client credential flows must have a scope value with /.default suffixed to the "
                "resource identifier (application ID URI).",
            )
        audience = resources[0][: -len("/.default")].rstrip("/")
        return 200, self._token(client_id, client[1], audience)

    def _token(self, client_id: str, object_id: str, audience: str) -> dict[str, Any]:
        now = self._clock()
        expires = now + self.token_lifetime
        claims = {
            "aud": audience,
            "iss": f"https://sts.windows.net/{self.tenant_id}/",
            "iat": int(now),
            "nbf": int(now),
            "exp": int(expires),
            "appid": client_id,
            "oid": object_id,
            "sub": object_id,
            "tid": self.tenant_id,
            "idtyp": "app",
            "ver": "1.0",
        }
        token = ".".join(
            (
                _b64url({"typ": "JWT", "alg": "RS256", "kid": "emulator"}),
                _b64url(claims),
                base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("="),
            )
        )
        with self._lock:
            self._tokens[token] = TokenInfo(client_id, self.tenant_id, audience, object_id, expires)
        lifetime = int(self.token_lifetime)
        return {
            "token_type": "Bearer",
            "expires_in": lifetime,
            "ext_expires_in": lifetime,
            "access_token": token,
        }

    # ---- validation (ARM / Resource Graph) ------------------------------------------------
    def authenticate(self, authorization: str | None, realm: str) -> TokenInfo | AuthFailure:
        """The token's info, or ARM's 401 reason for a missing/unknown/expired/misdirected one."""
        challenge = (
            f'Bearer authorization_uri="{realm}", error="invalid_token", error_description="{{}}"'
        )
        if not authorization:
            return AuthFailure(
                "AuthenticationFailed",
                "Authentication failed. The 'Authorization' header is missing.",
                challenge.format(
                    "The authentication failed because of missing 'Authorization' header."
                ),
            )
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return AuthFailure(
                "AuthenticationFailedInvalidHeader",
                "Authentication failed. The 'Authorization' header is provided in an invalid "
                "format.",
                challenge.format("The access token is invalid."),
            )
        with self._lock:
            info = self._tokens.get(token.strip())
        if info is None:
            return AuthFailure(
                "InvalidAuthenticationToken",
                "The access token is invalid.",
                challenge.format("The access token is invalid."),
            )
        now = self._clock()
        if info.expires_at <= now:
            message = (
                f"The access token expiry UTC time '{_arm_time(info.expires_at)}' is "
                f"earlier than current UTC time '{_arm_time(now)}'."
            )
            return AuthFailure(
                "ExpiredAuthenticationToken",
                message,
                challenge.format(
                    "The access token expiry UTC time is earlier than current UTC time."
                ),
            )
        if info.audience.rstrip("/") not in ARM_AUDIENCES:
            message = (
                f"The access token has been obtained for wrong audience or resource "
                f"'{info.audience}'. It should exactly match with one of the allowed "
                "audiences 'https://management.core.windows.net/',"
                "'https://management.azure.com/'."
            )
            return AuthFailure(
                "InvalidAuthenticationTokenAudience",
                message,
                challenge.format(
                    "The access token has been obtained from wrong audience or resource."
                ),
            )
        return info

    # ---- helpers ------------------------------------------------------------------------------
    def _known_tenant(self, tenant: str) -> bool:
        return tenant.lower() in (self.tenant_id.lower(), "organizations")

    def _error(self, error: str, code: int, description: str) -> dict[str, Any]:
        trace, correlation = str(uuid.uuid4()), str(uuid.uuid4())
        stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
        return {
            "error": error,
            "error_description": f"{description} Trace ID: {trace} Correlation ID: "
            f"{correlation} Timestamp: {stamp}",
            "error_codes": [code],
            "timestamp": stamp,
            "trace_id": trace,
            "correlation_id": correlation,
            "error_uri": f"https://login.microsoftonline.com/error?code={code}",
        }


def entra_route(entra: Entra, base_url: str, request: ArmRequest) -> tuple[str, Response] | None:
    """Entra's endpoints on this host: (counter key, answer); None for any other path."""
    parts = [p for p in request.path.split("/") if p]
    low = [p.lower() for p in parts]
    if len(parts) == 3 and low[1:] == ["discovery", "instance"]:
        key = "GET /{tenant}/discovery/instance"
        return key, Response(200, entra.instance_discovery(base_url))
    if len(parts) >= 3 and low[-2:] == [".well-known", "openid-configuration"]:
        key = "GET /{tenant}/v2.0/.well-known/openid-configuration"
        status, body = entra.openid_configuration(parts[0], base_url)
        return key, Response(status, body)
    if len(parts) == 4 and low[1:] == ["oauth2", "v2.0", "token"]:
        key = "POST /{tenant}/oauth2/v2.0/token"
        if request.method != "POST":
            return key, Response(405, {"error": "invalid_request"})
        form = dict(parse_qsl(request.body.decode("utf-8", "replace"), keep_blank_values=True))
        status, body = entra.issue_token(parts[0], form)
        headers = {"Cache-Control": "no-store, no-cache", "Pragma": "no-cache"}
        return key, Response(status, body, headers)
    return None


def _tenant_not_found(tenant: str) -> str:
    return (
        f"AADSTS90002: Tenant '{tenant}' not found. Check to make sure you have the correct "
        "tenant ID and are signing into the correct cloud. Check with your subscription "
        "administrator, this may happen if there are no active subscriptions for the tenant."
    )


def _b64url(value: dict[str, Any]) -> str:
    raw = json.dumps(value, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _arm_time(epoch: float) -> str:
    moment = datetime.fromtimestamp(epoch, UTC)
    return f"{moment.month}/{moment.day}/{moment.year} {moment.strftime('%I:%M:%S %p')}"
