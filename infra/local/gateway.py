"""One local HTTP server that serves every Cloud Function at `/<function>`, as in production.

Each function is loaded the way Cloud Functions loads it (`functions_framework.create_app` with
its own source file) and mounted under its deployed name. `GET /healthz` is 200 only when every
function and every emulator answers.

    python -m infra.local.gateway --port 8080
"""

from __future__ import annotations

import argparse
import json
import logging
import os
from pathlib import Path
from typing import Any

import requests
from werkzeug.middleware.dispatcher import DispatcherMiddleware
from werkzeug.serving import run_simple
from werkzeug.test import Client
from werkzeug.wrappers import Request, Response

from infra.catalog import load_catalog

ROOT = Path(__file__).resolve().parents[2]

# Deployed names, source folders and entry points come from infra/functions.json, as deploy.sh's.
_SPECS = load_catalog().functions
# deployed name -> (source folder under functions/, entry point)
FUNCTIONS: dict[str, tuple[str, str]] = {spec.name: (Path(spec.source).name, spec.entry_point) for spec in _SPECS}
# Pub/Sub-triggered: not called by clients (in production only its trigger may invoke it).
CLOUD_EVENT_FUNCTIONS = frozenset(spec.name for spec in _SPECS if spec.trigger == "topic")


def load_functions() -> dict[str, Any]:
    import functions_framework

    return {
        name: functions_framework.create_app(target=target, source=str(ROOT / "functions" / folder / "main.py"))
        for name, (folder, target) in FUNCTIONS.items()
    }


def emulator_endpoints() -> dict[str, str]:
    """URLs that must answer for the stack to be healthy (from the same env vars the clients read)."""
    endpoints = {}
    if host := os.environ.get("FIRESTORE_EMULATOR_HOST"):
        endpoints["firestore"] = f"http://{host}/"
    if url := os.environ.get("STORAGE_EMULATOR_HOST"):
        endpoints["cloud_storage"] = f"{url.rstrip('/')}/storage/v1/b"
    if host := os.environ.get("PUBSUB_EMULATOR_HOST"):
        endpoints["pubsub"] = f"http://{host}/"
    if url := os.environ.get("DD_TRACE_AGENT_URL"):
        endpoints["datadog_test_agent"] = f"{url.rstrip('/')}/info"
    return endpoints


def build_app() -> DispatcherMiddleware:
    apps = load_functions()

    @Request.application
    def root(request: Request) -> Response:
        if request.path != "/healthz":
            missing = {"error": {"code": "not_found", "message": f"No function at {request.path}.", "details": None}}
            return Response(json.dumps(missing), status=404, mimetype="application/json")
        if request.method not in ("GET", "HEAD"):  # TRACE /healthz answered 200 (found by the contract fuzz)
            refused = {"error": {"code": "method_not_allowed", "message": "/healthz takes GET only.", "details": None}}
            response = Response(json.dumps(refused), status=405, mimetype="application/json")
            response.headers["Allow"] = "GET"
            return response
        checks: dict[str, bool] = {name: _function_answers(name, app) for name, app in apps.items()}
        checks.update({name: _answers(url) for name, url in emulator_endpoints().items()})
        healthy = all(checks.values())
        body: dict[str, Any] = {"status": "ok" if healthy else "unhealthy", "checks": checks}
        return Response(json.dumps(body), status=200 if healthy else 503, mimetype="application/json")

    return DispatcherMiddleware(root, {f"/{name}": _root_path_is_slash(app) for name, app in apps.items()})


def _root_path_is_slash(app: Any) -> Any:
    """`/extract` must reach the function's `/` as Cloud Functions does, not a redirect to `/extract/`."""

    def wsgi(environ: dict[str, Any], start_response: Any) -> Any:
        if not environ.get("PATH_INFO"):
            environ["PATH_INFO"] = "/"
        return app(environ, start_response)

    return wsgi


def _function_answers(name: str, app: Any) -> bool:
    response = Client(app).get("/")
    if name in CLOUD_EVENT_FUNCTIONS:  # takes only POSTed events: a 405 proves it is loaded
        return response.status_code == 405
    # Without a key every HTTP function must answer 401 with our JSON body: proof it is loaded and routing.
    return response.status_code == 401 and response.is_json


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).status_code < 500
    except requests.RequestException:
        return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=int(os.environ.get("GATEWAY_PORT", "8080")))
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    run_simple(args.host, args.port, build_app(), threaded=True, use_reloader=False)


if __name__ == "__main__":
    main()
