"""The demo `./deploy.sh local` runs: generate forms, extract them through the HTTP API, report.

    python -m infra.local.demo --base-url http://127.0.0.1:8080 [--forms 20]

Each form is posted as a user would (multipart, with its ground truth as `expected` so the
`extraction_quality` evaluator runs); the summary gives vote-count accuracy, the online
evaluations, latency, and where the LLM Observability payloads can be seen. Then one paper of
each typed built-in form type is posted with its `form_type`, one of them with its arithmetic
broken on purpose, to show the reading's statistics and the rules the evaluations name.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests

from shared.evaluation.matching import compare_extractions
from shared.models import VoteExtraction
from shared.synthetic import RenderedForm, render_form
from shared.synthetic.forms import Degradation, SyntheticForm, generate_form

# A mix a phone camera produces: clean scans, slight tilt, soft focus, JPEG.
_DEGRADATIONS = (
    Degradation(),
    Degradation(rotation_deg=1.5),
    Degradation(rotation_deg=-2.5, blur_sigma=0.8),
    Degradation(blur_sigma=1.2, jpeg_quality=80),
)


def demo_forms(count: int, start_seed: int = 1000) -> list[SyntheticForm]:
    return [generate_form(start_seed + i, degradation=_DEGRADATIONS[i % len(_DEGRADATIONS)]) for i in range(count)]


def post_form(base_url: str, api_key: str, form: SyntheticForm) -> dict[str, Any]:
    extension = "jpg" if form.content_type == "image/jpeg" else "png"
    response = requests.post(
        f"{base_url}/extract",
        headers={"X-API-Key": api_key},
        files={"image": (f"form-{form.seed}.{extension}", form.image, form.content_type)},
        data={"expected": form.truth.model_dump_json(), "tags": '{"source": "demo"}'},
        timeout=120,
    )
    body = response.json()
    body["_http_status"] = response.status_code
    return body


# (type, rule its paper fails on purpose or None)
TYPED_PAPERS: tuple[tuple[str, str | None], ...] = (
    ("ng_ec8a", None),
    ("bo_acta", None),
    ("ke_34a", None),
    ("ng_ec8a", "used_is_spoiled_rejected_valid"),
)


def typed_papers() -> list[RenderedForm]:
    return [render_form(name, seed=3000 + i, breaks_rule=rule) for i, (name, rule) in enumerate(TYPED_PAPERS)]


def post_typed(base_url: str, api_key: str, paper: RenderedForm) -> dict[str, Any]:
    response = requests.post(
        f"{base_url}/extract",
        headers={"X-API-Key": api_key},
        files={"image": (f"{paper.form_type.split('@')[0]}-{paper.seed}.png", paper.image, paper.content_type)},
        data={
            "model": "tesseract",
            "form_type": paper.form_type,
            "expected": paper.truth.model_dump_json(exclude={"ballot_stats"}),
            "tags": '{"source": "demo"}',
        },
        timeout=120,
    )
    body = response.json() if response.headers.get("content-type", "").startswith("application/json") else {}
    return {**body, "_http_status": response.status_code}


def summarise_typed(papers: list[RenderedForm], answers: list[dict[str, Any]]) -> str:
    """One line per paper: statistics read right or not, and what the consistency evaluation said."""
    lines = ["typed papers (offline model, with form_type):"]
    for paper, answer in zip(papers, answers, strict=True):
        label = paper.form_type + (f" breaking {paper.breaks_rule}" if paper.breaks_rule else "")
        if answer["_http_status"] != 200:
            detail = (answer.get("error") or {}).get("message") or answer.get("detail") or ""
            lines.append(f"  {label}: HTTP {answer['_http_status']} {str(detail)[:120]}")
            continue
        read = (answer.get("result") or {}).get("statistics") or {}
        right = sum(read.get(k) == v for k, v in paper.truth.statistics.items())
        consistency = next((e for e in answer.get("evaluations", []) if e["label"] == "consistency"), None)
        verdict = (
            f"consistency {consistency.get('assessment')}: {consistency.get('reasoning', '')[:120]}"
            if consistency
            else "no consistency evaluation"
        )
        lines.append(f"  {label}: {right}/{len(paper.truth.statistics)} statistics read right; {verdict}")
    return "\n".join(lines)


def seeded_prompts(base_url: str, api_key: str) -> str:
    """The prompts the stack has (listing them seeds prompt_a and prompt_b as version 1 when
    missing, create-if-absent: running the demo twice changes nothing)."""
    response = requests.get(f"{base_url}/experiments/prompts", headers={"X-API-Key": api_key}, timeout=30)
    if response.status_code != 200:
        return f"prompts: {response.status_code} {response.text[:200]}"
    items = response.json()["items"]
    listed = ", ".join(
        f"{item['name']}@{item['latest_version']}"
        + (f" ({', '.join(f'{label}={n}' for label, n in sorted(item['labels'].items()))})" if item["labels"] else "")
        for item in items
    )
    return f"prompts: {listed}"


def summarise(forms: list[SyntheticForm], answers: list[dict[str, Any]]) -> str:
    correct = total = exact_forms = 0
    classes: Counter[str] = Counter()
    passed: Counter[str] = Counter()
    seen: Counter[str] = Counter()
    latencies = []
    for form, answer in zip(forms, answers, strict=True):
        result = VoteExtraction.model_validate(answer["result"]) if answer.get("result") else None
        right, counted = compare_extractions(result, form.truth).vote_counts()
        correct, total, exact_forms = correct + right, total + counted, exact_forms + (right == counted)
        latencies.append(answer.get("latency_ms", 0.0))
        for evaluation in answer.get("evaluations", []):
            seen[evaluation["label"]] += 1
            passed[evaluation["label"]] += evaluation.get("assessment") == "pass"
            if evaluation["label"] == "output_classification":
                classes[evaluation["value"]] += 1
    lines = [
        f"forms extracted:        {len(forms)} ({sum(a['_http_status'] == 200 for a in answers)} answered 200)",
        f"vote counts exact:      {correct}/{total} = {100 * correct / max(total, 1):.1f}%",
        f"forms entirely right:   {exact_forms}/{len(forms)}",
        f"latency per form:       p50 {statistics.median(latencies):.0f} ms, max {max(latencies):.0f} ms",
        "online evaluations (pass rate):",
    ]
    lines += [f"  {label:22s} {passed[label]}/{seen[label]}" for label in sorted(seen)]
    lines.append("  output_classification: " + ", ".join(f"{k} {v}" for k, v in classes.most_common()))
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description="Run the vote-extractor demo against a running local stack.")
    parser.add_argument("--base-url", default="http://127.0.0.1:8080")
    parser.add_argument("--api-key", default=os.environ.get("DEMO_API_KEY", "local-dev-key"))
    parser.add_argument("--forms", type=int, default=20)
    parser.add_argument("--agent-url", default=os.environ.get("DD_TRACE_AGENT_URL", "http://127.0.0.1:8126"))
    args = parser.parse_args()

    print(seeded_prompts(args.base_url, args.api_key), flush=True)
    forms = demo_forms(args.forms)
    print(f"demo: extracting {len(forms)} generated forms through {args.base_url}/extract ...", flush=True)
    with ThreadPoolExecutor(max_workers=2) as pool:
        answers = list(pool.map(lambda form: post_form(args.base_url, args.api_key, form), forms))
    print(summarise(forms, answers))
    papers = typed_papers()
    print(summarise_typed(papers, [post_typed(args.base_url, args.api_key, paper) for paper in papers]), flush=True)
    example = answers[0]
    print(
        "\nLLM Observability payloads (spans and evaluations) as Datadog would receive them:\n"
        f"  curl -s {args.agent_url}/test/session/requests | python -m json.tool | less\n"
        f"One extraction, as stored in Firestore:\n"
        f"  curl -s -H 'X-API-Key: {args.api_key}' {args.base_url}/extract/{example.get('extraction_id')}\n"
        f"  (its llm span: span_id {example.get('span_id')}, trace_id {example.get('trace_id')})"
    )
    return 0 if all(a["_http_status"] in (200, 502, 504) for a in answers) else 1


if __name__ == "__main__":
    sys.exit(main())
