"""The runner's AdaptiveLimiter: slots handed over in order, never more than `current` in flight,
and a run cancelled while waiting (or just as it was handed a slot) leaks no slot."""

from __future__ import annotations

import asyncio

from shared.experiments.runner import AdaptiveLimiter


def test_never_more_runs_in_flight_than_the_limit_and_every_run_gets_a_slot() -> None:
    async def scenario() -> tuple[int, list[int]]:
        limiter, in_flight, peak, order = AdaptiveLimiter(3), [0], [0], []

        async def run(number: int) -> None:
            async with limiter:
                in_flight[0] += 1
                peak[0] = max(peak[0], in_flight[0])
                order.append(number)
                await asyncio.sleep(0.001 * (number % 4))
                in_flight[0] -= 1

        await asyncio.gather(*(run(n) for n in range(40)))
        return peak[0], order

    peak, order = asyncio.run(scenario())

    assert peak == 3
    assert order[:3] == [0, 1, 2] and sorted(order) == list(range(40))


def test_a_429_halves_the_slots_and_successes_grow_them_back() -> None:
    async def scenario() -> list[int]:
        limiter = AdaptiveLimiter(8)
        limiter.rate_limited()
        peaks, in_flight = [], [0]

        async def run() -> None:
            async with limiter:
                in_flight[0] += 1
                peaks.append(in_flight[0])
                await asyncio.sleep(0)
                in_flight[0] -= 1
                limiter.succeeded()

        await asyncio.gather(*(run() for _ in range(100)))
        return [max(peaks[:20]), limiter.current]

    first_peak, grown = asyncio.run(scenario())

    assert first_peak == 4
    assert grown == 8


def test_a_run_cancelled_while_waiting_or_as_it_got_a_slot_leaks_nothing() -> None:
    async def scenario() -> int:
        limiter = AdaptiveLimiter(1)
        await limiter.__aenter__()  # the one slot, held
        waiting = asyncio.ensure_future(limiter.__aenter__())
        handed = asyncio.ensure_future(limiter.__aenter__())
        await asyncio.sleep(0)
        waiting.cancel()  # cancelled in the queue
        await asyncio.sleep(0)
        await limiter.__aexit__()  # the slot goes to `handed`...
        handed.cancel()  # ...which is cancelled before it runs: the slot must come back
        await asyncio.gather(waiting, handed, return_exceptions=True)
        entered = asyncio.ensure_future(limiter.__aenter__())
        await asyncio.wait_for(entered, timeout=1)
        return limiter._in_flight

    assert asyncio.run(scenario()) == 1
