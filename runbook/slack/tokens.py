"""Slack tokens: from an environment variable, else a Prefect Secret block; never logged."""

import asyncio
import os
from typing import Any

PREFECT_TIMEOUT_S = 30.0  # a Prefect server that answers slowly still answers


async def read_secret(env_name: str | None, block_name: str | None) -> str | None:
    """An env var's value, else a Prefect Secret block's (only when configured); never logged."""
    if env_name and os.environ.get(env_name, "").strip():
        return os.environ[env_name].strip()
    if not block_name:
        return None
    from prefect.blocks.system import Secret

    async with asyncio.timeout(PREFECT_TIMEOUT_S):
        block: Any = await Secret.aload(block_name)
    return str(block.get()).strip() or None
