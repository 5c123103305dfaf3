"""A local HTTP server standing in for Datadog's API where ddtrace's datasets client talks to it.

Datadog cannot be reached from here. With `DD_LLMOBS_OVERRIDE_ORIGIN` pointed at this server,
ddtrace 4.16 sends LLM Observability traffic here: it answers the datasets calls of
`LLMObs.create_dataset` (project, dataset, batch_update) as Datadog does, records every request,
and accepts span and evaluation intake with 202. In production the same code talks to Datadog.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


class FakeDatadogApi:
    def __init__(self) -> None:
        self.received: list[Received] = []
        self.datasets: dict[str, dict[str, Any]] = {}  # id -> {"name", "records": [...]}
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw or b"{}")
                except ValueError:
                    body = None  # msgpack or gzip intake: recorded, not read
                headers = {name.lower(): value for name, value in self.headers.items()}
                fake.received.append(Received(self.command, self.path, headers, body))
                status, answer = fake._route(self.command, self.path, body)
                encoded = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(encoded)))
                self.end_headers()
                self.wfile.write(encoded)

            do_POST = do_GET = do_PATCH = _answer  # noqa: N815 (http.server's names)

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def _route(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        if method == "POST" and re.fullmatch(r"/api/unstable/llm-obs/v1/projects", path):
            return 200, {"data": {"id": "project-1"}}
        if method == "POST" and re.fullmatch(r"/api/unstable/llm-obs/v1/[^/]+/datasets", path):
            dataset_id = uuid.uuid4().hex
            self.datasets[dataset_id] = {"name": body["data"]["attributes"]["name"], "records": []}
            return 200, {"data": {"id": dataset_id, "attributes": {"current_version": 0}}}
        found = re.fullmatch(r"/api/v2/llm-obs/v1/[^/]+/datasets/([^/]+)/batch_update", path)
        if method == "POST" and found:
            inserted = body["data"]["attributes"].get("insert_records", [])
            self.datasets[found.group(1)]["records"] += inserted
            return 200, {"data": [{"id": uuid.uuid4().hex, "attributes": {"version": 1}} for _ in inserted]}
        return 202, {}

    def stop(self) -> None:
        self._server.shutdown()
