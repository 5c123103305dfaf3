"""`GET /datasets/review/accuracy`: how accurate is production, with an honest 95% interval.

N and the automatic verdicts' count come from two aggregation queries on the extractions made in
the window (never one stream of a week's traffic); the reviewers' verdicts from the random-sample
items of the same extractions, decided (approved = right; corrected or rejected = wrong), paged.
The estimator is shared.evaluation.production_accuracy (PPI++). Random-sample items not decided
yet are left out: reviewers take the queue oldest first, blind to whether an item is right.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from shared.errors import MalformedRequest
from shared.evaluation.production_accuracy import production_accuracy
from shared.models import ISO_8601_SINCE
from shared.ports.services import ExtractionLookup, ReviewQueue

DEFAULT_WINDOW = timedelta(days=7)
MAX_WINDOW = timedelta(days=366)
FIRST_YEAR, LAST_YEAR = 1970, 2999
MAX_WEEKS = 26  # `by=week` answers at most this many buckets (two counts each)
FORM_TYPE_PATTERN = r"[a-z][a-z0-9_]{0,39}@[1-9][0-9]{0,5}"  # shared.form_types.model, with its version


@dataclass(frozen=True)
class AccuracyQuery:
    since: datetime
    until: datetime
    form_type: str | None
    by: Literal["week"] | None


def accuracy_query(args: dict[str, str], *, now: datetime) -> AccuracyQuery:
    """The query's arguments checked: dates ISO 8601 (naive is UTC) from 1970 to 2999, `since` before
    `until`, the window at most 366 days (`by=week`: 26 weeks), `form_type` as stored (`name@n`).
    400 otherwise."""
    unknown = set(args) - {"since", "until", "form_type", "by"}
    if unknown:
        raise MalformedRequest(
            f"Unknown query arguments: {', '.join(sorted(unknown))}.", details={"fields": sorted(unknown)}
        )
    until = _date(args, "until") or now
    since = _date(args, "since") or until - DEFAULT_WINDOW
    if since >= until:
        raise MalformedRequest("since must be before until.", details={"fields": ["since", "until"]})
    if until - since > MAX_WINDOW:
        raise MalformedRequest("The window from since to until is at most 366 days.", details={"field": "since"})
    form_type = args.get("form_type")
    if form_type is not None and not re.fullmatch(FORM_TYPE_PATTERN, form_type):
        raise MalformedRequest(
            "form_type is a form type as extractions record it, name@version (e.g. generic@1).",
            details={"field": "form_type"},
        )
    by = args.get("by")
    if by not in (None, "week"):
        raise MalformedRequest("by must be week (or left out for one window).", details={"field": "by"})
    if by == "week" and until - since > timedelta(weeks=MAX_WEEKS):
        raise MalformedRequest(f"by=week answers at most {MAX_WEEKS} weeks: narrow since and until.")
    return AccuracyQuery(since=since, until=until, form_type=form_type, by=by)  # type: ignore[arg-type]


def weeks(since: datetime, until: datetime) -> list[tuple[datetime, datetime]]:
    """[since, until) cut at each Monday 00:00 UTC (the first and last weeks may be partial)."""
    monday = (since - timedelta(days=since.weekday())).replace(hour=0, minute=0, second=0, microsecond=0)
    buckets: list[tuple[datetime, datetime]] = []
    start = since
    while start < until:
        monday += timedelta(days=7)
        end = min(monday, until)
        buckets.append((start, end))
        start = end
    return buckets


class ProductionAccuracyService:
    def __init__(self, *, review: ReviewQueue, extractions: ExtractionLookup) -> None:
        self._review = review
        self._extractions = extractions

    def accuracy(self, query: AccuracyQuery) -> dict[str, Any]:
        """The estimate over the window; with `by=week`, also one per week."""
        items = [
            item
            for item in self._review.random_sample_items(since=query.since, until=query.until)
            if query.form_type is None or item.get("form_type") == query.form_type
        ]
        body = self._estimate(query.since, query.until, query.form_type, items)
        body |= {"since": query.since.isoformat(), "until": query.until.isoformat(), "form_type": query.form_type}
        if query.by == "week":
            body["weeks"] = [
                self._estimate(start, end, query.form_type, [i for i in items if start <= i["created_at"] < end])
                | {"since": start.isoformat(), "until": end.isoformat()}
                for start, end in weeks(query.since, query.until)
            ]
        return body

    def form_types_sampled(self, *, since: datetime, until: datetime) -> list[str]:
        """The form types of the random-sample items made in [since, until): a form type with none has
        no reviewed extraction, so no estimate."""
        items = self._review.random_sample_items(since=since, until=until)
        return sorted({item["form_type"] for item in items if item.get("form_type")})

    def _estimate(
        self, since: datetime, until: datetime, form_type: str | None, items: Iterable[dict[str, Any]]
    ) -> dict[str, Any]:
        n_total = self._extractions.count_made(since=since, until=until, form_type=form_type)
        automatic_right = self._extractions.count_made(
            since=since, until=until, form_type=form_type, automatic_verdict=True
        )
        reviewed = [
            (item["verdict"] == "approved", bool(item.get("automatic_verdict")))
            for item in items
            if item.get("closed") == 1 and item.get("verdict") in ("approved", "corrected", "rejected")
        ]
        return production_accuracy(n_total=n_total, automatic_right=automatic_right, reviewed=reviewed).body()


def _date(args: dict[str, str], name: str) -> datetime | None:
    raw = args.get(name)
    if raw is None:
        return None
    sentence = f"{name} is an ISO 8601 date, or date and time, e.g. 2026-11-27T09:00:00Z."
    if not re.fullmatch(ISO_8601_SINCE, raw):
        raise MalformedRequest(sentence, details={"field": name})
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise MalformedRequest(sentence, details={"field": name}) from None
    if not FIRST_YEAR <= value.year <= LAST_YEAR:  # far from any traffic, and no overflow at the ends
        raise MalformedRequest(f"{name} is a date from {FIRST_YEAR} to {LAST_YEAR}.", details={"field": name})
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
