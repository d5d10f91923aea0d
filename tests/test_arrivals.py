"""The arrival gate: later arrivals wait at it until every earlier one has left."""

from __future__ import annotations

import asyncio

from bot.conversation.arrivals import ArrivalGate


async def test_passes_in_arrival_order_whatever_order_they_get_there() -> None:
    gate = ArrivalGate()
    numbers = [gate.arrive() for _ in range(5)]
    passed: list[int] = []

    async def go(number: int, delay: float) -> None:
        await asyncio.sleep(delay)
        await gate.wait(number)
        passed.append(number)
        gate.leave(number)

    # the later arrivals reach the gate first
    await asyncio.gather(*(go(n, 0.05 - 0.01 * n) for n in numbers))
    assert passed == numbers and len(gate) == 0


async def test_one_that_leaves_early_holds_nobody_up() -> None:
    gate = ArrivalGate()
    first, second = gate.arrive(), gate.arrive()
    waiting = asyncio.create_task(gate.wait(second))
    await asyncio.sleep(0.01)
    assert not waiting.done()
    gate.leave(first)  # answered without a turn (a command, a refusal)
    await asyncio.wait_for(waiting, 1)
    gate.leave(second)
    gate.leave(second)  # twice is harmless
    assert len(gate) == 0
