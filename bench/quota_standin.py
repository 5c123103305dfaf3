"""A Gemini stand-in with a project-wide quota, as Gemini enforces it: requests and tokens a minute.

    python -m bench.quota_standin --port 8089 --rpm 3000 --tpm 4000000 [--min-ms 1000] [--max-ms 3000]
        [--window-s 60]

Over a sliding 60 s window it admits a generateContent call while the requests admitted in the
window stay within `--rpm` and their tokens (the usage it reports for each answer, drawn as it
is admitted) within `--tpm`; beyond that it answers 429 RESOURCE_EXHAUSTED at once, with a
`Retry-After` header and a RetryInfo `retryDelay` (the seconds until the window has room again),
as Gemini does. A refused call uses no quota. An admitted call is answered after a random delay
between the bounds, the sample extraction (the generic form type).

`GET /stats` answers what it counted per second since it started: admitted calls, their tokens,
and 429s (the benchmark reads them at the end). Its own process, so its event loop never
competes with a worker's. A shorter `--window-s` (the quota scaled to it: RPM x window / 60) lets
a test see the quota bind within seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import random
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field

from aiohttp import web

from tests.fakes.gemini_server import SAMPLE_EXTRACTION

WINDOW_S = 60.0
_ANSWER_TEXT = json.dumps(SAMPLE_EXTRACTION)


@dataclass
class SlidingQuota:
    """Requests and tokens admitted over the last `window_s`, at most the quota's share of that
    window (RPM and TPM x window / 60); 0 is no limit."""

    rpm: int
    tpm: int
    window_s: float = WINDOW_S
    _admitted: deque[tuple[float, int]] = field(default_factory=deque)
    _tokens: int = 0

    def _forget_before(self, now: float) -> None:
        while self._admitted and self._admitted[0][0] <= now - self.window_s:
            self._tokens -= self._admitted.popleft()[1]

    def admit(self, now: float, tokens: int) -> float | None:
        """Take the call into the window; or the seconds until the window has room for it (not taken)."""
        self._forget_before(now)
        max_requests, max_tokens = self.rpm * self.window_s / 60, self.tpm * self.window_s / 60
        over_requests = self.rpm and len(self._admitted) + 1 > max_requests
        over_tokens = self.tpm and self._tokens + tokens > max_tokens
        if not (over_requests or over_tokens):
            self._admitted.append((now, tokens))
            self._tokens += tokens
            return None
        # Room comes as the oldest calls leave the window: the first one that frees enough.
        needed_requests = len(self._admitted) + 1 - max_requests if over_requests else 0
        needed_tokens = self._tokens + tokens - max_tokens if over_tokens else 0
        freed_tokens = 0
        for count, (at, used) in enumerate(self._admitted, start=1):
            freed_tokens += used
            if count >= needed_requests and freed_tokens >= needed_tokens:
                return max(0.0, at + self.window_s - now)
        return self.window_s


class QuotaStandIn:
    def __init__(self, *, rpm: int, tpm: int, min_ms: float, max_ms: float, window_s: float = WINDOW_S) -> None:
        self.quota = SlidingQuota(rpm, tpm, window_s)
        self._delay_s = (min_ms / 1000, max_ms / 1000)
        self._started = time.time()
        # second since start -> [admitted, tokens, refused]
        self._per_second: defaultdict[int, list[int]] = defaultdict(lambda: [0, 0, 0])

    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_get("/stats", self._stats)
        app.router.add_post("/{tail:.*}", self._generate)
        return app

    async def _stats(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "started": self._started,
                "rpm": self.quota.rpm,
                "tpm": self.quota.tpm,
                "per_second": {str(second): counts for second, counts in sorted(self._per_second.items())},
            }
        )

    async def _generate(self, request: web.Request) -> web.Response:
        await request.read()
        if not request.path.endswith(":generateContent"):
            missing = {"error": {"code": 404, "message": "not served", "status": "NOT_FOUND"}}
            return web.json_response(missing, status=404)
        now = time.time()
        second = int(now - self._started)
        prompt_tokens, output_tokens = random.randint(1200, 1600), random.randint(100, 200)
        wait_s = self.quota.admit(now, prompt_tokens + output_tokens)
        if wait_s is not None:
            self._per_second[second][2] += 1
            return _resource_exhausted(wait_s)
        self._per_second[second][0] += 1
        self._per_second[second][1] += prompt_tokens + output_tokens
        await asyncio.sleep(random.uniform(*self._delay_s))
        return web.json_response(_answer(prompt_tokens, output_tokens))


def _resource_exhausted(wait_s: float) -> web.Response:
    seconds = max(1, math.ceil(wait_s))
    body = {
        "error": {
            "code": 429,
            "message": "Resource has been exhausted (e.g. check quota).",
            "status": "RESOURCE_EXHAUSTED",
            "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": f"{seconds}s"}],
        }
    }
    return web.json_response(body, status=429, headers={"Retry-After": str(seconds)})


def _answer(prompt_tokens: int, output_tokens: int) -> dict[str, object]:
    return {
        "candidates": [
            {"content": {"role": "model", "parts": [{"text": _ANSWER_TEXT}]}, "finishReason": "STOP", "index": 0}
        ],
        "usageMetadata": {
            "promptTokenCount": prompt_tokens,
            "candidatesTokenCount": output_tokens,
            "totalTokenCount": prompt_tokens + output_tokens,
        },
        "modelVersion": "gemini-2.5-flash",
        "responseId": "quota-stand-in",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--rpm", type=int, default=3000)
    parser.add_argument("--tpm", type=int, default=4_000_000)
    parser.add_argument("--min-ms", type=float, default=1000.0)
    parser.add_argument("--max-ms", type=float, default=3000.0)
    parser.add_argument("--window-s", type=float, default=WINDOW_S)
    args = parser.parse_args()
    stand_in = QuotaStandIn(rpm=args.rpm, tpm=args.tpm, min_ms=args.min_ms, max_ms=args.max_ms, window_s=args.window_s)
    print(f"quota stand-in listening on http://{args.host}:{args.port}", flush=True)
    web.run_app(stand_in.app(), host=args.host, port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
