"""The model's quota shared by the shards running at once: `EXPERIMENT_QUOTA_RPM` / `_TPM`.

Gemini's quota is per project. Each shard's AdaptiveLimiter learns it alone, from its own 429s,
so several shards overshoot together and back off together. With a quota set, each running shard
holds a share (one small document of its own, renewed every 2 s) and paces its model
calls at

    min(RPM / 60, TPM / 60 / tokens per call) x EXPERIMENT_QUOTA_SAFETY / live shares

calls a second, tokens per call learnt from its answers' usage. No document is hot: a shard
writes only its own share (every 2 s) and reads all of them (a few, one per running shard) every
`RECOUNT_S`, so its rate is at most that far behind a shard starting or ending. The AIMD limiter stays as
the backstop (a quota lowered by the provider, another client of the same project).
Without a quota (the default) nothing is paced and nothing is written: today's behaviour.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import UTC, datetime, timedelta

from shared.config import Settings
from shared.ports.experiments import QuotaShares

logger = logging.getLogger(__name__)

RECOUNT_S = 0.5  # how often a shard re-counts the live shares: a shard starting is seen this late
RENEW_EVERY = 4  # re-counts: its own share is written every 2 s (Firestore: ~1 sustained write/s a document)
SHARE_TTL_S = 10.0  # a share not renewed this long (its worker died) no longer counts
FIRST_TOKENS_PER_CALL = 2000.0  # before the first answer: a form's image and prompt, and the reply
_LEARNING_WEIGHT = 0.05  # of each new answer in the running mean of tokens per call


def share_calls_per_second(*, rpm: float, tpm: float, tokens_per_call: float, shares: int, safety: float) -> float:
    """One shard's calls a second: the quota's binding limit (requests, or tokens at this many
    tokens a call) times `safety`, split evenly between the live shares; 0 when no quota is set."""
    limits = []
    if rpm > 0:
        limits.append(rpm / 60)
    if tpm > 0:
        limits.append(tpm / 60 / max(1.0, tokens_per_call))
    if not limits:
        return 0.0
    return safety * min(limits) / max(1, shares)


class TokensPerCall:
    """A running mean of the tokens (prompt + answer) one call uses; the first answer replaces
    the initial guess."""

    def __init__(self, first_guess: float = FIRST_TOKENS_PER_CALL) -> None:
        self.value = first_guess
        self._observed = False

    def observe(self, tokens: int) -> None:
        if tokens <= 0:
            return
        if not self._observed:
            self.value, self._observed = float(tokens), True
        else:
            self.value += _LEARNING_WEIGHT * (tokens - self.value)


class SharedBudget:
    """One shard's share of the project's quota, as a call pacer (`wait`) and what feeds it.

    The share is held only while the shard has calls to make: from its first call (not while it
    reads its entries) until no run waits for a slot or its turn (`all_listed`, `run_started`),
    so the other shards take up the quota while it starts and while its last calls finish.
    """

    def __init__(self, settings: Settings, shares: QuotaShares, holder: str) -> None:
        self._rpm = settings.experiment_quota_rpm
        self._tpm = settings.experiment_quota_tpm
        self._safety = settings.experiment_quota_safety
        self._shares = shares
        self._holder = holder
        self.tokens = TokensPerCall()
        self.live = 1
        self._next = 0.0
        self._joined = asyncio.Event()
        self._joining = asyncio.Lock()
        self._released = asyncio.Event()
        self._unstarted = 0  # runs listed that have not had a slot yet
        self._listed = False  # every run of the shard is listed
        self._waiting = 0  # calls waiting for their turn

    @property
    def calls_per_second(self) -> float:
        return share_calls_per_second(
            rpm=self._rpm, tpm=self._tpm, tokens_per_call=self.tokens.value, shares=self.live, safety=self._safety
        )

    async def wait(self) -> None:
        """Hold a call until its turn: calls leave at most `calls_per_second`, no burst after a lull."""
        await self._join()
        rate = self.calls_per_second
        if rate <= 0:
            return
        now = time.monotonic()
        at = max(now, self._next)
        self._next = at + 1.0 / rate
        if at <= now:
            self._release_if_done()
            return
        self._waiting += 1
        try:
            await asyncio.sleep(at - now)
        finally:
            self._waiting -= 1
            self._release_if_done()

    def used(self, tokens: int) -> None:
        self.tokens.observe(tokens)

    def expect_run(self) -> None:
        self._unstarted += 1

    def run_started(self) -> None:
        self._unstarted -= 1
        self._release_if_done()

    def all_listed(self) -> None:
        self._listed = True
        self._release_if_done()

    def _release_if_done(self) -> None:
        if self._listed and self._unstarted <= 0 and self._waiting == 0:
            self._released.set()

    def refresh(self, *, renew: bool = True) -> None:
        """Renew this shard's share (unless told not to) and count the live ones, itself included."""
        now = datetime.now(UTC)
        if renew:
            self._shares.hold(self._holder, until=now + timedelta(seconds=SHARE_TTL_S))
        self.live = max(1, self._shares.live(now=now))

    async def _join(self) -> None:
        if self._joined.is_set():
            return
        async with self._joining:
            if not self._joined.is_set():
                await asyncio.to_thread(self.refresh)
                self._joined.set()

    async def hold_while_running(self) -> None:
        """From the first call, re-count every RECOUNT_S (and renew every RENEW_EVERY re-counts)
        until no call is left to make (or cancelled), then give the share back."""
        try:
            await self._joined.wait()
            recounts = 0
            while not self._released.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._released.wait(), RECOUNT_S)
                if self._released.is_set():
                    break
                recounts += 1
                try:
                    await asyncio.to_thread(self.refresh, renew=recounts % RENEW_EVERY == 0)
                except Exception:  # a missed refresh keeps the last count; the next comes soon
                    logger.warning("could not refresh the quota share of %s", self._holder, exc_info=True)
        finally:
            if self._joined.is_set():
                with contextlib.suppress(Exception):
                    await asyncio.to_thread(self._shares.drop, self._holder)


def quota_is_shared(settings: Settings) -> bool:
    return settings.experiment_quota_rpm > 0 or settings.experiment_quota_tpm > 0
