"""The Gemini stand-in for load: every answer after a random 1-3 s, as the real model takes.

    python -m bench.gemini_standin --port 8089 [--min-ms 1000] [--max-ms 3000] [--fixed-ms 500]
                                   [--timings FILE]

`tests.fakes.gemini_server` with a responder that draws each answer's delay uniformly between
the bounds (`--fixed-ms`: always that delay); it answers the sample extraction (the generic form
type). A process of its own, so its event loop never competes with the load client's.
`--timings FILE` appends one JSON line per answer: the sha256 of the request's image and the
milliseconds the stand-in held the request (from its handler's start to the answer ready), so a
benchmark can take the model's own time off a client's wait exactly.
"""

from __future__ import annotations

import argparse
import contextlib
import contextvars
import hashlib
import json
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from tests.fakes.gemini_server import FakeGeminiServer, RecordedRequest, ScriptedReply, delayed, extraction_reply

_REPLY = extraction_reply()
_IMAGE_KEY: contextvars.ContextVar[str] = contextvars.ContextVar("image_key", default="")


class TimedStandIn(FakeGeminiServer):
    """The fake server, noting how long it held each request that carried an image."""

    def __init__(self, *, timings: TextIO | None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._timings = timings

    async def _handle(self, request: Any) -> Any:
        started = time.perf_counter()
        response = await super()._handle(request)  # the responder sets _IMAGE_KEY in this same task
        key = _IMAGE_KEY.get()
        if self._timings is not None and key:
            held_ms = (time.perf_counter() - started) * 1000
            self._timings.write(json.dumps({"sha256": key, "ms": round(held_ms, 3)}) + "\n")
        return response


def responder(delay_s: Callable[[], float]) -> Callable[[RecordedRequest], ScriptedReply]:
    def respond(request: RecordedRequest) -> ScriptedReply:
        images = request.images
        _IMAGE_KEY.set(hashlib.sha256(images[0].data).hexdigest() if images else "")
        return delayed(_REPLY, delay_s())

    return respond


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--min-ms", type=float, default=1000.0)
    parser.add_argument("--max-ms", type=float, default=3000.0)
    parser.add_argument("--fixed-ms", type=float, default=None, help="every answer after exactly this delay")
    parser.add_argument("--timings", type=Path, default=None, help="append each answer's image hash and time here")
    args = parser.parse_args()

    def delay_s() -> float:
        if args.fixed_ms is not None:
            return args.fixed_ms / 1000
        return random.uniform(args.min_ms, args.max_ms) / 1000

    timings = args.timings.open("a", buffering=1) if args.timings else None
    server = TimedStandIn(timings=timings, host=args.host, port=args.port, responder=responder(delay_s), max_recorded=0)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()


if __name__ == "__main__":
    main()
