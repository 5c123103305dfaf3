"""The shared quota budget's arithmetic (a shard's calls a second, tokens per call learnt, pacing),
the quota stand-in's sliding window, and how long a 429 asks the Gemini client to wait."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import datetime

import pytest

from bench.quota_standin import WINDOW_S, SlidingQuota
from shared.config import Settings
from shared.experiments.budget import FIRST_TOKENS_PER_CALL, SharedBudget, TokensPerCall, share_calls_per_second
from shared.llm.gemini.transport import ClientOptions, retry_delay, server_retry_delay


def test_the_requests_quota_binds_when_calls_are_small() -> None:
    rate = share_calls_per_second(rpm=6000, tpm=10_000_000, tokens_per_call=1000, shares=1, safety=1.0)

    assert rate == pytest.approx(100.0)  # 6,000 a minute; tokens would allow 166 a second


def test_the_tokens_quota_binds_when_calls_are_large() -> None:
    rate = share_calls_per_second(rpm=6000, tpm=3_000_000, tokens_per_call=1500, shares=1, safety=1.0)

    assert rate == pytest.approx(3_000_000 / 60 / 1500)


def test_the_rate_is_split_between_the_live_shares_with_the_safety_margin() -> None:
    rate = share_calls_per_second(rpm=3000, tpm=0, tokens_per_call=1500, shares=4, safety=0.9)

    assert rate == pytest.approx(50 * 0.9 / 4)


def test_no_quota_means_no_pacing_and_no_share_counts_as_one() -> None:
    assert share_calls_per_second(rpm=0, tpm=0, tokens_per_call=1500, shares=3, safety=0.95) == 0.0
    assert share_calls_per_second(rpm=600, tpm=0, tokens_per_call=1, shares=0, safety=1.0) == pytest.approx(10.0)


def test_tokens_per_call_start_from_the_first_answer_and_follow_the_later_ones() -> None:
    tokens = TokensPerCall()
    assert tokens.value == FIRST_TOKENS_PER_CALL

    tokens.observe(0)  # a failed call reports no usage: nothing learnt
    assert tokens.value == FIRST_TOKENS_PER_CALL
    tokens.observe(1000)
    assert tokens.value == 1000
    for _ in range(200):
        tokens.observe(1600)
    assert 1590 < tokens.value <= 1600


class _Shares:
    """The port as a dict: holder -> until (the Firestore adapter is exercised by the integration test)."""

    def __init__(self) -> None:
        self.held: dict[str, datetime] = {}

    def hold(self, holder: str, *, until: datetime) -> None:
        self.held[holder] = until

    def live(self, *, now: datetime) -> int:
        return sum(until > now for until in self.held.values())

    def drop(self, holder: str) -> None:
        self.held.pop(holder, None)


def test_a_budget_counts_the_live_shares() -> None:
    shares = _Shares()
    settings = Settings(experiment_quota_rpm=1200, experiment_quota_safety=1.0)
    first, second = SharedBudget(settings, shares, "a"), SharedBudget(settings, shares, "b")
    first.refresh()
    assert first.live == 1 and first.calls_per_second == pytest.approx(20.0)

    second.refresh()
    first.refresh()
    assert first.live == second.live == 2 and first.calls_per_second == pytest.approx(10.0)


def test_a_share_is_held_from_the_first_call_until_no_run_waits_to_call() -> None:
    shares = _Shares()
    budget = SharedBudget(Settings(experiment_quota_rpm=6000), shares, "a")

    async def scenario() -> None:
        holding = asyncio.ensure_future(budget.hold_while_running())
        budget.expect_run()
        budget.expect_run()
        await asyncio.sleep(0.01)
        assert shares.held == {}  # the shard reads its entries: no share yet

        budget.run_started()
        await budget.wait()
        budget.all_listed()
        await asyncio.sleep(0.05)
        assert set(shares.held) == {"a"} and not holding.done()  # one run still waits for a slot

        budget.run_started()
        await budget.wait()
        await asyncio.wait_for(holding, 1)
        assert shares.held == {}

    asyncio.run(scenario())


def test_calls_leave_no_faster_than_the_share_and_without_a_burst_after_a_lull() -> None:
    budget = SharedBudget(Settings(experiment_quota_rpm=1200, experiment_quota_safety=1.0), _Shares(), "a")

    async def eleven_calls() -> float:
        started = time.monotonic()
        await asyncio.gather(*(budget.wait() for _ in range(11)))
        return time.monotonic() - started

    assert asyncio.run(eleven_calls()) >= 0.45  # 20 a second: the 11th leaves 0.5 s after the first
    time.sleep(0.3)  # a lull earns no credit
    assert asyncio.run(eleven_calls()) >= 0.45


def test_the_stand_in_admits_within_the_window_and_says_when_room_comes_back() -> None:
    quota = SlidingQuota(rpm=3, tpm=0)

    assert [quota.admit(now, 100) for now in (0.0, 1.0, 2.0)] == [None, None, None]
    assert quota.admit(10.0, 100) == pytest.approx(WINDOW_S - 10.0)  # the call at 0 leaves the window at 60
    assert quota.admit(WINDOW_S + 0.5, 100) is None


def test_the_stand_in_counts_tokens_and_a_refused_call_uses_no_quota() -> None:
    quota = SlidingQuota(rpm=0, tpm=1000)

    assert quota.admit(0.0, 600) is None
    assert quota.admit(5.0, 600) == pytest.approx(WINDOW_S - 5.0)
    assert quota.admit(6.0, 400) is None  # the refused 600 was not counted


def _options() -> ClientOptions:
    return ClientOptions.from_settings(
        Settings(gemini_retry_initial_delay_s=0.01, gemini_retry_max_delay_s=16.0, gemini_api_key="key")
    )


def test_a_429_says_how_long_to_wait_in_its_header_or_its_retry_info() -> None:
    body = json.dumps(
        {
            "error": {
                "code": 429,
                "status": "RESOURCE_EXHAUSTED",
                "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "12s"}],
            }
        }
    ).encode()

    assert server_retry_delay("3", body) == 3.0
    assert server_retry_delay(None, body) == 12.0
    assert server_retry_delay(None, b'{"error": {"code": 429}}') is None
    assert server_retry_delay("soon", b"<html>") is None


def test_the_retry_waits_at_least_what_the_server_asked_within_the_longest_delay() -> None:
    options = _options()

    assert 5.0 <= retry_delay(options, 1, at_least_s=5.0) <= 5.01
    assert 16.0 <= retry_delay(options, 1, at_least_s=60.0) <= 16.01
    assert retry_delay(options, 1) <= 0.02
