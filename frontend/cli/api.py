"""The HTTP API as the command line uses it: JSON in and out, one error type per way a call fails."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import requests

DEFAULT_BASE_URL = "http://127.0.0.1:8080"  # the gateway `./deploy.sh local` runs
DEFAULT_API_KEY = "local-dev-key"


class CliError(Exception):
    """A call the command could not complete; its message is a sentence for the user."""


class ApiUnreachable(CliError):
    """Nothing answered at the base URL (or it answered too slowly)."""


class ApiRefused(CliError):
    """The API answered with an error: `status` and the error body's `code` say which."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"the API answered {status} {code}: {message}")
        self.status = status
        self.code = code


class Api:
    """The API at `base_url`, called with `api_key` in `X-API-Key`."""

    def __init__(self, base_url: str, api_key: str, *, timeout_s: float = 60.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._session = requests.Session()
        self._session.headers["X-API-Key"] = api_key
        self._timeout_s = timeout_s

    def get(self, path: str, **params: str) -> dict[str, Any]:
        return _json_or_raise(self._send("GET", path, params=params))

    def post(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        return _json_or_raise(self._send("POST", path, json=body))

    def stream(self, path: str, *, chunk_size: int = 64 * 1024, **params: str) -> Iterator[bytes]:
        """The response body of a GET in chunks, as the server sends them (for large exports)."""
        response = self._send("GET", path, params=params, stream=True)
        with response:
            if response.status_code >= 400:
                _json_or_raise(response)
            yield from response.iter_content(chunk_size=chunk_size)

    def _send(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        url = f"{self.base_url}{path}"
        try:
            return self._session.request(method, url, timeout=self._timeout_s, **kwargs)
        except (requests.ConnectionError, requests.Timeout) as error:
            raise ApiUnreachable(f"could not reach the API at {self.base_url}: {type(error).__name__}") from error


def _json_or_raise(response: requests.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.status_code >= 400:
        error = body.get("error", {}) if isinstance(body, dict) else {}
        message = error.get("message") or response.text[:200] or response.reason
        raise ApiRefused(response.status_code, str(error.get("code") or response.reason), str(message))
    if not isinstance(body, dict):
        raise CliError(f"the API answered {response.status_code} without a JSON object: {response.text[:200]!r}")
    return body
