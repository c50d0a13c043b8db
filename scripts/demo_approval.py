"""`make demo-approval`: a redeploy approved from the simulator's Slack, end to end, on one machine.

What an operator would see: a handoff run (phase 2 with redeploy, as from the Prefect UI's form) pauses and posts
the approval message in its Slack thread; `runbook slack-bot` is connected over Socket Mode; a person who is not an
approver presses Approve and is refused; a platform on-call member presses it and the run resumes, redeploys and
completes. Then the Slack conversation as the simulator saw it, and every envelope with its ack time.

The people are the simulator's (scenario healthy, `[slack.socket_mode]`): U0SIMOTHER1 is not an approver,
U0SIMPLAT01 is, through the platform on-call user group. Exit status: 0 when the run completed after approval.
"""

import asyncio
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import httpx

OUTSIDER, APPROVER = "U0SIMOTHER1", "U0SIMPLAT01"


async def wait_for_approval_message(http: httpx.AsyncClient, base: str, block_id: str, within_s: float = 120) -> Any:
    for _ in range(int(within_s * 4)):
        for channel in (await http.get(f"{base}/_simulator/slack/conversation?format=json")).json():
            for parent in channel["messages"]:
                for reply in parent["replies"]:
                    if any(block.get("block_id") == block_id for block in reply["blocks"]):
                        return {"channel": channel["channel_id"], "message_ts": reply["ts"]}
        await asyncio.sleep(0.25)
    raise SystemExit("no approval message appeared in the run's Slack thread within 120 s")


async def press(http: httpx.AsyncClient, base: str, user: str, where: dict[str, str]) -> None:
    answer = await http.post(
        f"{base}/_simulator/slack/socket/click", json={"user": user, "action_id": "runbook_approve", **where}
    )
    answer.raise_for_status()
    print(f"== {user} pressed Approve (acked in {answer.json().get('ack_ms')} ms)")


async def main(work: Path) -> int:
    from flows.handoff import staging_handoff
    from runbook.slack.approval import APPROVAL_BLOCK
    from runbook.slack.bot import load_environments, run_bot
    from simulator.server import Simulator
    from tests.support import env_file_for

    os.environ.setdefault("SLACK_BOT_TOKEN", "xoxb-sim-token-not-a-secret")  # the simulator's test tokens
    os.environ.setdefault("SLACK_APP_TOKEN", "xapp-sim-app-token-not-a-secret")
    with Simulator("healthy") as sim:  # phase 2 alone: no database needed
        env_file = env_file_for(sim, work, name="local-approval")
        stop, ready = asyncio.Event(), asyncio.Event()
        bot = asyncio.create_task(run_bot(load_environments([str(env_file)]), stop, ready.set, None))
        await asyncio.wait_for(ready.wait(), 60)
        print("== runbook slack-bot connected over Socket Mode; starting the handoff (restoration, redeploy)")

        async def handoff() -> Any:
            return await staging_handoff(
                environment=str(env_file),
                phases=["restoration"],
                redeploy=True,
                approval_timeout_s=300,
                trigger="manual",
                return_state=True,
            )

        run = asyncio.create_task(handoff())
        async with httpx.AsyncClient(timeout=10) as http:
            where = await wait_for_approval_message(http, sim.url, APPROVAL_BLOCK)
            print("== the run is Paused; its approval message is in the Slack thread")
            await press(http, sim.url, OUTSIDER, where)
            await asyncio.sleep(2)
            await press(http, sim.url, APPROVER, where)
            state = await asyncio.wait_for(run, 300)
            print(f"== the run ended {state.name}: {state.message or ''}")
            print("== The Slack conversation (the simulator's read-back)")
            print((await http.get(f"{sim.url}/_simulator/slack/conversation")).text)
            envelopes = (await http.get(f"{sim.url}/_simulator/slack/socket/envelopes")).json()
            print("== Socket Mode envelopes and their acks")
            print(json.dumps(envelopes.get("envelopes", envelopes), indent=1)[:4000])
        stop.set()
        await asyncio.wait_for(bot, 30)
        return 0 if state.is_completed() else 1


if __name__ == "__main__":
    from runbook.app.prefect_server import prepare_server

    with tempfile.TemporaryDirectory(prefix="runbook-approval-") as tmp:
        server = prepare_server()  # PREFECT_API_URL, a server on :4200, or a private one for this demo
        os.environ["PREFECT_API_URL"] = server.api_url
        try:
            server.wait_ready(timeout=float(os.environ.get("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", 120)))
            print(f"== Prefect API: {server.api_url} ({server.source})")
            code = asyncio.run(main(Path(tmp)))
        finally:
            from prefect.logging.handlers import APILogWorker

            APILogWorker.drain_all(timeout=5)  # the run's last log lines reach the server before it stops
            server.stop()
    sys.exit(code)
