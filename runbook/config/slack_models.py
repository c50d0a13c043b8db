"""The `[slack]` tables of an environment file: where progress goes, who owns each phase, who may approve.

Slack notifies only ids (`<!subteam^S...>` for a user group, `<@U...>` for a member), so the routes and approvers
take ids; tokens are never here, only the environment variable or Prefect Secret block that holds them.
"""

import re

from pydantic import Field, field_validator, model_validator
from pydantic_core import InitErrorDetails

from runbook.config.validators import (
    BLOCK_PATTERN,
    CHANNEL_PATTERN,
    COMMAND_PATTERN,
    DEPLOYMENT_PATTERN,
    HANDLE_PATTERN,
    PATTERN_DESCRIPTIONS,
    SLACK_ID_HELP,
    EnvVarName,
    Frozen,
    check_http_url,
    rule_error,
    slack_id,
)


class TeamRoute(Frozen):
    """Who owns a phase in Slack: the user group (or person) pinged about its problems, and the team's channel.

    Slack notifies only `<!subteam^S...>` (a user group) and `<@U...>` (a member); a literal `@infra-oncall` in a
    message is plain text that pings nobody. So the route takes the id, and the handle only for people to read.
    """

    id: str = Field(
        description="User-group id (S0123ABCD) or member id (U0123ABCD, W0123ABCD) to ping. " + SLACK_ID_HELP + "."
    )
    handle: str = Field(
        pattern=HANDLE_PATTERN,
        description="Readable handle shown with the mention and where nobody is pinged, e.g. @infra-oncall.",
    )
    channel: str | None = Field(default=None, description="The team's own channel for a short pointer.")

    @model_validator(mode="before")
    @classmethod
    def _no_literal_mention(cls, data: object) -> object:
        if isinstance(data, dict) and "mention" in data:
            raise ValueError(
                "expected `id` (a Slack user-group id S... or member id U.../W...) and `handle` instead of "
                f"`mention`, found mention = {data['mention']!a}: {SLACK_ID_HELP}"
            )
        return data

    @field_validator("id", mode="before")
    @classmethod
    def _slack_id(cls, value: object) -> object:
        if candidate := slack_id(value):
            return candidate
        raise ValueError(
            "expected a Slack user-group id (S0123ABCD) or member id (U0123ABCD, W0123ABCD), "
            f"found {value!a}: {SLACK_ID_HELP}"
        )

    @field_validator("handle")
    @classmethod
    def _at_handle(cls, value: str) -> str:
        return value if value.startswith("@") else f"@{value}"

    @property
    def mention(self) -> str:
        """The markup that pings: `<!subteam^S0123ABCD|@infra-oncall>` for a group, `<@U0123ABCD>` for a person."""
        if self.id.startswith("S"):
            return f"<!subteam^{self.id}|{self.handle}>"
        return f"<@{self.id}>"


class ChatOpsConfig(Frozen):
    """Slack ChatOps (`runbook slack-bot`, Socket Mode): who may approve a redeploy, and the app-level token.

    The app-level token (xapp-...) opens the Socket Mode connection; the bot token is `[slack] token_env` /
    `token_block`. Neither is ever in this file.
    """

    approvers: tuple[str, ...] = Field(
        min_length=1,
        description="Who may approve or reject a redeploy of this environment: Slack member ids (U0123ABCD, W0123ABCD) "
        "or user-group ids (S0123ABCD, members checked with usergroups.users.list). " + SLACK_ID_HELP + ".",
    )
    app_token_env: EnvVarName | None = Field(
        default="SLACK_APP_TOKEN", description="Env var with the app-level token (xapp-..., scope connections:write)."
    )
    app_token_block: str | None = Field(default=None, description="Prefect Secret block with the app-level token.")
    command: str = Field(default="/runbook", pattern=COMMAND_PATTERN, description="The slash command the app defines.")
    runners: tuple[str, ...] = Field(
        default=(),
        description="Who may start runs (slash command, Rerun button): ids like `approvers`; empty: anyone in the "
        "workspace (runs are read-only; a redeploy still waits for an approver).",
    )
    require_second_person: bool = Field(
        default=False,
        description="Four eyes: whoever started a run from Slack (/runbook run, Rerun) cannot approve its redeploy; "
        "another approver must (they may still reject it).",
    )
    deployment: str = Field(
        default="staging-handoff/manual",
        pattern=DEPLOYMENT_PATTERN,
        description="The deployment a slash command or a Rerun button starts (flow name/deployment name).",
    )

    @field_validator("approvers", "runners", mode="before")
    @classmethod
    def _slack_ids(cls, value: object) -> object:
        if not isinstance(value, list | tuple):
            return value
        ids = []
        for item in value:
            candidate = slack_id(item)
            if candidate is None:
                raise ValueError(
                    "expected Slack member ids (U0123ABCD, W0123ABCD) or user-group ids (S0123ABCD), "
                    f"found {item!a}: {SLACK_ID_HELP}"
                )
            ids.append(candidate)
        return tuple(dict.fromkeys(ids))


class SlackConfig(Frozen):
    """Where progress goes. The token is never here: env var or Prefect Secret block."""

    enabled: bool = Field(default=True, description="Post to Slack at all.")
    api_base_url: str = Field(default="https://slack.com/api/", description="Slack Web API base URL.")
    token_env: EnvVarName | None = Field(default="SLACK_BOT_TOKEN", description="Env var with the bot token.")
    token_block: str | None = Field(default=None, description="Prefect Secret block with the bot token.")
    webhook_url_env: EnvVarName | None = Field(default=None, description="Env var with an incoming webhook URL.")
    channel: str = Field(default="#staging-deploys", description="Runbook channel (the parent message).")
    stakeholder_channel: str | None = Field(default=None, description="Channel for the stakeholder summary.")
    quiet: bool = Field(default=False, description="A passing run mentions nobody (the nightly schedule).")
    next_update: str = Field(
        default="when the runbook runs again after the fix",
        min_length=1,
        max_length=300,
        description="Told to stakeholders when a run stops before business validation: when they hear next.",
    )
    infrastructure: TeamRoute | None = Field(
        default=None, description='Infrastructure team (phase 1): `{ id = "S0123ABCD", handle = "@infra-oncall" }`.'
    )
    platform: TeamRoute | None = Field(default=None, description="Platform team (phase 2), like `infrastructure`.")
    product: TeamRoute | None = Field(default=None, description="Product team (phase 3), like `infrastructure`.")
    chatops: ChatOpsConfig | None = Field(
        default=None, description="Approvals and commands from Slack (`runbook slack-bot`, Socket Mode); unset: off."
    )


def slack_routes(slack: SlackConfig) -> list[tuple[str, TeamRoute]]:
    """The team routes that are set, by team (infrastructure, platform, product)."""
    routes = [("infrastructure", slack.infrastructure), ("platform", slack.platform), ("product", slack.product)]
    return [(team, route) for team, route in routes if route is not None]


def slack_value_problems(slack: SlackConfig) -> list[InitErrorDetails]:
    """The `[slack]` values its fields take as plain strings: the API base URL, channels and block names.

    RunbookConfig reports them (as `slack.<key>`), not the fields: SlackConfig and TeamRoute have their own owners,
    so their values are checked for what they are here. Each problem sits at its own key below `slack`.
    """
    problems = []
    try:
        check_http_url(slack.api_base_url)
    except ValueError as error:
        problems.append(rule_error(("api_base_url",), str(error).removeprefix("expected "), value=slack.api_base_url))
    channels: list[tuple[tuple[str | int, ...], str | None]] = [
        (("channel",), slack.channel),
        (("stakeholder_channel",), slack.stakeholder_channel),
    ]
    channels += [((team, "channel"), route.channel) for team, route in slack_routes(slack)]
    for loc, channel in channels:
        if channel is not None and not re.fullmatch(CHANNEL_PATTERN, channel):
            problems.append(rule_error(loc, PATTERN_DESCRIPTIONS[CHANNEL_PATTERN], value=channel))
    blocks: list[tuple[tuple[str | int, ...], str | None]] = [(("token_block",), slack.token_block)]
    if slack.chatops is not None:
        blocks.append((("chatops", "app_token_block"), slack.chatops.app_token_block))
    for loc, block in blocks:
        if block is not None and not re.fullmatch(BLOCK_PATTERN, block):
            problems.append(rule_error(loc, PATTERN_DESCRIPTIONS[BLOCK_PATTERN], value=block))
    return problems


PLACEHOLDER_MARK = "REPLACE"  # environments/staging.toml ships S0REPLACE... ids until a team puts its own in


def placeholder_warnings(slack: SlackConfig) -> list[str]:
    """Valid ids that are still the shipped placeholders: Slack accepts them, and they ping (or admit) nobody."""
    found = [(f"slack.{team}.id", route.id, "it pings nobody") for team, route in slack_routes(slack)]
    if slack.chatops is not None:
        found += [("slack.chatops.approvers", i, "nobody approves through it") for i in slack.chatops.approvers]
        found += [("slack.chatops.runners", i, "nobody starts runs through it") for i in slack.chatops.runners]
    return [
        f"{key} {value!r} is a placeholder: {effect}; put the real id in (docs/operator-guide.md, step 3)"
        for key, value, effect in found
        if PLACEHOLDER_MARK in value.upper()
    ]
