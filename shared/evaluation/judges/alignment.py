"""Align a judge with reviewers: a new version from the review queue's decisions, and a paired
comparison of the old and the new version on decisions neither has seen.

1. Decisions (approved = the extraction is right, so the judge should pass it; corrected or
   rejected = wrong, it should fail) are split into a learn set and a held-out set by a seeded
   hash of the extraction id: the same seed splits the same way, and no held-out decision can be
   among the new version's examples.
2. The old version judges the learn set; examples are chosen from it, the judge's disagreements
   with people first, pass and fail taking turns (balanced), at most `max_examples`.
3. The rubric is refined deterministically: the reviewers' notes on the learn set are appended as
   rules (no LLM: the same decisions give the same rubric).
4. Both versions judge the held-out decisions: agreement with people and Cohen's kappa for each,
   and McNemar's exact test on the pairs (each judge right or wrong on the same decision).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from shared.errors import InvalidField, NotFound
from shared.evaluation.base import EvaluatorContext
from shared.evaluation.catalog import create_evaluator
from shared.evaluation.judge_image import IMAGE, IMAGE_CONTENT_TYPE
from shared.evaluation.judges.registry import JudgeRegistry, judge_params
from shared.evaluation.judges.versions import AlignRequest, JudgeVersion, StoredExample
from shared.evaluation.llm_judge import MAX_RUBRIC_CHARS
from shared.models import ExtractionRecord
from shared.services.review import cohen_kappa

if TYPE_CHECKING:
    from shared.config import Settings

VERDICTS = {"approved": "pass", "corrected": "fail", "rejected": "fail"}
RULES_HEADING = "Rules learnt from reviewers' decisions:"
MAX_LEARN_JUDGED = 64  # the old version judges at most this many learn decisions (disagreements)
_THREADS = 8
ALPHA = 0.05


class DecisionSource(Protocol):
    def decided(self, *, since: Any) -> Iterable[dict[str, Any]]: ...


class ExtractionReader(Protocol):
    def get(self, extraction_id: str) -> ExtractionRecord: ...


class ImageReader(Protocol):
    def get(self, uri: str) -> bytes: ...


@dataclass(frozen=True)
class Decision:
    extraction_id: str
    verdict: str  # pass (people found the extraction right) or fail
    note: str | None
    extraction: ExtractionRecord


def holds_out(extraction_id: str, *, seed: int, fraction: float) -> bool:
    """Whether a decision is held out: a seeded hash of its extraction id, below `fraction`."""
    digest = hashlib.sha256(f"{seed}:{extraction_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < fraction


def choose_examples(learn: Sequence[Decision], judged: dict[str, str | None], limit: int) -> list[Decision]:
    """Disagreements with people first, then the rest; pass and fail taking turns (balanced)."""

    def ordered(verdict: str) -> list[Decision]:
        mine = [d for d in learn if d.verdict == verdict]

        def agreed(d: Decision) -> bool:  # an unjudged decision is no known disagreement
            return judged.get(d.extraction_id) in (None, d.verdict)

        return sorted(mine, key=lambda d: (agreed(d), d.extraction_id))

    passes, fails = ordered("pass"), ordered("fail")
    chosen: list[Decision] = []
    while len(chosen) < limit and (passes or fails):
        for pile in (fails, passes):
            if pile and len(chosen) < limit:
                chosen.append(pile.pop(0))
    return chosen


def refined_rubric(rubric: str, learn: Sequence[Decision]) -> str:
    """The rubric with the reviewers' notes on the learn set appended as rules (once each, in the
    order of the extraction ids, within the rubric's length limit)."""
    base, _, known = rubric.partition("\n\n" + RULES_HEADING)
    rules = [line[2:] for line in known.splitlines() if line.startswith("- ")]
    for decision in sorted(learn, key=lambda d: d.extraction_id):
        note = " ".join((decision.note or "").split())
        if not note:
            continue
        rule = f"{note} (reviewers found such an extraction {'right' if decision.verdict == 'pass' else 'wrong'})"
        if rule not in rules:
            rules.append(rule)
    text = base.rstrip()
    if rules:
        text += "\n\n" + RULES_HEADING
        for rule in rules:
            if len(text) + len(rule) + 3 > MAX_RUBRIC_CHARS:
                break
            text += "\n- " + rule
    return text


def agreement_of(judged: Sequence[str], people: Sequence[str]) -> dict[str, Any]:
    """Agreement and Cohen's kappa of a judge's pass/fail with people's verdicts."""
    table = {"pass": {"right": 0, "wrong": 0}, "fail": {"right": 0, "wrong": 0}}
    for mine, theirs in zip(judged, people, strict=True):
        table[mine]["right" if theirs == "pass" else "wrong"] += 1
    kappa, reason, observed = cohen_kappa(table)
    return {"agreement": observed, "kappa": kappa, "kappa_undefined_reason": reason, "table": table}


def paired_verdict(old_right: Sequence[bool], new_right: Sequence[bool]) -> dict[str, Any]:
    import numpy as np  # heavy: the experiments function's cold start does without

    from shared.experiments.comparison import mcnemar_exact_p

    old, new = np.array(old_right, dtype=int), np.array(new_right, dtype=int)
    p_value = mcnemar_exact_p(old, new)
    gained, lost = int(np.sum((old == 0) & (new == 1))), int(np.sum((old == 1) & (new == 0)))
    verdict = "no_significant_difference"
    if p_value < ALPHA:
        verdict = "better" if gained > lost else "worse"
    return {"test": "mcnemar_exact", "p_value": round(p_value, 6), "verdict": verdict, "gained": gained, "lost": lost}


class JudgeAlignment:
    def __init__(
        self,
        *,
        settings: Settings,
        registry: JudgeRegistry,
        decisions: DecisionSource,
        extractions: ExtractionReader,
        images: ImageReader,
    ) -> None:
        self._settings = settings
        self._registry = registry
        self._decisions = decisions
        self._extractions = extractions
        self._images = images

    def align(self, name: str, request: AlignRequest, *, created_by: str | None) -> dict[str, Any]:
        selector = str(request.from_version) if request.from_version is not None else None
        old = self._registry.version(name, selector) if selector else self._registry.resolve(name)
        if not self._settings.gemini_configured:
            raise InvalidField("Aligning a judge runs it through Gemini: configure GEMINI_API_KEY (or Vertex AI).")
        decisions = self._reviewed()
        held = [
            d for d in decisions if holds_out(d.extraction_id, seed=request.seed, fraction=request.holdout_fraction)
        ]
        held_ids = {d.extraction_id for d in held}
        learn = [d for d in decisions if d.extraction_id not in held_ids]
        if not learn or not held:
            raise InvalidField(
                f"Aligning needs reviewed decisions in both the learn and the held-out set (got {len(learn)} and "
                f"{len(held)} of {len(decisions)}): review more extractions, or change holdout_fraction or seed.",
                details={"learn": len(learn), "held_out": len(held)},
            )
        old_on_learn = self._judge(old, learn[:MAX_LEARN_JUDGED])
        chosen = choose_examples(learn, old_on_learn, request.max_examples)
        params = {**old.params, "rubric": refined_rubric(old.params["rubric"], learn)}
        examples = [self._stored(d) for d in chosen]
        new = self._registry.add(name, params, examples, created_by=created_by, from_version=old.version)
        alignment = {
            "version": new.version,
            "ref": new.ref,
            "from_version": old.version,
            "seed": request.seed,
            "holdout_fraction": request.holdout_fraction,
            "examples": [d.extraction_id for d in chosen],
            "learn": {
                "n": len(learn),
                "judged": len(old_on_learn),
                "disagreements": sum(1 for d in learn if old_on_learn.get(d.extraction_id) not in (None, d.verdict)),
            },
            "holdout": self._compare(old, new, held),
        }
        self._registry.record_alignment(new, alignment)
        return alignment

    def _reviewed(self) -> list[Decision]:
        decisions = []
        for document in self._decisions.decided(since=None):
            verdict = VERDICTS.get(document.get("verdict") or "")
            extraction_id = document.get("extraction_id")
            if verdict is None or not isinstance(extraction_id, str):
                continue
            try:
                extraction = self._extractions.get(extraction_id)
            except NotFound:
                continue  # deleted since it was reviewed
            if extraction.result is not None:
                decisions.append(Decision(extraction_id, verdict, document.get("note"), extraction))
        return sorted(decisions, key=lambda d: d.extraction_id)

    def _stored(self, decision: Decision) -> StoredExample:
        record = decision.extraction
        assert record.result is not None
        return StoredExample(
            extraction_id=decision.extraction_id,
            verdict=decision.verdict,  # type: ignore[arg-type]
            note=decision.note,
            output=record.result.model_dump(mode="json"),
            image_uri=record.image_uri,
            image_content_type=record.image_content_type,
        )

    def _judge(self, version: JudgeVersion, decisions: Sequence[Decision]) -> dict[str, str | None]:
        """Each decision's pass/fail by this version (None when the judge failed or skipped)."""
        judge = create_evaluator("llm_judge", judge_params(version, image_of=self._image_of), settings=self._settings)
        sees = bool(version.params.get("sees_image"))

        def one(decision: Decision) -> str | None:
            record = decision.extraction
            image = self._images.get(record.image_uri) if sees else None
            context = EvaluatorContext(
                output=record.result,
                input={
                    IMAGE: image,
                    IMAGE_CONTENT_TYPE: record.image_content_type,
                    "reference_docs": record.reference_docs,
                },
            )
            try:
                result = judge.evaluate(context)
            except Exception:  # a refused answer: this decision is not judged
                return None
            return result.assessment if result is not None else None

        with ThreadPoolExecutor(max_workers=_THREADS) as pool:
            verdicts = list(pool.map(one, decisions))
        return {d.extraction_id: v for d, v in zip(decisions, verdicts, strict=True)}

    def _compare(self, old: JudgeVersion, new: JudgeVersion, held: Sequence[Decision]) -> dict[str, Any]:
        by_old, by_new = self._judge(old, held), self._judge(new, held)
        paired = [d for d in held if by_old[d.extraction_id] and by_new[d.extraction_id]]
        people = [d.verdict for d in paired]
        old_says = [by_old[d.extraction_id] or "" for d in paired]
        new_says = [by_new[d.extraction_id] or "" for d in paired]
        body: dict[str, Any] = {
            "n": len(paired),
            "not_judged": len(held) - len(paired),
            "extraction_ids": [d.extraction_id for d in held],
        }
        if not paired:
            return body | {"old": None, "new": None, "paired": None}
        return body | {
            "old": agreement_of(old_says, people),
            "new": agreement_of(new_says, people),
            "paired": paired_verdict(
                [a == p for a, p in zip(old_says, people, strict=True)],
                [b == p for b, p in zip(new_says, people, strict=True)],
            ),
        }

    def _image_of(self, example: StoredExample) -> bytes | None:
        if not example.image_uri:
            return None
        try:
            return self._images.get(example.image_uri)
        except Exception:
            return None  # an example whose image is gone is shown as text
