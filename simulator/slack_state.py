"""The `[slack]` table of a scenario: the simulated workspace, its ChatOps app, and its faults.

Defaults are a healthy workspace; the faults (rate limiting, outage, revoked token, latency) compose. The Web API
and webhooks (`simulator.slack`) and Socket Mode (`simulator.slack_socket`) read it on every request.
"""

from pydantic import BaseModel, ConfigDict, Field


class SocketModeState(BaseModel):
    """The `[slack.socket_mode]` table of a scenario: the ChatOps app and the people who click."""

    model_config = ConfigDict(extra="forbid")

    app_token: str = Field("xapp-sim-app-token-not-a-secret", description="The only app-level token accepted.")
    app_id: str = Field("A0SIMAPP01", description="The app's id, in hello and in every payload.")
    people: dict[str, str] = Field(
        default_factory=lambda: {
            "U0SIMPLAT01": "alice",  # platform on-call (member of S0SIMPLATF1)
            "U0SIMLEAD01": "lead",  # an approver by member id
            "U0SIMOTHER1": "mallory",  # in the channel, approver of nothing
        },
        description="Member id -> user name of the people who can click and type commands.",
    )
    usergroup_members: dict[str, list[str]] = Field(
        default_factory=lambda: {"S0SIMPLATF1": ["U0SIMPLAT01"], "S0SIMINFRA1": [], "S0SIMPRODT1": []},
        description="User-group id -> member ids (usergroups.users.list).",
    )


class SlackState(BaseModel):
    """The `[slack]` table of a scenario: the workspace and its faults. Defaults are a healthy workspace."""

    model_config = ConfigDict(extra="forbid")

    token: str = Field("xoxb-sim-token-not-a-secret", description="The only bot token the Web API accepts.")
    team_id: str = Field("T0SIMTEAM01", description="Workspace id returned by auth.test.")
    team: str = Field("netra-sim", description="Workspace name returned by auth.test.")
    bot_user: str = Field("runbook-bot", description="Bot user name returned by auth.test.")
    bot_user_id: str = Field("U0SIMBOT01", description="Bot user id: the author of every message.")
    bot_id: str = Field("B0SIMBOT01", description="Bot id returned by auth.test and on messages.")
    channels: dict[str, str] = Field(
        default_factory=lambda: {
            "staging-deploys": "C0STGDEPLOY",
            "staging-alerts": "C0STGALERTS",
            "alerts-critical": "C0ALERTCRIT",
            "staging-health": "C0STGHEALTH",
        },
        description="Channel name (without #) -> channel id. Other channels answer channel_not_found.",
    )
    usergroups: dict[str, str] = Field(
        default_factory=lambda: {
            "S0SIMINFRA1": "infra-oncall",
            "S0SIMPLATF1": "platform-oncall",
            "S0SIMPRODT1": "product-team",
        },
        description="User-group id -> handle: whom `<!subteam^ID>` pings (the read-back shows it).",
    )
    users: dict[str, str] = Field(
        default_factory=lambda: {"U0SIMBOT01": "runbook-bot"},
        description="Member id -> display name: whom `<@ID>` pings.",
    )
    webhooks: dict[str, str] = Field(
        default_factory=lambda: {"T0SIMTEAM01/B0SIMHOOK01/sim-webhook-not-a-secret": "staging-deploys"},
        description="Incoming webhook id (the path after /slack/webhook/) -> channel name it posts to.",
    )
    rate_limited_calls: int = Field(0, ge=0, description="The first N calls (API or webhook) answer 429.")
    rate_limited_always: bool = Field(False, description="Every call answers 429 ratelimited.")
    retry_after_seconds: int = Field(1, ge=0, le=3600, description="Retry-After header sent with a 429.")
    down: bool = Field(False, description="Slack is down: every call answers HTTP 503.")
    invalid_auth: bool = Field(False, description="The token was revoked: every API call answers invalid_auth.")
    latency_ms: int = Field(0, ge=0, le=600_000, description="Latency added to every call.")
    socket_mode: SocketModeState = Field(
        default_factory=SocketModeState, description="The ChatOps app (Socket Mode) and the people who click."
    )

    def names(self) -> dict[str, str]:
        """Id -> readable name of every user group (@handle), member (@name) and channel (#name).

        Members include the people of `[slack.socket_mode]` (approvers, who click): they are in this workspace too.
        """
        members = {**self.socket_mode.people, **self.users}
        return {
            **{gid: f"@{handle.removeprefix('@')}" for gid, handle in self.usergroups.items()},
            **{uid: f"@{name.removeprefix('@')}" for uid, name in members.items()},
            **{cid: f"#{name}" for name, cid in self.channels.items()},
        }

    def resolve_channel(self, value: str) -> tuple[str, str] | None:
        """(id, name) for '#name', 'name' or an id of a configured channel, else None."""
        name = value.removeprefix("#")
        if name in self.channels:
            return self.channels[name], name
        for channel_name, channel_id in self.channels.items():
            if channel_id == value:
                return channel_id, channel_name
        return None
