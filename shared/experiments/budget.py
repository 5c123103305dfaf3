"""The model's quota shared by the shards running at once: `EXPERIMENT_QUOTA_RPM` / `_TPM`.

Gemini's quota is per project. Each shard's AdaptiveLimiter learns it alone, from its own 429s,
so several shards overshoot together and back off together. With a quota set, each running shard
holds a share (one small document of its own, renewed every `REFRESH_S`) and paces its model
calls at

    min(RPM / 60, TPM / 60 / tokens per call) x EXPERIMENT_QUOTA_SAFETY / live shares

calls a second, tokens per call learnt from its answers' usage. No document is hot: a shard
writes only its own share and reads all of them (a few, one per running shard) every refresh,
so a share is at most `REFRESH_S` behind a shard starting or ending. The AIMD limiter stays as
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

REFRESH_S = 2.0  # how often a shard renews its share and re-counts the live ones
SHARE_TTL_S = 5 * REFRESH_S  # a share not renewed this long (its worker died) no longer counts
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
    """One shard's share of the project's quota, as a call pacer (`wait`) and what feeds it."""

    def __init__(self, settings: Settings, shares: QuotaShares, holder: str) -> None:
        self._rpm = settings.experiment_quota_rpm
        self._tpm = settings.experiment_quota_tpm
        self._safety = settings.experiment_quota_safety
        self._shares = shares
        self._holder = holder
        self.tokens = TokensPerCall()
        self.live = 1
        self._next = 0.0

    @property
    def calls_per_second(self) -> float:
        return share_calls_per_second(
            rpm=self._rpm, tpm=self._tpm, tokens_per_call=self.tokens.value, shares=self.live, safety=self._safety
        )

    async def wait(self) -> None:
        """Hold a call until its turn: calls leave at most `calls_per_second`, no burst after a lull."""
        rate = self.calls_per_second
        if rate <= 0:
            return
        now = time.monotonic()
        at = max(now, self._next)
        self._next = at + 1.0 / rate
        if at > now:
            await asyncio.sleep(at - now)

    def used(self, tokens: int) -> None:
        self.tokens.observe(tokens)

    def refresh(self) -> None:
        """Renew this shard's share and count the live ones (itself included)."""
        now = datetime.now(UTC)
        self._shares.hold(self._holder, until=now + timedelta(seconds=SHARE_TTL_S))
        self.live = max(1, self._shares.live(now=now))

    async def hold_while_running(self) -> None:
        """Renew and re-count every REFRESH_S until cancelled, then give the share back."""
        try:
            while True:
                await asyncio.sleep(REFRESH_S)
                try:
                    await asyncio.to_thread(self.refresh)
                except Exception:  # a missed refresh keeps the last count; the next comes soon
                    logger.warning("could not refresh the quota share of %s", self._holder, exc_info=True)
        finally:
            with contextlib.suppress(Exception):
                await asyncio.to_thread(self._shares.drop, self._holder)


def quota_is_shared(settings: Settings) -> bool:
    return settings.experiment_quota_rpm > 0 or settings.experiment_quota_tpm > 0
