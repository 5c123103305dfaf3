"""A phone photo through POST /extract: the client's wait at 12 MP, at scan size and at 540x720.

    python -m bench.photo_extract [--rounds 5] [--sizes 3024x4032,1752x1244,540x720] [--noise 3] [--url URL]

Each photo is a generated form (seeded, with its truth) laid on a grey table, framed at the size
asked for and tilted 1.5 degrees, with sensor noise, saved as JPEG quality 90 (12 MP: 1.4 MB;
`--noise 7` makes it 2.6 MB, like a real phone's). Every request is the offline model
(tesseract) with the cross check on for every extraction (CROSS_CHECK=on,
CROSS_CHECK_SAMPLE_RATE=1; no Gemini key, so the second reading is `tesseract-alternate`): two
readings per request.

Without `--url` it starts its own Firestore, Pub/Sub, Cloud Storage and Datadog test agent on
free ports and a gateway process (so it runs beside `./deploy.sh local`); with `--url` it posts
to a running gateway (which must have the cross check on). One request at a time, sizes
interleaved round by round after one warm-up request each; prints, per size, the client wait
(median, min-max), whether the reading was exact against the form's truth and what the cross
check said, then the machine and its load average before and after.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import requests
from PIL import Image

from bench.machine import describe_machine
from shared.evaluation.matching import compare_extractions
from shared.models import VoteExtraction
from shared.synthetic import generate_form

API_KEY = "bench-key"
PROJECT = "vote-extractor-photo-bench"
PHONE_PHOTO = (3024, 4032)
SIZES = (PHONE_PHOTO, (1752, 1244), (540, 720))
_TABLE_GREY = (196, 196, 190)


@dataclass(frozen=True)
class Photo:
    """A photographed form: JPEG bytes of `size` and the counts printed on it."""

    size: tuple[int, int]
    image: bytes
    truth: VoteExtraction

    @property
    def label(self) -> str:
        width, height = self.size
        return f"{width}x{height} ({len(self.image) / 1e6:.1f} MB)"


def make_photo(size: tuple[int, int], *, seed: int = 4242, tilt_deg: float = 1.5, noise_std: float = 3.0) -> Photo:
    """A generated form photographed at `size`: the page fills about 92% of the frame, page and
    table turned together by `tilt_deg` (so the page's edges tilt with its text, as in a photo)."""
    form = generate_form(seed)
    page = Image.open(io.BytesIO(form.image)).convert("RGB")
    width, height = size
    scale = min(width * 0.92 / page.width, height * 0.92 / page.height)
    page = page.resize((round(page.width * scale), round(page.height * scale)), Image.Resampling.LANCZOS)
    frame = Image.new("RGB", size, _TABLE_GREY)
    frame.paste(page, ((width - page.width) // 2, (height - page.height) // 2))
    frame = frame.rotate(tilt_deg, resample=Image.Resampling.BICUBIC, fillcolor=_TABLE_GREY)
    pixels = np.asarray(frame, dtype=np.float32)
    noise = np.random.default_rng(seed).normal(0.0, noise_std, pixels.shape)
    frame = Image.fromarray(np.clip(pixels + noise, 0, 255).astype(np.uint8))
    encoded = io.BytesIO()
    frame.save(encoded, "JPEG", quality=90)
    return Photo(size=size, image=encoded.getvalue(), truth=form.truth)


@dataclass
class SizeResult:
    photo: Photo
    waits_s: list[float] = field(default_factory=list)
    exact: list[bool] = field(default_factory=list)
    cross_check: list[str] = field(default_factory=list)

    def row(self) -> str:
        waits = self.waits_s
        return (
            f"{self.photo.label:<24} {len(waits):>3} {statistics.median(waits):>8.2f} "
            f"{min(waits):>6.2f}-{max(waits):<6.2f} {sum(self.exact):>3}/{len(self.exact):<3} "
            f"{', '.join(sorted(set(self.cross_check)))}"
        )


def post_photo(url: str, api_key: str, photo: Photo) -> tuple[float, bool, str]:
    """(client wait in s, counts exact against the truth, the cross check's assessment)."""
    started = time.perf_counter()
    response = requests.post(
        f"{url}/extract",
        headers={"X-API-Key": api_key},
        files={"image": ("photo.jpg", photo.image, "image/jpeg")},
        data={"model": "tesseract"},
        timeout=300,
    )
    waited = time.perf_counter() - started
    response.raise_for_status()
    body = response.json()
    exact = False
    if body.get("result"):
        correct, total = compare_extractions(
            VoteExtraction.model_validate(body["result"]), photo.truth, fuzzy_names=False
        ).vote_counts()
        exact = correct == total
    cross = [e for e in body.get("evaluations", []) if e["label"] == "cross_check"]
    assessment = str(cross[0].get("assessment")) if cross else "no cross_check"
    return waited, exact, assessment


@contextmanager
def own_gateway() -> Iterator[str]:
    """A gateway process on emulators of its own (free ports), cross check on for every request."""
    from infra.local.emulators import LocalStack, StackPorts, ensure_bucket, start_stack

    with tempfile.TemporaryDirectory(prefix="photo-extract-") as scratch:
        stack = LocalStack(ports=StackPorts.free(), project=PROJECT)
        os.environ.update(
            stack.env()
            | {
                "API_KEYS": API_KEY,
                "DEFAULT_MODEL": "tesseract",
                "CROSS_CHECK": "on",
                "CROSS_CHECK_SAMPLE_RATE": "1",
                "CROSS_CHECK_READER": "",
                "GEMINI_API_KEY": "",
            }
        )
        running = start_stack(stack.ports, Path(scratch) / "logs", project=stack.project, bucket=stack.bucket)
        # Imported late: the helper hands the environment set above to the gateway process.
        from tests.integration.processes import start_gateway

        gateway = None
        try:
            ensure_bucket(stack.storage_url, stack.project, stack.bucket)
            gateway, url = start_gateway(Path(scratch) / "logs")
            yield url
        finally:
            if gateway is not None:
                gateway.stop()
            running.stop()


def run(url: str, api_key: str, photos: list[Photo], rounds: int) -> list[SizeResult]:
    results = [SizeResult(photo) for photo in photos]
    for photo in photos:  # warm-up: the gateway's first extract pays imports and client set-up
        post_photo(url, api_key, photo)
    for _ in range(rounds):
        for result in results:
            waited, exact, assessment = post_photo(url, api_key, result.photo)
            result.waits_s.append(waited)
            result.exact.append(exact)
            result.cross_check.append(assessment)
            print(f"  {result.photo.label}: {waited:.2f} s", flush=True)
    return results


def _size(text: str) -> tuple[int, int]:
    width, height = text.lower().split("x")
    return int(width), int(height)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="requests per size after the warm-up (default 5)")
    parser.add_argument("--sizes", default=",".join(f"{w}x{h}" for w, h in SIZES), help="WxH,WxH,...")
    parser.add_argument("--url", help="a running gateway (cross check on) instead of the bench's own")
    parser.add_argument("--api-key", default="local-dev-key", help="with --url (default local-dev-key)")
    parser.add_argument("--seed", type=int, default=4242, help="the generated form's seed")
    parser.add_argument("--noise", type=float, default=3.0, help="sensor noise, grey levels (7: a 2.6 MB 12 MP JPEG)")
    args = parser.parse_args()

    photos = [make_photo(_size(text), seed=args.seed, noise_std=args.noise) for text in args.sizes.split(",")]
    print(describe_machine())
    load_before = os.getloadavg()
    if args.url:
        results = run(args.url, args.api_key, photos, args.rounds)
    else:
        with own_gateway() as url:
            results = run(url, API_KEY, photos, args.rounds)
    load_after = os.getloadavg()
    print(f"\n{'photo':<24} {'n':>3} {'median s':>8} {'min-max s':<13} {'exact':<7} cross check")
    for result in results:
        print(result.row())
    print(f"load average (1 min) before {load_before[0]:.2f}, after {load_after[0]:.2f}")


if __name__ == "__main__":
    main()
