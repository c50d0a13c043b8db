"""A check's evidence as a thread reply shows it: redacted, failing entries first, truncated with a note.

Evidence values under secret key names (`password`, `access_token`, `X-E2E-Bypass-Key`, ...; not `token_ms` or
`password_env`) are redacted; long evidence is cut with the entries about failing resources first, so what broke
is what survives the cut. Pure functions, no network.
"""

import json
import re
from typing import Any

from runbook.slack.block_kit import escape

EVIDENCE_CHARS = 1200  # per check in a thread reply: enough to act on, the rest is in the run report
REDACTED = "[redacted]"
# Secret values recognisable by their shape: Slack tokens and webhook URLs, JWTs (access tokens), and the password
# of a URL with credentials (postgresql://user:PASSWORD@host). Every message the runbook or its bot sends goes
# through `redact_text` (delivery for the run's messages; the bot for what people typed into notes and names).
SECRET_SHAPES = re.compile(
    r"xox[abposre]-[A-Za-z0-9-]+|xapp-[A-Za-z0-9-]+|https://hooks\.slack\.com/\S+"
    r"|\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*"
)
URL_PASSWORD = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^:/@\s]+:)[^@/\s]+@")
# A key names a secret when its last word is one of these ("db_password", "accessToken", "Authorization"), or its
# last two words one of the pairs ("api_key", "X-E2E-Bypass-Key"). Matching whole words, not substrings, keeps
# timings and counters ("token_ms", "tokens_used") and the names of where secrets live ("password_env") readable.
SECRET_WORDS = frozenset(
    {"password", "passwd", "pwd", "passphrase", "token", "secret", "authorization", "cookie", "credential", "apikey"}
)
SECRET_PLURALS = {"passwords": "password", "tokens": "token", "cookies": "cookie", "credentials": "credential"}
SECRET_KEY_QUALIFIERS = frozenset(
    {"api", "bypass", "private", "secret", "access", "signing", "encryption", "fernet", "hmac", "jwt", "session"}
)
SECRET_PAIRS = frozenset({("secret", "value"), ("set", "cookie")})
# Evidence entries about something broken come first when evidence is truncated.
PROBLEM_KEYS = frozenset(
    {"error", "errors", "failure", "failures", "problems", "drift", "missing", "unhealthy", "failing", "violations"}
)
STATUS_KEYS = frozenset(
    {"status", "state", "ready", "healthy", "ok", "serving", "connected", "database_status", "condition", "reason"}
    | {"activation_policy"}  # Cloud SQL: a stopped instance is RUNNABLE with activationPolicy NEVER
)
FAILING_WORDS = (
    "fail", "error", "unhealthy", "critical", "degraded", "not found", "not_found", "not ready", "not_ready",
    "missing", "refused", "denied", "timeout", "timed out", "suspended", "stopped", "unavailable", "never",
)  # fmt: skip


def redact_text(text: str, known: tuple[str, ...] = ()) -> str:
    """`text` with known secret values (6 characters or more) and secret-shaped values replaced by [redacted]."""
    for secret in sorted((k for k in known if len(k) >= 6), key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    text = URL_PASSWORD.sub(rf"\1{REDACTED}@", text)
    return SECRET_SHAPES.sub(REDACTED, text)


def key_words(key: object) -> list[str]:
    """ "X-E2E-Bypass-Key" -> ["x", "e2e", "bypass", "key"]; "accessToken" -> ["access", "token"]."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", str(key))
    return [word for word in re.split(r"[^a-z0-9]+", spaced.lower()) if word]


def is_secret_key(key: object) -> bool:
    """Whether a key names a secret value: by its last word or last two words, never by a substring."""
    words = [SECRET_PLURALS.get(word, word) for word in key_words(key)]
    if not words:
        return False
    if words[-1] in SECRET_WORDS:
        return True
    return len(words) >= 2 and (
        (words[-1] == "key" and words[-2] in SECRET_KEY_QUALIFIERS) or (words[-2], words[-1]) in SECRET_PAIRS
    )


def redact(value: Any, under_secret: bool = False) -> Any:
    """Evidence with the values under secret key names replaced (evidence should hold none; this is the backstop).

    Under a secret key, strings and numbers become "[redacted]" (in nested lists and dicts too); booleans and null
    stay, since "is it set" is not the secret. Values elsewhere are left to delivery's scrub by value.
    """
    if isinstance(value, dict):
        return {k: redact(v, under_secret or is_secret_key(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v, under_secret) for v in value]
    if under_secret and value is not None and not isinstance(value, bool):
        return REDACTED
    return value


def _failing_text(text: str) -> bool:
    lowered = text.lower()
    return any(word in lowered for word in FAILING_WORDS)


def looks_failing(key: object, value: Any, depth: int = 0) -> bool:
    """Whether an evidence entry is about something broken: an error, a failing status, a 4xx/5xx, "not found"."""
    words = key_words(key)
    name = "_".join(words)
    if name in PROBLEM_KEYS or (words and words[-1] in PROBLEM_KEYS):  # "error", "revision_failure"
        return bool(value)
    if name == "http_status" and isinstance(value, int) and not isinstance(value, bool):
        return value >= 400
    if isinstance(value, bool):
        return name in STATUS_KEYS and value is False
    if isinstance(value, str):
        lowered = value.lower()
        return _failing_text(value) if name in STATUS_KEYS else lowered.startswith(("not found", "missing"))
    if depth >= 4:
        return False
    if isinstance(value, dict):
        return any(looks_failing(k, v, depth + 1) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(looks_failing(key, item, depth + 1) for item in value if isinstance(item, dict))
    return False


def _named(item: Any) -> bool:
    return isinstance(item, dict) and any(k in item for k in ("name", "service", "id", "resource"))


def failing_first(value: Any, summary: str = "", depth: int = 0) -> Any:
    """Evidence reordered so entries about failing resources come first (the rest keep key order).

    Dict entries whose key the check's summary names (the service it complains about) come first, then entries
    that look failing (the shortest first, so more of them fit), then the rest in key order. A list is reordered
    only when it is a collection of named resources, never a timeline. Used before truncating, so what broke is
    what survives the cut.
    """
    if depth > 6:
        return value
    if isinstance(value, dict):

        def rank(item: tuple[Any, Any]) -> tuple[int, int, str]:
            key, inner = item
            if len(str(key)) >= 3 and str(key) in summary:  # what the check's verdict names comes first
                return (0, 0, str(key))
            if looks_failing(key, inner):
                return (1, len(json.dumps(inner, default=str)), str(key))  # the shortest first: more of them fit
            return (2, 0, str(key))

        return {k: failing_first(v, summary, depth + 1) for k, v in sorted(value.items(), key=rank)}
    if isinstance(value, list | tuple):
        items = [failing_first(v, summary, depth + 1) for v in value]
        if items and all(_named(item) for item in items):
            names = [str(item.get("name") or item.get("service") or item.get("id") or "") for item in items]
            order = sorted(
                range(len(items)),
                key=lambda i: 0 if looks_failing("item", items[i]) or (names[i] and names[i] in summary) else 1,
            )
            return [items[i] for i in order]
        return items
    return value


def evidence_text(evidence: dict[str, Any], limit: int = EVIDENCE_CHARS, summary: str = "") -> str:
    """Evidence as a code block, redacted, failing entries first, truncated with a note saying how much was cut."""
    if not evidence:
        return ""
    rendered = json.dumps(failing_first(redact(evidence), summary), indent=1, default=str)
    note = ""
    if len(rendered) > limit:
        note = (
            f"\n_Evidence truncated: showing {limit} of {len(rendered)} characters, failing entries first; "
            "all of it is in the run report._"
        )
        rendered = rendered[:limit] + "\n…"
    return f"*Evidence*\n```{escape(rendered)}```{note}"
