"""A check's failures at their edges: no answer (with and without the requests counted), a skipped check, the
deadline's credit for library loads, the hard cap's grace, and a cancelled check leaving nothing running.

Plain objects and short sleeps only: `make mutate` reruns these for every mutant of the error classification.
"""

import asyncio
import time

import pytest

from runbook.catalog import CATALOG
from runbook.checks import no_answer, skipped, within_deadline
from runbook.google.calls import Deadline
from runbook.results import Phase, Severity, Status


@pytest.mark.parametrize(
    ("attempts", "evidence"),
    [
        (None, {"api": "sqladmin", "resource": "instance db"}),
        (3, {"api": "sqladmin", "resource": "instance db", "attempts": 3}),
        (0, {"api": "sqladmin", "resource": "instance db", "attempts": 0}),
    ],
)
def test_no_answer_is_an_error_naming_the_api_the_resource_and_how_it_ended(
    attempts: int | None, evidence: dict[str, object]
) -> None:
    abort = no_answer("sqladmin", "instance db", "no answer within 5 s", attempts)
    assert abort.status == Status.ERROR
    assert abort.summary == str(abort) == "sqladmin gave no answer for instance db: no answer within 5 s"
    assert abort.evidence == evidence
    assert abort.remediation == "Check the sqladmin API's status and the network path to it; rerun when it answers."
    assert abort.http_status is None


def test_a_skipped_check_keeps_its_catalog_identity_and_the_reason() -> None:
    result = skipped(CATALOG["performance"], "skipped: prerequisite golden-path is ERROR")
    assert (result.id, result.title, result.phase, result.severity) == (
        "performance",
        "Performance",
        Phase.business,
        Severity.P1,
    )
    assert (result.status, result.summary, result.attempts) == (
        Status.SKIPPED,
        "skipped: prerequisite golden-path is ERROR",
        0,
    )


def test_excluded_seconds_add_up_and_a_negative_credit_is_ignored() -> None:
    deadline = Deadline(10, started=time.monotonic())
    deadline.exclude(1.5)
    deadline.exclude(-4)
    deadline.exclude(0.5)
    assert deadline.excluded == 2.0
    assert 11.9 < deadline.remaining <= 12.0


async def test_work_running_past_the_deadline_and_its_grace_is_cut_at_the_grace() -> None:
    deadline = Deadline(0.1)

    async def slow() -> str:
        await asyncio.sleep(1.2)
        return "late"

    started = time.monotonic()
    with pytest.raises(TimeoutError, match=r"^deadline of 0.1 s passed$"):
        await within_deadline(deadline, slow())
    assert 0.55 <= time.monotonic() - started < 1.0  # 0.1 s deadline + 0.5 s grace


async def test_work_answering_within_the_grace_is_kept() -> None:
    async def just_late() -> str:
        await asyncio.sleep(0.3)
        return "answer"

    assert await within_deadline(Deadline(0.1), just_late()) == "answer"


async def test_a_cancelled_check_cancels_its_work() -> None:
    cancelled = asyncio.Event()

    async def work() -> None:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    check = asyncio.ensure_future(within_deadline(Deadline(10), work()))
    await asyncio.sleep(0.05)
    check.cancel()
    with pytest.raises(asyncio.CancelledError):
        await check
    await asyncio.wait_for(cancelled.wait(), 1)
