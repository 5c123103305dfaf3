"""The prompt registry use case: create versions, read them, diff two, move labels, and resolve
a reference (`name`, `name@n`, `name@label`) to the exact version that runs.

The registry receives its store (a `PromptStore`): the instance's registry, on Firestore, is built
in `shared.wiring.prompts`. Resolution is cached in the instance: a version is immutable, so
`name@n` is kept for good; a label or a bare name is kept PROMPT_CACHE_S seconds, so a moved label
reaches every instance within that time, without a deploy.

The built-in prompts (`prompt_a`, `prompt_b`) are seeded at first use: whoever first finds no
`prompts/prompt_a` writes the code's text as version 1 with the `production` label, create-if-
absent, so a deployed project needs no migration step and concurrent first uses agree on one
version 1 (the loser of the race reads the winner's).
"""

from __future__ import annotations

import difflib
import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from shared.errors import InvalidField, NotFound
from shared.prompts.builtin import BUILTIN_PROMPTS
from shared.prompts.model_settings import check_model_settings
from shared.prompts.versions import (
    DEFAULT_LABEL,
    LABELS,
    LATEST,
    Prompt,
    PromptHead,
    PromptRef,
    PromptVersion,
    check_prompt_name,
    check_template,
    parse_ref,
)

if TYPE_CHECKING:
    from shared.ports.services import PromptStore

_EXACT_CACHED = 256


class PromptRegistry:
    def __init__(self, store: PromptStore, *, cache_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._store = store
        self._cache_s = cache_s
        self._clock = clock
        self._lock = threading.Lock()
        self._exact: OrderedDict[tuple[str, int], Prompt] = OrderedDict()
        self._moving: dict[str, tuple[float, int, str | None]] = {}  # ref -> (expires, number, label)
        self._seeded = False

    # resolving

    def resolve(self, ref: str) -> Prompt:
        """The exact version `ref` names; InvalidField (422) for an unknown prompt, version or label."""
        parsed = parse_ref(ref)
        if parsed.number is not None:
            return self._exact_version(parsed.name, parsed.number, label=None, ref=ref)
        now = self._clock()
        with self._lock:
            cached = self._moving.get(ref)
        if cached is not None and cached[0] > now:
            return self._exact_version(parsed.name, cached[1], label=cached[2], ref=ref)
        number, label = self._pointed_at(parsed, ref)
        if self._cache_s > 0:
            with self._lock:
                self._moving[ref] = (now + self._cache_s, number, label)
        return self._exact_version(parsed.name, number, label=label, ref=ref)

    def forget(self) -> None:
        """Drop every cached resolution (tests that reset Firestore)."""
        with self._lock:
            self._exact.clear()
            self._moving.clear()
            self._seeded = False

    def _pointed_at(self, parsed: PromptRef, ref: str) -> tuple[int, str | None]:
        head = self._head_or_seed(parsed.name)
        if head is None:
            raise InvalidField(
                f"Unknown prompt {parsed.name!r} (in {ref[:100]!r}); create it under /experiments/prompts.",
                details={"field": "prompt_version", "prompt": parsed.name},
            )
        if parsed.label is None:
            if DEFAULT_LABEL in head.labels:
                return head.labels[DEFAULT_LABEL], DEFAULT_LABEL
            return head.latest, None
        if parsed.label == LATEST:
            return head.latest, None
        if parsed.label not in head.labels:
            raise InvalidField(
                f"Prompt {parsed.name!r} has no label {parsed.label!r}; its labels are "
                f"{', '.join(sorted(head.labels)) or 'none'} (and latest).",
                details={"field": "prompt_version", "labels": head.labels},
            )
        return head.labels[parsed.label], parsed.label

    def _exact_version(self, name: str, number: int, *, label: str | None, ref: str) -> Prompt:
        key = (name, number)
        with self._lock:
            prompt = self._exact.get(key)
            if prompt is not None:
                self._exact.move_to_end(key)
        if prompt is None:
            version = self._store.version(name, number)
            if version is None and number == 1 and self._head_or_seed(name) is not None:
                version = self._store.version(name, number)
            if version is None:
                raise InvalidField(
                    f"Unknown prompt version {name}@{number} (in {ref[:100]!r}).",
                    details={"field": "prompt_version", "prompt": name, "version": number},
                )
            prompt = version.prompt()
            with self._lock:
                self._exact[key] = prompt
                while len(self._exact) > _EXACT_CACHED:
                    self._exact.popitem(last=False)
        return prompt if label is None else Prompt(**{**prompt.__dict__, "label": label})

    def _head_or_seed(self, name: str) -> PromptHead | None:
        head = self._store.head(name)
        if head is None and name in BUILTIN_PROMPTS:
            self._store.seed(_builtin_version(name), {DEFAULT_LABEL: 1})
            head = self._store.head(name)
        return head

    def _seed_builtins(self) -> None:
        if self._seeded:
            return
        for name in BUILTIN_PROMPTS:
            self._head_or_seed(name)
        self._seeded = True

    # the API

    def create_version(
        self,
        *,
        name: str,
        template: str,
        variables: list[str] | None,
        model_settings: dict[str, Any],
        created_by: str | None,
    ) -> PromptVersion:
        """A new version (the next number), even when its text equals an older one's: a version
        records an act of publishing, and the labels say which one runs."""
        check_prompt_name(name)
        template, declared = check_template(template, variables)
        model_settings = check_model_settings(model_settings)
        self._head_or_seed(name)  # a built-in's first new version is its 2, after the seeded 1
        return self._store.add_version(
            PromptVersion(
                name=name,
                version=0,  # the store numbers it
                template=template,
                variables=declared,
                model_settings=model_settings,
                template_sha256=_sha256(template),
                created_at=datetime.now(UTC),
                created_by=created_by,
            )
        )

    def listing(self) -> list[dict[str, Any]]:
        self._seed_builtins()
        return [_head_body(head) for head in self._store.heads()]

    def describe(self, name: str) -> dict[str, Any]:
        head = self._known_head(name)
        return {
            **_head_body(head),
            "versions": [_version_summary(version) for version in self._store.versions(name)],
        }

    def version(self, name: str, selector: str) -> dict[str, Any]:
        """One version in full: `selector` is its number or a label (`latest` too)."""
        head = self._known_head(name)
        number = self._number(head, selector)
        version = self._store.version(name, number)
        if version is None:
            raise NotFound(f"Prompt {name!r} has no version {selector!r}.", details={"name": name})
        return {
            **version.model_dump(mode="json"),
            "ref": f"{name}@{version.version}",
            "labels": sorted(label for label, pointed in head.labels.items() if pointed == version.version),
        }

    def diff(self, name: str, from_selector: str, to_selector: str) -> dict[str, Any]:
        """A unified diff of two versions' templates (and their variables and model settings)."""
        head = self._known_head(name)
        a = self._store.version(name, self._number(head, from_selector, field="from"))
        b = self._store.version(name, self._number(head, to_selector, field="to"))
        if a is None or b is None:
            raise NotFound(f"Prompt {name!r} lacks one of the versions compared.", details={"name": name})
        lines = difflib.unified_diff(
            a.template.splitlines(keepends=True),
            b.template.splitlines(keepends=True),
            fromfile=f"{name}@{a.version}",
            tofile=f"{name}@{b.version}",
        )
        return {
            "name": name,
            "from": a.version,
            "to": b.version,
            "diff": "".join(line if line.endswith("\n") else line + "\n" for line in lines),
            "same_template": a.template_sha256 == b.template_sha256,
            "variables": {"from": a.variables, "to": b.variables},
            "model_settings": {"from": a.model_settings, "to": b.model_settings},
        }

    def move_label(self, name: str, *, label: str, version: int, moved_by: str | None) -> dict[str, Any]:
        if label not in LABELS:
            raise InvalidField(
                f"A label is one of {', '.join(LABELS)} ({LATEST} always means the newest version).",
                details={"field": "label", "labels": list(LABELS)},
            )
        self._known_head(name)
        head = self._store.move_label(name, label, version, moved_by=moved_by, at=datetime.now(UTC))
        with self._lock:  # this instance sees the move at once; the others within PROMPT_CACHE_S
            self._moving.clear()
        return _head_body(head)

    def _known_head(self, name: str) -> PromptHead:
        if not isinstance(name, str) or not check_name_quietly(name):
            raise NotFound(f"No prompt {name[:100]!r}.")
        head = self._head_or_seed(name)
        if head is None:
            raise NotFound(f"No prompt {name!r}.", details={"name": name})
        return head

    def _number(self, head: PromptHead, selector: str, *, field: str = "version") -> int:
        if selector.isascii() and selector.isdigit() and len(selector) <= 9:
            return int(selector)
        if selector == LATEST:
            return head.latest
        if selector in head.labels:
            return head.labels[selector]
        raise NotFound(
            f"Prompt {head.name!r} has no {field} {selector[:40]!r}: give a version number or a label "
            f"({', '.join(sorted(head.labels)) or 'none set'}, latest).",
            details={"name": head.name, "field": field},
        )


def check_name_quietly(name: str) -> bool:
    try:
        check_prompt_name(name)
    except InvalidField:
        return False
    return True


def _builtin_version(name: str) -> PromptVersion:
    template = BUILTIN_PROMPTS[name]
    return PromptVersion(
        name=name,
        version=1,
        template=template,
        variables=[],
        model_settings={},
        template_sha256=_sha256(template),
        created_at=datetime.now(UTC),
        created_by="built-in",
    )


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _head_body(head: PromptHead) -> dict[str, Any]:
    return {
        "name": head.name,
        "latest_version": head.latest,
        "labels": head.labels,
        "label_moves": {
            label: {**move, "at": move["at"].isoformat() if hasattr(move.get("at"), "isoformat") else move.get("at")}
            for label, move in head.label_moves.items()
        },
        "created_at": head.created_at.isoformat(),
        "updated_at": head.updated_at.isoformat(),
    }


def _version_summary(version: PromptVersion) -> dict[str, Any]:
    return {
        "version": version.version,
        "ref": f"{version.name}@{version.version}",
        "variables": version.variables,
        "template_sha256": version.template_sha256,
        "template_chars": len(version.template),
        "created_at": version.created_at.isoformat(),
        "created_by": version.created_by,
    }


def builtin_prompt(name: str) -> Prompt:
    """Version 1 of a built-in prompt, as seeded, without storage (unit tests and benchmarks)."""
    return _builtin_version(name).prompt()
