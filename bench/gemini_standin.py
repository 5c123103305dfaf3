"""The Gemini stand-in for load: every answer after a random 1-3 s, as the real model takes.

    python -m bench.gemini_standin --port 8089 [--min-ms 1000] [--max-ms 3000]

`tests.fakes.gemini_server` with a responder that draws each answer's delay uniformly between
the bounds; it answers the sample extraction (the generic form type). A process of its
own, so its event loop never competes with the load client's.
"""

from __future__ import annotations

import argparse
import contextlib
import random

from tests.fakes.gemini_server import FakeGeminiServer, RecordedRequest, ScriptedReply, delayed, extraction_reply

_REPLY = extraction_reply()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--min-ms", type=float, default=1000.0)
    parser.add_argument("--max-ms", type=float, default=3000.0)
    args = parser.parse_args()

    def slow(request: RecordedRequest) -> ScriptedReply:
        return delayed(_REPLY, random.uniform(args.min_ms, args.max_ms) / 1000)

    server = FakeGeminiServer(host=args.host, port=args.port, responder=slow, max_recorded=0)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()


if __name__ == "__main__":
    main()
