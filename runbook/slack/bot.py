"""`runbook slack-bot`: approve, reject and start runs from Slack over Socket Mode (no public URL; works behind a
firewall).

slack-sdk's Socket Mode client (aiohttp) opens the connection with the app-level token; Slack then delivers button
clicks, modal submissions and `/runbook` commands, which `ChatOpsBot` (`runbook.slack.chatops`) acks and handles.
`runbook serve` starts the same bot in a background thread when an environment has `[slack.chatops]`.

Tokens come from env vars or Prefect Secret blocks (`[slack] token_env/token_block`, `[slack.chatops]
app_token_env/app_token_block`) and are never logged.
"""

import asyncio
import logging
import os
import threading
from collections.abc import Callable

from runbook.slack.chatops import SLACK_TIMEOUT_S, ChatOpsBot, Environment
from runbook.slack.prefect_gateway import PrefectGateway
from runbook.slack.tokens import read_secret

logger = logging.getLogger("runbook.slack.bot")
logging.getLogger("runbook.slack.bot.sdk").setLevel(logging.INFO)  # slack-sdk logs bodies at DEBUG: never


class BotSetupError(RuntimeError):
    """The bot cannot start: what is missing and where to set it."""


def load_environments(names: list[str]) -> dict[str, Environment]:
    """The environments to serve (those with [slack.chatops]); BotSetupError when none has it."""
    from runbook.config.files import load_config

    served = {}
    for name in names:
        config = load_config(name)
        if config.slack.chatops is not None:
            served[config.name] = Environment(config, name)
    if not served:
        raise BotSetupError(f"none of {names} has a [slack.chatops] table with approvers: nothing to serve")
    return served


async def run_bot(
    environments: dict[str, Environment],
    stop: asyncio.Event,
    on_ready: Callable[[], None] | None = None,
    prefect: PrefectGateway | None = None,
) -> ChatOpsBot:
    """Connect over Socket Mode and handle requests until `stop` is set. Raises BotSetupError on missing tokens."""
    from slack_sdk.socket_mode.aiohttp import SocketModeClient
    from slack_sdk.web.async_client import AsyncWebClient

    first = next(iter(environments.values())).config
    chatops = first.slack.chatops
    assert chatops is not None
    bot_token = await read_secret(first.slack.token_env, first.slack.token_block)
    app_token = await read_secret(chatops.app_token_env, chatops.app_token_block)
    if not bot_token:
        raise BotSetupError(f"no bot token: set env {first.slack.token_env} or [slack] token_block (xoxb-...)")
    if not app_token:
        raise BotSetupError(
            f"no app-level token: set env {chatops.app_token_env} or [slack.chatops] app_token_block "
            "(xapp-..., scope connections:write)"
        )
    sdk_logger = logging.getLogger("runbook.slack.bot.sdk")
    web = AsyncWebClient(
        token=bot_token, base_url=first.slack.api_base_url, timeout=int(SLACK_TIMEOUT_S), logger=sdk_logger
    )
    bot = ChatOpsBot(environments, web, prefect)
    client = SocketModeClient(app_token=app_token, web_client=web, logger=sdk_logger)
    client.message_listeners.append(bot.on_message)  # envelopes without a payload: acked all the same
    client.socket_mode_request_listeners.append(bot.on_request)
    try:
        async with asyncio.timeout(30):
            await client.connect()
        logger.info("Socket Mode connected; serving %s", ", ".join(environments))
        if on_ready is not None:
            on_ready()
        await stop.wait()
        await bot.drain(10)
    finally:
        await client.close()
    return bot


def start_in_background(names: list[str] | None = None) -> threading.Thread | None:
    """`runbook serve` with ChatOps: the bot in a daemon thread when an environment has [slack.chatops] and the
    app token is there; None (with the reason logged) otherwise."""
    from runbook.config.files import available_environments

    try:
        environments = load_environments(names or available_environments())
    except Exception as error:
        logger.info("Slack ChatOps not started: %s", error)
        return None
    chatops = next(iter(environments.values())).chatops
    if not (chatops.app_token_env and os.environ.get(chatops.app_token_env)) and not chatops.app_token_block:
        logger.info("Slack ChatOps not started: no app-level token (env %s)", chatops.app_token_env)
        return None

    def serve() -> None:
        try:
            asyncio.run(run_bot(environments, asyncio.Event()))
        except Exception as error:
            logger.error("Slack ChatOps stopped: %s", error)

    thread = threading.Thread(target=serve, name="runbook-slack-bot", daemon=True)
    thread.start()
    return thread
