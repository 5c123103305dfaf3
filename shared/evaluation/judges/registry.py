"""The judge registry: create versions, read them, move labels, and resolve a reference (`name`,
`name@n`, `name@label`) to the `llm_judge` params that run (its examples included)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol

from shared.errors import InvalidField, NotFound
from shared.evaluation.catalog import create_evaluator
from shared.evaluation.judges.storage import FirestoreJudgeRepository
from shared.evaluation.judges.versions import (
    DEFAULT_LABEL,
    LABELS,
    LATEST,
    JudgeHead,
    JudgeVersion,
    JudgeVersionRequest,
    StoredExample,
    check_judge_name,
    parse_judge_ref,
)
from shared.models import ExtractionRecord


class ExtractionReader(Protocol):
    def get(self, extraction_id: str) -> ExtractionRecord: ...


class JudgeRegistry:
    def __init__(self, store: FirestoreJudgeRepository, extractions: ExtractionReader) -> None:
        self._store = store
        self._extractions = extractions

    def create_version(self, request: JudgeVersionRequest, *, created_by: str | None) -> JudgeVersion:
        """A new version: its params checked as `llm_judge` checks them (422 naming the problem),
        each example's extraction read and copied (404 for an unknown one, 422 for one without a
        result to judge)."""
        check_judge_name(request.name)
        params = request.judge_params()
        create_evaluator("llm_judge", params)  # bad params: 422 before anything is stored
        examples = [
            self.example(e.extraction_id, e.verdict, e.note, field=f"examples[{i}]")
            for i, e in enumerate(request.examples)
        ]
        return self.add(request.name, params, examples, created_by=created_by)

    def add(
        self,
        name: str,
        params: dict[str, Any],
        examples: list[StoredExample],
        *,
        created_by: str | None,
        from_version: int | None = None,
    ) -> JudgeVersion:
        return self._store.add_version(
            JudgeVersion(
                name=name,
                version=0,  # the store numbers it
                params=params,
                examples=examples,
                from_version=from_version,
                created_at=datetime.now(UTC),
                created_by=created_by,
            )
        )

    def example(self, extraction_id: str, verdict: str, note: str | None, *, field: str) -> StoredExample:
        try:
            record = self._extractions.get(extraction_id)
        except NotFound:
            raise NotFound(
                f"No extraction {extraction_id!r} (in {field}): an example is a verdict on a stored extraction.",
                details={"field": field, "extraction_id": extraction_id},
            ) from None
        if record.result is None:
            raise InvalidField(
                f"Extraction {extraction_id!r} (in {field}) has no result: there is nothing to judge.",
                details={"field": field},
            )
        return StoredExample(
            extraction_id=extraction_id,
            verdict=verdict,  # type: ignore[arg-type]
            note=note,
            output=record.result.model_dump(mode="json"),
            image_uri=record.image_uri,
            image_content_type=record.image_content_type,
        )

    def listing(self) -> list[dict[str, Any]]:
        return [_head_body(head) for head in self._store.heads()]

    def describe(self, name: str) -> dict[str, Any]:
        head = self._known_head(name)
        return {**_head_body(head), "versions": [_summary(v, head) for v in self._store.versions(name)]}

    def version(self, name: str, selector: str) -> JudgeVersion:
        head = self._known_head(name)
        number = _number(head, selector)
        version = self._store.version(name, number)
        if version is None:
            raise NotFound(f"Judge {name!r} has no version {selector!r}.", details={"name": name})
        return version

    def version_body(self, name: str, selector: str) -> dict[str, Any]:
        head = self._known_head(name)
        version = self.version(name, selector)
        return {**version.model_dump(mode="json"), "ref": version.ref, "labels": _labels_of(head, version.version)}

    def move_label(self, name: str, *, label: str, version: int) -> dict[str, Any]:
        if label not in LABELS:
            raise InvalidField(f"A label is one of {', '.join(LABELS)}.", details={"field": "label"})
        self._known_head(name)
        return _head_body(self._store.move_label(name, label, version, moved_by=None, at=datetime.now(UTC)))

    def resolve(self, ref: str, *, field_name: str = "judge") -> JudgeVersion:
        """The exact version `ref` names; InvalidField (422) for an unknown judge, version or label."""
        parsed = parse_judge_ref(ref, field_name=field_name)
        head = self._store.head(parsed.name)
        if head is None:
            raise InvalidField(
                f"Unknown judge {parsed.name!r}; create it under /experiments/judges.", details={"field": field_name}
            )
        if parsed.number is not None:
            number = parsed.number
        elif parsed.label is None:
            number = head.labels.get(DEFAULT_LABEL, head.latest)
        elif parsed.label == LATEST:
            number = head.latest
        elif parsed.label in head.labels:
            number = head.labels[parsed.label]
        else:
            raise InvalidField(f"Judge {parsed.name!r} has no label {parsed.label!r}.", details={"field": field_name})
        version = self._store.version(parsed.name, number)
        if version is None:
            raise InvalidField(f"Unknown judge version {parsed.name}@{number}.", details={"field": field_name})
        return version

    def expand(
        self, params: dict[str, Any], *, image_of: Callable[[StoredExample], bytes | None] | None = None
    ) -> dict[str, Any]:
        """`llm_judge` params that name a stored judge (`{"judge": ref, "label"?}`) as the params
        of the version `ref` resolves to, its examples included, with their images when the judge
        sees images and `image_of` reads them (in process only: an experiment stores the params
        without images)."""
        extra = sorted(set(params) - {"judge", "label"})
        if extra:
            raise InvalidField(
                f"An llm_judge that names a stored judge takes only judge and label (got {', '.join(extra)}): "
                "its rubric and the rest are the stored version's.",
                details={"field": "evaluators", "unknown": extra},
            )
        label = params.get("label") or ""
        if not isinstance(label, str):
            raise InvalidField("llm_judge label must be text.", details={"field": "evaluators"})
        return judge_params(self.resolve(params["judge"], field_name="llm_judge judge"), label=label, image_of=image_of)

    def record_alignment(self, version: JudgeVersion, alignment: dict[str, Any]) -> None:
        self._store.set_alignment(version.name, version.version, alignment)

    def _known_head(self, name: str) -> JudgeHead:
        head = self._store.head(check_judge_name_or_404(name))
        if head is None:
            raise NotFound(f"No judge {name!r}.", details={"name": name})
        return head


def judge_params(
    version: JudgeVersion, *, label: str = "", image_of: Callable[[StoredExample], bytes | None] | None = None
) -> dict[str, Any]:
    """The `llm_judge` params a stored version runs as: its params, its examples (with their
    images when it sees images and `image_of` can read them) and `judge` naming the version."""
    examples = []
    for example in version.examples:
        shown: dict[str, Any] = example.model_dump(include={"extraction_id", "verdict", "note", "output"})
        image = image_of(example) if image_of is not None and version.params.get("sees_image") else None
        if image is not None:
            shown |= {"image": image, "image_content_type": example.image_content_type}
        examples.append(shown)
    return {**version.params, "examples": examples, "judge": version.ref, **({"label": label} if label else {})}


def check_judge_name_or_404(name: str) -> str:
    try:
        return check_judge_name(name)
    except InvalidField:
        raise NotFound(f"No judge {name[:100]!r}.") from None


def _number(head: JudgeHead, selector: str) -> int:
    if selector.isascii() and selector.isdigit() and len(selector) <= 9:
        return int(selector)
    if selector == LATEST:
        return head.latest
    if selector in head.labels:
        return head.labels[selector]
    raise NotFound(
        f"Judge {head.name!r} has no version {selector[:40]!r}: give a version number or a label.",
        details={"name": head.name},
    )


def _labels_of(head: JudgeHead, number: int) -> list[str]:
    return sorted(label for label, pointed in head.labels.items() if pointed == number)


def _head_body(head: JudgeHead) -> dict[str, Any]:
    return {
        "name": head.name,
        "latest_version": head.latest,
        "labels": head.labels,
        "created_at": head.created_at.isoformat(),
        "updated_at": head.updated_at.isoformat(),
    }


def _summary(version: JudgeVersion, head: JudgeHead) -> dict[str, Any]:
    return {
        "version": version.version,
        "ref": version.ref,
        "labels": _labels_of(head, version.version),
        "output": version.params.get("output"),
        "sees_image": bool(version.params.get("sees_image")),
        "rubric_chars": len(version.params.get("rubric") or ""),
        "examples": len(version.examples),
        "from_version": version.from_version,
        "alignment": version.alignment,
        "created_at": version.created_at.isoformat(),
        "created_by": version.created_by,
    }
