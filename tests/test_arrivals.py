"""The turn order (bot/conversation/ordering.py): later arrivals wait at the gate until every
earlier one has left; each sender's place is held in arrival order, other senders go ahead."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from bot.conversation.ordering import KeyedLocks, TurnOrder
from bot.messages import IncomingMessage, Platform

ALICE = IncomingMessage(Platform.TELEGRAM, user_id="1", chat_id="1", is_private=True, text="hi")
BOB = replace(ALICE, user_id="2", chat_id="2")


async def test_passes_in_arrival_order_whatever_order_they_get_there() -> None:
    gate = TurnOrder()
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
    gate = TurnOrder()
    first, second = gate.arrive(), gate.arrive()
    waiting = asyncio.create_task(gate.wait(second))
    await asyncio.sleep(0.01)
    assert not waiting.done()
    gate.leave(first)  # answered without a turn (a command, a refusal)
    await asyncio.wait_for(waiting, 1)
    gate.leave(second)
    gate.leave(second)  # twice is harmless
    assert len(gate) == 0


async def test_one_senders_places_are_held_through_rendering_in_arrival_order() -> None:
    order = TurnOrder()
    events: list[str] = []

    async def door(n: int) -> None:
        async with order.place(ALICE):  # taken on arrival, before any await
            events.append(f"answer {n}")
            # the later arrivals would finish first if they were not held
            await asyncio.sleep(0.03 - 0.01 * n)
            events.append(f"rendered {n}")

    await asyncio.gather(*(door(n) for n in range(3)))
    assert events == [f"{step} {n}" for n in range(3) for step in ("answer", "rendered")]
    assert len(order) == 0  # no line is kept for a sender with nothing in flight


async def test_different_senders_go_ahead_concurrently() -> None:
    order = TurnOrder()
    busy, bob_done = asyncio.Event(), asyncio.Event()

    async def alice() -> None:
        async with order.place(ALICE):
            busy.set()
            await asyncio.wait_for(bob_done.wait(), 1)  # fails if Bob has to wait for Alice

    async def bob() -> None:
        await busy.wait()
        async with order.place(BOB):
            bob_done.set()

    await asyncio.gather(alice(), bob())
    assert len(order) == 0


async def test_a_cancelled_waiter_does_not_block_the_next() -> None:
    order = TurnOrder()
    first = order.place(ALICE)
    await first.wait()
    second, third = order.place(ALICE), order.place(ALICE)
    waiting = asyncio.create_task(second.wait())
    after = asyncio.create_task(third.wait())
    await asyncio.sleep(0.01)
    waiting.cancel()  # e.g. cut off at shutdown while queued
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert not after.done() and not second.held
    first.leave()
    await asyncio.wait_for(after, 1)
    assert third.held
    third.leave()
    assert len(order) == 0


async def test_a_waiter_cancelled_as_its_turn_comes_passes_it_on() -> None:
    locks = KeyedLocks()
    first, second, third = locks.place("k"), locks.place("k"), locks.place("k")
    await first.wait()
    waiting = asyncio.create_task(second.wait())
    after = asyncio.create_task(third.wait())
    await asyncio.sleep(0.01)
    first.leave()  # the second's turn has come...
    waiting.cancel()  # ...but it is cancelled before it runs
    with pytest.raises(asyncio.CancelledError):
        await waiting
    await asyncio.wait_for(after, 1)
    third.leave()
    assert len(locks) == 0


async def test_a_place_left_cannot_be_waited_for() -> None:
    place = TurnOrder().place(ALICE)
    place.leave()
    with pytest.raises(RuntimeError, match="left already"):
        await place.wait()


async def test_other_accounts_do_not_wait_for_a_slow_earlier_one() -> None:
    gate = TurnOrder()
    slow, quick = gate.arrive(), gate.arrive()
    gate.identify(slow, 1)
    gate.identify(quick, 2)
    await asyncio.wait_for(gate.wait(quick), 1)  # the slow one has not even reached the gate
    gate.leave(quick)
    await asyncio.wait_for(gate.wait(slow), 1)
    gate.leave(slow)
    assert len(gate) == 0


async def test_one_accounts_arrivals_pass_in_arrival_order_whatever_order_they_identify() -> None:
    gate = TurnOrder()
    numbers = [gate.arrive() for _ in range(4)]
    passed: list[int] = []

    async def go(number: int, delay: float) -> None:
        await asyncio.sleep(delay)  # the later ones learn their account (and arrive) first
        gate.identify(number, 7)
        await gate.wait(number)
        passed.append(number)
        await asyncio.sleep(0)
        gate.leave(number)

    await asyncio.gather(*(go(n, 0.04 - 0.01 * n) for n in numbers))
    assert passed == numbers and len(gate) == 0


async def test_an_earlier_arrival_whose_account_is_unknown_holds_the_later_ones() -> None:
    gate = TurnOrder()
    unknown, known, other = gate.arrive(), gate.arrive(), gate.arrive()
    gate.identify(known, 1)
    gate.identify(other, 2)
    waiting = [asyncio.create_task(gate.wait(n)) for n in (known, other)]
    await asyncio.sleep(0.01)
    assert not any(w.done() for w in waiting)  # the unknown one may be account 1 or 2
    gate.identify(unknown, 1)  # it is account 1's: account 2's goes, account 1's still waits
    await asyncio.wait_for(waiting[1], 1)
    await asyncio.sleep(0.01)
    assert not waiting[0].done()
    await gate.wait(unknown)
    gate.leave(unknown)
    await asyncio.wait_for(waiting[0], 1)
    for n in (known, other):
        gate.leave(n)
    assert len(gate) == 0


async def test_an_unknown_one_that_leaves_lets_the_later_ones_through() -> None:
    gate = TurnOrder()
    command, message = gate.arrive(), gate.arrive()
    gate.identify(message, 3)
    waiting = asyncio.create_task(gate.wait(message))
    await asyncio.sleep(0.01)
    assert not waiting.done()
    gate.leave(command)  # a command answered without a turn, its account never named
    await asyncio.wait_for(waiting, 1)
    gate.leave(message)
    assert len(gate) == 0


async def test_a_cancelled_gate_waiter_leaves_and_frees_the_next_of_its_account() -> None:
    gate = TurnOrder()
    first, second, third = gate.arrive(), gate.arrive(), gate.arrive()
    for n in (first, second, third):
        gate.identify(n, 5)
    await gate.wait(first)
    waiting = asyncio.create_task(gate.wait(second))
    after = asyncio.create_task(gate.wait(third))
    await asyncio.sleep(0.01)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    gate.leave(first)
    await asyncio.wait_for(after, 1)
    gate.leave(third)
    assert len(gate) == 0


async def test_a_thousand_accounts_pass_at_once_behind_one_slow_lookup() -> None:
    gate = TurnOrder()
    slow = gate.arrive()
    numbers = [gate.arrive() for _ in range(1000)]
    for account, number in enumerate(numbers, start=1):
        gate.identify(number, account)
    passed = 0

    async def go(number: int) -> None:
        nonlocal passed
        await gate.wait(number)
        passed += 1
        gate.leave(number)

    tasks = [asyncio.create_task(go(n)) for n in numbers]
    await asyncio.sleep(0.01)
    assert passed == 0  # the first, not identified yet, may be any of theirs
    gate.identify(slow, 0)
    await asyncio.wait_for(asyncio.gather(*tasks), 5)
    assert passed == 1000
    gate.leave(slow)
    assert len(gate) == 0
