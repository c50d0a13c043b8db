"""Secrets the configuration names by environment variable (`*_env`): what a variable holds, said precisely.

"Not set" and "set but empty" are different mistakes with different fixes (an `export X=` with nothing after it, a
secret manager that injected nothing), and a token with a line break in it (pasted with its newline, a file read
with `\\r\\n`) is not a network problem: each is said as it is, naming the variable, never showing its value.
"""

import os
import re

_LINE_BREAK = re.compile(r"[\r\n]")
_INSIDE_SPACE = re.compile(r"[\s\x00-\x1f\x7f]")


def env_state(name: str) -> str:
    """`is not set` or `is set but empty` (blank counts as empty): how a variable that gave no value was found."""
    value = os.environ.get(name)
    if value is None:
        return "is not set"
    return "is set but empty" if not value.strip() else "is set"


def token_problem(value: str) -> str | None:
    """What makes `value` unusable as a token (Slack's bot, app or webhook URL), else None. Never the value."""
    text = value.strip()
    if _LINE_BREAK.search(text):
        return "contains a line break (CR/LF): a token is one line; set it again without the line break"
    if _INSIDE_SPACE.search(text):
        return "contains a space or control character: a token has none; set it again as Slack shows it"
    return None
