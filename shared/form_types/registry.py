"""The form type registry: the built-ins (version 1 of their names) and the types users add.

Versions are immutable, so an exact `name@n` is cached for the life of the instance; a bare
`name` (its latest version) is cached for `cache_s`, as prompts are.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol

from shared.errors import InvalidField, NotFound
from shared.form_types.builtin import BUILTIN_FORM_TYPES
from shared.form_types.model import FormType, FormTypeDraft
from shared.form_types.resolve import names_a_form_type, split_ref


class FormTypeStore(Protocol):
    def latest_number(self, name: str) -> int | None: ...
    def version(self, name: str, number: int) -> FormType | None: ...
    def version_numbers(self, name: str) -> list[int]: ...
    def names(self) -> list[str]: ...
    def add_version(self, form_type: FormType, *, created_at: datetime, created_by: str | None,
                    first: FormType | None = None) -> FormType: ...  # fmt: skip


class FormTypeRegistry:
    def __init__(self, store: FormTypeStore, *, cache_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._store = store
        self._cache_s = cache_s
        self._clock = clock
        self._lock = threading.Lock()
        self._exact: dict[tuple[str, int], FormType] = {}
        self._latest: dict[str, tuple[float, int]] = {}

    def get(self, ref: str) -> FormType:
        """The type `ref` names (`name` or `name@n`); NotFound (404) when there is none."""
        if not names_a_form_type(ref):
            raise NotFound(f"No form type {ref[:100]!r}: a form type is named like ng_ec8a or ng_ec8a@1.")
        name, number = split_ref(ref)
        if number is None:
            number = self._latest_number(name)
        if number is None:
            raise NotFound(f"Unknown form type {name!r}.", details={"form_type": name, "known": self.names()})
        return self._exact_version(name, number)

    def resolve(self, ref: str | None, *, field: str = "form_type") -> FormType:
        """The type a request names (None: generic); InvalidField (422) naming `field` when unknown."""
        try:
            return self.get(ref or "generic")
        except NotFound as error:
            raise InvalidField(error.message, details={"field": field, **(error.details or {})}) from None

    def refs_of(self, ref: str, *, field: str = "form_type") -> list[str]:
        """Every exact `name@n` a reference covers: `name@n` itself, or each version of `name`;
        InvalidField (422) naming `field` when no type has it."""
        form_type = self.resolve(ref, field=field)
        if "@" in ref:
            return [form_type.ref]
        numbers = self._store.version_numbers(form_type.name) or [form_type.version]
        return [f"{form_type.name}@{number}" for number in numbers]

    def forget(self) -> None:
        with self._lock:
            self._exact.clear()
            self._latest.clear()

    def names(self) -> list[str]:
        return sorted(set(BUILTIN_FORM_TYPES) | set(self._store.names()))

    def listing(self) -> list[FormType]:
        """The latest version of every type, by name."""
        return [self.get(name) for name in self.names()]

    def describe(self, ref: str) -> dict[str, Any]:
        """GET /extract/form-types/{ref}: the type plus every version number of its name."""
        form_type = self.get(ref)
        versions = self._store.version_numbers(form_type.name) or [1]
        return {**form_type.model_dump(), "versions": versions}

    def create(self, draft: FormTypeDraft, *, created_by: str | None) -> FormType:
        """Store `draft` as the next version of its name (a built-in's name continues from 1)."""
        builtin = BUILTIN_FORM_TYPES.get(draft.name)
        stored = self._store.add_version(
            FormType.from_draft(draft, version=1), created_at=datetime.now(UTC), created_by=created_by, first=builtin
        )
        with self._lock:
            self._latest.pop(draft.name, None)
        return stored

    def _latest_number(self, name: str) -> int | None:
        now = self._clock()
        with self._lock:
            cached = self._latest.get(name)
        if cached is not None and cached[0] > now:
            return cached[1]
        number = self._store.latest_number(name)
        if number is None and name in BUILTIN_FORM_TYPES:
            number = 1
        if number is not None and self._cache_s > 0:
            with self._lock:
                self._latest[name] = (now + self._cache_s, number)
        return number

    def _exact_version(self, name: str, number: int) -> FormType:
        with self._lock:
            cached = self._exact.get((name, number))
        if cached is not None:
            return cached
        builtin = BUILTIN_FORM_TYPES.get(name)
        form_type = self._store.version(name, number)
        if form_type is None and builtin is not None and number == builtin.version:
            form_type = builtin
        if form_type is None:
            raise NotFound(
                f"Unknown form type version {name}@{number}.", details={"form_type": name, "version": number}
            )
        with self._lock:
            self._exact[(name, number)] = form_type
        return form_type
