"""Redaction at its edges: which keys name secrets (whole words, not substrings), known values from 6 characters,
secret shapes (Slack tokens, webhooks, JWTs, URL passwords), nested evidence, and a driver echoing a password.

Pure functions only: `make mutate` reruns these for every mutant of the redaction.
"""

import pytest

from runbook.slack.evidence import REDACTED, is_secret_key, key_words, redact, redact_text
from tasks.database import _scrub


@pytest.mark.parametrize(
    ("key", "words"),
    [
        ("X-E2E-Bypass-Key", ["x", "e2", "e", "bypass", "key"]),  # a digit then a capital splits: the last words count
        ("accessToken", ["access", "token"]),
        ("db_password", ["db", "password"]),
        ("HTTPStatus", ["httpstatus"]),
        ("token2Value", ["token2", "value"]),
        ("", []),
        (42, ["42"]),
    ],
)
def test_key_words_split_on_case_and_punctuation(key: object, words: list[str]) -> None:
    assert key_words(key) == words


@pytest.mark.parametrize(
    "key",
    [
        "password",
        "db_password",
        "DB_PASSWORD",
        "accessToken",
        "tokens",
        "Authorization",
        "set-cookie",
        "Set-Cookie",
        "cookies",
        "api_key",
        "X-E2E-Bypass-Key",
        "private_key",
        "jwtKey",
        "secret",
        "client_secret",
        "secret_value",
        "my_secret_value",
        "x-set-cookie",
        "credentials",
        "passphrase",
        "pwd",
        "apikey",
    ],
)
def test_keys_naming_a_secret(key: str) -> None:
    assert is_secret_key(key) is True


@pytest.mark.parametrize(
    "key",
    [
        "token_ms",
        "tokens_used",
        "password_env",
        "key",
        "public_key",
        "secret_id",
        "value",
        "cookie_count",
        "set",
        "",
        "-",
        "passwordless_login",
    ],
)
def test_keys_that_only_mention_a_secret_word_are_readable(key: str) -> None:
    assert is_secret_key(key) is False


def test_values_under_secret_keys_are_redacted_in_nested_lists_and_dicts_booleans_and_null_stay() -> None:
    evidence = {
        "password": "hunter22",
        "token_ms": 12,
        "headers": {"Authorization": "Bearer abc", "Accept": "json"},
        "credentials": [{"user": "ana", "pin": 1234}, "x"],
        "api_key": None,
        "access_token": True,
        "tokens": (1, "two"),
        "attempts": [1, 2],
    }
    assert redact(evidence) == {
        "password": REDACTED,
        "token_ms": 12,
        "headers": {"Authorization": REDACTED, "Accept": "json"},
        "credentials": [{"user": REDACTED, "pin": REDACTED}, REDACTED],
        "api_key": None,
        "access_token": True,
        "tokens": [REDACTED, REDACTED],
        "attempts": [1, 2],
    }
    assert redact("plain text") == "plain text"
    assert redact(0, under_secret=True) == REDACTED


@pytest.mark.parametrize(
    ("text", "known", "shown"),
    [
        ("pw is abcdef here", ("abcdef",), f"pw is {REDACTED} here"),
        ("pw is abcde here", ("abcde",), "pw is abcde here"),  # shorter than 6: too common to scrub
        ("abcdefgh and abcdef", ("abcdef", "abcdefgh"), f"{REDACTED} and {REDACTED}"),  # longest first
        ("key a-secret-value", ("secret", "a-secret-value"), f"key {REDACTED}"),  # by length, not alphabet
        ("postgresql://app:s3cr3t@10.0.0.3/db", (), f"postgresql://app:{REDACTED}@10.0.0.3/db"),
        ("see http://host:8080/path", (), "see http://host:8080/path"),
        ("xoxb-123-abc and xapp-1-A", (), f"{REDACTED} and {REDACTED}"),
        ("xoxp-9 xoxe-1 xoxr-2 xoxs-3 xoxo-4 xoxa-5", (), " ".join([REDACTED] * 6)),
        ("xoxz-123 stays", (), "xoxz-123 stays"),
        ("post https://hooks.slack.com/services/T/B/x now", (), f"post {REDACTED} now"),
        ("jwt eyJhbGciOiJI.eyJzdWIiOiIx.sig-_9 end", (), f"jwt {REDACTED} end"),
        ("eyJshort.eyJzdWIiOiIx.sig", (), "eyJshort.eyJzdWIiOiIx.sig"),
    ],
)
def test_known_values_and_secret_shapes_are_redacted_in_text(text: str, known: tuple[str, ...], shown: str) -> None:
    assert redact_text(text, known) == shown


def test_a_driver_echoing_the_password_is_scrubbed_on_one_line() -> None:
    assert _scrub("bad  dsn\n password=s3cr3t-value", "s3cr3t-value") == "bad dsn password=***"
    assert _scrub("bad  dsn", None) == "bad dsn"
    assert _scrub("bad dsn", "") == "bad dsn"
