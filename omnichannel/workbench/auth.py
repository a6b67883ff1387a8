"""Who is asking: identity from the authenticating proxy or a static token, and CSRF tokens.

Behind the ingress, an oauth2-proxy style proxy has authenticated the user and sets the user
and groups headers; the workbench believes them only when told to
(`WORKBENCH_TRUST_PROXY_HEADERS=true`), since anyone could send them otherwise. Groups map to a
role, operator before viewer; a user in neither group has an identity but no role, and is
refused. For local use a static token stands for a user and a role, sent as
`Authorization: Bearer <token>` or exchanged at /login for a signed session cookie.

Every POST carries a CSRF token: an HMAC, under `WORKBENCH_SECRET`, of the user and a random
nonce held in a cookie of its own (double submit). A page on another site can make the browser
send the cookies, but cannot read the token out of our pages, nor compute it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

from starlette.requests import Request

from omnichannel.workbench.cases import Actor, Role
from omnichannel.workbench.settings import WorkbenchSettings

SESSION_COOKIE = "omni_workbench_session"
CSRF_COOKIE = "omni_workbench_csrf"
CSRF_FIELD = "csrf_token"
# A login lasts a working day; a token revoked in WORKBENCH_TOKENS ends its sessions at once.
SESSION_SECONDS = 12 * 3600


class NotAuthenticated(Exception):
    """No identity came with the request (or one that does not check out): 401."""


class NoRole(PermissionError):
    """An authenticated user whom no group or token gives a role: 403."""


class CsrfRefused(PermissionError):
    """A POST whose CSRF token is missing or does not match its identity: 403."""


@dataclass(frozen=True)
class Identity:
    """The actor, and how it was recognised (`proxy`, `bearer` or `session`)."""

    actor: Actor
    via: str


class Gatekeeper:
    """Recognises identities and issues and checks CSRF tokens, under one secret."""

    def __init__(self, settings: WorkbenchSettings) -> None:
        self._settings = settings
        self._key = settings.secret.encode()
        # Sessions name their token by a digest, so that the cookie never holds the token.
        self._by_digest = {_digest(token): token for token in settings.tokens}

    @property
    def offers_login(self) -> bool:
        return bool(self._settings.tokens)

    def identify(self, request: Request) -> Identity:
        """The request's identity; NotAuthenticated when there is none, NoRole when the user
        has no role here."""
        settings = self._settings
        if settings.trust_proxy_headers:
            user = request.headers.get(settings.user_header, "").strip()
            if user:
                raw = request.headers.get(settings.groups_header, "")
                groups = tuple(sorted({g.strip() for g in raw.split(",") if g.strip()}))
                return Identity(Actor(user, groups, self._role_of(user, groups)), "proxy")
        authorization = request.headers.get("authorization", "")
        if authorization:
            scheme, _, token = authorization.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise NotAuthenticated("the Authorization header must be 'Bearer <token>'")
            grant = settings.tokens.get(token.strip())
            if grant is None:
                raise NotAuthenticated("the bearer token is not one the workbench knows")
            return Identity(Actor(grant.user, (), grant.role), "bearer")
        cookie = request.cookies.get(SESSION_COOKIE)
        if cookie:
            known = self._session_token(cookie)
            if known is not None:
                grant = settings.tokens[known]
                return Identity(Actor(grant.user, (), grant.role), "session")
        raise NotAuthenticated("sign in first: no identity came with the request")

    def _role_of(self, user: str, groups: tuple[str, ...]) -> Role:
        if self._settings.operator_groups.intersection(groups):
            return Role.OPERATOR
        if self._settings.viewer_groups.intersection(groups):
            return Role.VIEWER
        raise NoRole(
            f"{user} is in none of the workbench's groups "
            f"(operators: {', '.join(sorted(self._settings.operator_groups)) or 'none'}; "
            f"viewers: {', '.join(sorted(self._settings.viewer_groups)) or 'none'})"
        )

    def login(self, token: str, now: float | None = None) -> str | None:
        """The session cookie's value for a known token, else None."""
        if token not in self._settings.tokens:
            return None
        payload = f"{_digest(token)}.{int(time.time() if now is None else now)}"
        return f"{payload}.{self._sign('session', payload)}"

    def _session_token(self, cookie: str, now: float | None = None) -> str | None:
        payload, _, signature = cookie.rpartition(".")
        digest, _, issued = payload.partition(".")
        if not hmac.compare_digest(signature, self._sign("session", payload)):
            return None
        if not issued.isdigit():
            return None
        age = (time.time() if now is None else now) - int(issued)
        if not 0 <= age <= SESSION_SECONDS:
            return None
        return self._by_digest.get(digest)

    def csrf_token(self, user: str, nonce: str) -> str:
        """The token a form of this user carries, with this browser's nonce."""
        return self._sign("csrf", f"{user}\x00{nonce}")

    def check_csrf(self, user: str, nonce: str | None, submitted: str | None) -> None:
        """CsrfRefused unless `submitted` is this user's token for the nonce cookie."""
        if not nonce:
            raise CsrfRefused(
                "the form's security cookie is missing: reload the page and submit it again"
            )
        if not submitted:
            raise CsrfRefused("the form carries no CSRF token: reload the page and try again")
        if not hmac.compare_digest(submitted, self.csrf_token(user, nonce)):
            raise CsrfRefused(
                "the form's CSRF token does not match your session: it was altered or is from "
                "another session. Reload the page and try again"
            )

    def _sign(self, purpose: str, payload: str) -> str:
        return hmac.new(self._key, f"{purpose}\x00{payload}".encode(), hashlib.sha256).hexdigest()


def new_nonce() -> str:
    """A fresh CSRF nonce for a browser's cookie."""
    return secrets.token_urlsafe(24)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()[:32]
