"""A check's hard cap follows its deadline: time credited for a client library's import moves the cap."""

import asyncio
import time

import pytest

from runbook.checks import within_deadline
from runbook.google.calls import Deadline


async def test_a_check_past_its_deadline_is_cancelled_at_the_deadline_plus_grace() -> None:
    deadline = Deadline(0.3)
    cancelled = asyncio.Event()

    async def slow() -> str:
        try:
            await asyncio.sleep(5)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return "never"

    started = time.monotonic()
    with pytest.raises(TimeoutError, match=r"deadline of 0\.3 s passed"):
        await within_deadline(deadline, slow(), grace_s=0.1)
    assert 0.35 <= time.monotonic() - started < 1.0
    assert cancelled.is_set()


async def test_time_credited_for_a_client_import_extends_the_cap() -> None:
    deadline = Deadline(0.3)

    async def waits_for_its_client_then_answers() -> str:
        with deadline.paused():  # as the client factory does while a client library takes 0.5 s to import
            await asyncio.sleep(0.5)
        await asyncio.sleep(0.1)
        return "decided"

    assert await within_deadline(deadline, waits_for_its_client_then_answers(), grace_s=0.1) == "decided"


async def test_an_answer_within_the_deadline_comes_back_unchanged() -> None:
    async def quick() -> int:
        return 42

    assert await within_deadline(Deadline(1.0), quick()) == 42
