"""Seed the local stack with a demo: a published dataset, a schedule, and some real traffic.

    python -m infra.local.seed_dataset --base-url http://127.0.0.1:8080 [--entries 24]

`demo_forms@v1`: generated forms, degraded as phone photos are (tilted 1.5 to 3 degrees either
way, slight blur, some JPEG), with their ground truth as expected output and a short reference
text for Ragas. The tilt is what the OCR model's deskew is for: on the 24 seeded forms, without
preprocessing it misreads 14 (88.9% of the counts right), with it none, so "preprocessing on vs
off" is a difference an experiment on them shows. The schedule `demo-hourly` on it, which the
local scheduler starts every hour. A few extractions with feedback (one thumbs down with a
correction, one thumbs up with five stars), so the console's recent extractions and review queue
have something in them, and the draft `golden@v1` for reviewers to approve into. Besides, one
small dataset of each typed built-in form type (`demo_ng_ec8a@v1`, `demo_bo_acta@v1`,
`demo_ke_34a@v1`, 6 papers each): each expected output names its type in `form.form_type` and
carries only that type's statistics; one paper of each fails one of its type's rules on purpose
(a reviewer sees the paper, not the reading, is inconsistent), and on EC8A one row's words differ
from its figures. Created through the HTTP API, as a user would; does nothing if they already exist.
"""

from __future__ import annotations

import argparse
import base64
import os
import random
import sys

import requests

from shared.synthetic import render_form
from shared.synthetic.forms import Degradation, generate_form

NAME, VERSION = "demo_forms", "v1"
DESCRIPTION = "Generated forms, tilted and blurred as phone photos are (local demo)"
REFERENCE = (
    "An election result form lists each candidate with their party and votes. The candidates' votes add up "
    "to the valid votes; valid votes plus rejected ballots equal the total ballots cast."
)


def demo_entries(count: int) -> list[dict]:
    rng = random.Random(2026)
    entries = []
    for index in range(count):
        degradation = Degradation(
            rotation_deg=round(rng.choice([-1, 1]) * rng.uniform(1.5, 3.0), 2),
            blur_sigma=round(rng.uniform(0.0, 1.0), 2),
            jpeg_quality=rng.choice([None, 85]),
        )
        form = generate_form(5000 + index, degradation=degradation)
        entries.append(
            {
                "id": f"form-{index:03d}",
                "input": {
                    "image_base64": base64.b64encode(form.image).decode(),
                    "metadata": {
                        "form_type": form.truth.form.form_type,
                        "layout": form.layout,
                        "rotation_deg": degradation.rotation_deg,
                        "blur_sigma": degradation.blur_sigma,
                    },
                },
                "expected_output": form.truth.model_dump(),
                "reference_docs": REFERENCE,
                "tags": {"source": "synthetic", "layout": form.layout},
                "validated": True,
            }
        )
    return entries


TYPED_ENTRIES = 6
# name -> (description, the rule its 5th paper fails on purpose)
TYPED_DATASETS: dict[str, tuple[str, str]] = {
    "ng_ec8a": (
        "Generated Nigerian INEC Form EC8A papers: figures and words, NIL, struck-out figures",
        "not_over_voted",
    ),
    "bo_acta": ("Generated Bolivian OEP actas: one handwritten digit per box", "box_is_valid_blank_null"),
    "ke_34a": ("Generated Kenyan IEBC Form 34A papers", "valid_is_sum_of_votes"),
}


def typed_entries(name: str, count: int = TYPED_ENTRIES) -> list[dict]:
    """`count` papers of the built-in type `name`, slightly tilted; the 5th fails a rule on purpose,
    and on a type with words the 6th has one row whose words differ from its figures."""
    rng = random.Random(f"demo:{name}")
    broken_rule = TYPED_DATASETS[name][1]
    entries = []
    for index in range(count):
        degradation = Degradation(rotation_deg=round(rng.choice([-1, 1]) * rng.uniform(0.5, 2.0), 2))
        breaks = broken_rule if index == 4 else None
        mismatch = index == 5 and name == "ng_ec8a"
        paper = render_form(
            name, seed=7000 + index, breaks_rule=breaks, words_mismatch=mismatch, degradation=degradation
        )
        tags = {"source": "synthetic", "form_type": name}
        if breaks:
            tags["breaks_rule"] = breaks
        if mismatch:
            tags["words_mismatch"] = paper.words_mismatch_row or ""
        entries.append(
            {
                "id": f"{name}-{index:03d}",
                "input": {
                    "image_base64": base64.b64encode(paper.image).decode(),
                    "metadata": {"form_type": paper.form_type, "rotation_deg": degradation.rotation_deg},
                },
                # only the type's statistics: generic's ballot_stats block is left out
                "expected_output": paper.truth.model_dump(exclude={"ballot_stats"}),
                "tags": tags,
                "validated": True,
            }
        )
    return entries


def seed(base_url: str, api_key: str, count: int) -> str:
    return _seed_dataset(base_url, api_key, NAME, DESCRIPTION, demo_entries(count), f"{count} generated forms")


def seed_typed(base_url: str, api_key: str) -> list[str]:
    """`demo_<type>@v1` for each typed built-in form type."""
    return [
        _seed_dataset(
            base_url, api_key, f"demo_{name}", description, typed_entries(name), f"{TYPED_ENTRIES} {name} papers"
        )
        for name, (description, _) in TYPED_DATASETS.items()
    ]


def _seed_dataset(base_url: str, api_key: str, name: str, description: str, entries: list[dict], what: str) -> str:
    headers = {"X-API-Key": api_key}
    created = requests.post(
        f"{base_url}/datasets",
        json={"name": name, "version": VERSION, "description": description},
        headers=headers,
        timeout=30,
    )
    if created.status_code == 409:
        return f"dataset {name}@{VERSION} already exists"
    created.raise_for_status()
    added = requests.post(
        f"{base_url}/datasets/{name}/{VERSION}/entries",
        json={"entries": entries},
        headers=headers,
        timeout=120,
    )
    added.raise_for_status()
    requests.post(f"{base_url}/datasets/{name}/{VERSION}/publish", headers=headers, timeout=30).raise_for_status()
    return f"dataset {name}@{VERSION}: {what}, published"


SCHEDULE = {
    "schedule_id": "demo-hourly",
    "description": "The offline OCR model on the newest demo_forms every hour, against the previous hour.",
    "interval_minutes": 60,
    "dataset": {"name": NAME, "version": "latest"},
    "variants": [{"name": "ocr", "model": "tesseract", "params": {"deskew": True, "remove_lines": True}}],
    "evaluators": ["vote_count_accuracy", "vote_count_exact", "candidate_f1", "consistency"],
    "concurrency": 2,
    "baseline": {"policy": "previous"},
    "thresholds": {"min_quality": 0.9},
}


def seed_schedule(base_url: str, api_key: str) -> str:
    created = requests.post(
        f"{base_url}/experiments/schedules", json=SCHEDULE, headers={"X-API-Key": api_key}, timeout=30
    )
    if created.status_code == 409:
        return f"schedule {SCHEDULE['schedule_id']} already exists"
    created.raise_for_status()
    return f"schedule {SCHEDULE['schedule_id']}: every hour on {NAME}@latest (alerts: regression, quality < 0.9)"


TRAFFIC_SEEDS = (1000, 1001, 1002, 1003)
GOLDEN = ("golden", "v1")


def seed_traffic(base_url: str, api_key: str) -> str:
    """Extractions through POST /extract and feedback on two of them, once."""
    headers = {"X-API-Key": api_key}
    listed = requests.get(f"{base_url}/extract", params={"page_size": 1}, headers=headers, timeout=30)
    listed.raise_for_status()
    if listed.json()["items"]:
        return "traffic: there are extractions already"
    records = []
    for seed in TRAFFIC_SEEDS:
        form = generate_form(seed, degradation=Degradation(rotation_deg=1.0) if seed % 2 else Degradation())
        answer = requests.post(
            f"{base_url}/extract",
            files={"image": (f"form-{seed}.png", form.image, form.content_type)},
            data={"model": "tesseract", "tags": '{"source": "demo"}'},
            headers=headers,
            timeout=120,
        )
        answer.raise_for_status()
        records.append(answer.json())
    down, up = records[0], records[1]
    first = (down.get("result") or {}).get("vote_results") or [{"candidate_name": "?", "vote_count": 0}]
    fix = {"candidate_name": first[0]["candidate_name"], "vote_count": (first[0].get("vote_count") or 0) + 10}
    feedback = [
        {
            "span_id": down["span_id"],
            "trace_id": down["trace_id"],
            "feedback_type": "thumbs_down",
            "quality_score": 2,
            "comment": "The first count is off by ten.",
            "corrections": {"vote_results": [fix]},
            "feedback_id": f"demo-{down['extraction_id']}",
        },
        {
            "span_id": up["span_id"],
            "trace_id": up["trace_id"],
            "feedback_type": "thumbs_up",
            "quality_score": 5,
            "feedback_id": f"demo-{up['extraction_id']}",
        },
    ]
    for body in feedback:
        requests.post(f"{base_url}/feedback", json=body, headers=headers, timeout=30).raise_for_status()
    created = requests.post(
        f"{base_url}/datasets",
        json={"name": GOLDEN[0], "version": GOLDEN[1], "description": "Golden forms approved by reviewers"},
        headers=headers,
        timeout=30,
    )
    if created.status_code != 409:
        created.raise_for_status()
    return (
        f"traffic: {len(records)} extractions, a thumbs down with a correction and a thumbs up; "
        f"draft {GOLDEN[0]}@{GOLDEN[1]} for the review queue"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", default="http://127.0.0.1:8080")
    parser.add_argument("--api-key", default=os.environ.get("DEMO_API_KEY", "local-dev-key"))
    parser.add_argument("--entries", type=int, default=24)
    args = parser.parse_args()
    try:
        print(f"[local] {seed(args.base_url, args.api_key, args.entries)}", flush=True)
        for line in seed_typed(args.base_url, args.api_key):
            print(f"[local] {line}", flush=True)
        print(f"[local] {seed_schedule(args.base_url, args.api_key)}", flush=True)
        print(f"[local] {seed_traffic(args.base_url, args.api_key)}", flush=True)
    except requests.RequestException as error:
        print(f"[local] seeding the demo dataset failed: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
