"""Who may trigger `experiments-scheduled`: Cloud Scheduler, by a Google-signed OIDC token.

The token must be signed by Google, be meant for this function (`aud`) and name the scheduler's
service account (`email`, verified). Deployed private (the default), Cloud Run checks the token's
signature and the invoker permission itself, then passes the token on with its signature replaced
(`SIGNATURE_REMOVED_BY_GOOGLE`): with SCHEDULER_TOKEN_CHECKED_BY_CLOUD_RUN=true the function checks
the claims of that token only. Otherwise it verifies the signature against Google's certificates.
Locally (ENVIRONMENT=local) the API key is accepted too, so the trigger can be called by hand and
by tests, with the `write` scope.
"""

from __future__ import annotations

import base64
import json
import math
import time

import flask

from shared.api_keys import ApiKey, service_caller
from shared.config import get_settings
from shared.errors import Forbidden, Unauthenticated
from shared.web import API_KEY_HEADER, require_api_key

GOOGLE_ISSUERS = ("https://accounts.google.com", "accounts.google.com")
SCHEDULER_CALLER = "cloud-scheduler"


def require_scheduler(request: flask.Request) -> ApiKey:
    settings = get_settings()
    authorization = request.headers.get("Authorization", "")
    if authorization.startswith("Bearer "):
        verify_scheduler_token(authorization.removeprefix("Bearer ").strip())
        return service_caller(SCHEDULER_CALLER, "write")
    if settings.environment == "local" and request.headers.get(API_KEY_HEADER):
        return require_api_key(request)
    raise Unauthenticated("A Google-signed OIDC token from Cloud Scheduler is required (Authorization: Bearer).")


def verify_scheduler_token(token: str) -> dict:
    settings = get_settings()
    if not settings.scheduler_audience or not settings.scheduler_service_account:
        raise Forbidden("This deployment names no SCHEDULER_AUDIENCE and SCHEDULER_SERVICE_ACCOUNT to accept.")
    if settings.scheduler_token_checked_by_cloud_run:
        claims = _claims_checked_by_cloud_run(token, audience=settings.scheduler_audience)
    else:
        claims = _verified_claims(token, audience=settings.scheduler_audience, certs_url=settings.oidc_certs_url)
    if claims.get("iss") not in GOOGLE_ISSUERS:
        raise Unauthenticated("The OIDC token was not issued by Google.")
    if claims.get("email") != settings.scheduler_service_account or not claims.get("email_verified"):
        raise Forbidden("The OIDC token names another service account than the scheduler's.")
    return claims


def _verified_claims(token: str, *, audience: str, certs_url: str) -> dict:
    from google.auth import exceptions
    from google.auth.transport import requests as google_requests
    from google.oauth2 import id_token

    try:
        return dict(
            id_token.verify_token(
                token, google_requests.Request(), audience=audience, certs_url=certs_url, clock_skew_in_seconds=10
            )
        )
    except (ValueError, exceptions.GoogleAuthError) as error:
        raise Unauthenticated(f"The OIDC token was refused: {error}") from None


def _claims_checked_by_cloud_run(token: str, *, audience: str) -> dict:
    """The claims of a token whose signature Cloud Run verified (and removed) before the request
    reached us; audience and expiry are checked again here."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError, RecursionError) as error:
        raise Unauthenticated(f"The OIDC token could not be read: {type(error).__name__}") from None
    if not isinstance(claims, dict) or claims.get("aud") != audience:
        raise Unauthenticated("The OIDC token is meant for another audience.")
    expires = claims.get("exp")
    if not isinstance(expires, int | float) or not math.isfinite(expires) or expires < time.time() - 10:
        raise Unauthenticated("The OIDC token has expired.")
    return claims
