"""Tokens the simulated Netra auth service issues and the simulated backend accepts.

The tokens look like the platform's JWTs (HS256, three base64url parts) so a client that peeks at the claims works,
but they are signed with a random key made per simulator instance: only tokens issued by this simulator's own auth
endpoints verify, and nothing here is a real secret.
"""

import base64
import hashlib
import hmac
import json
import secrets
import time
import uuid
from typing import Any, Literal

TokenKind = Literal["access", "refresh"]

ISSUER = "netra-auth-simulator"
_HEADER = {"alg": "HS256", "typ": "JWT"}


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TokenIssuer:
    """Issues and verifies HS256 JWT-shaped tokens with a per-instance random key."""

    def __init__(self, key: bytes | None = None) -> None:
        self._key = key if key is not None else secrets.token_bytes(32)

    def issue(self, *, user_id: str, email: str, kind: TokenKind, ttl_seconds: int, **claims: Any) -> str:
        """Return a signed token for the user; extra keyword arguments become extra claims."""
        now = int(time.time())
        payload = {
            "iss": ISSUER,
            "sub": user_id,
            "email": email,
            "token_type": kind,
            "iat": now,
            "exp": now + ttl_seconds,
            "jti": uuid.uuid4().hex,
            **claims,
        }
        signing_input = f"{_b64encode(json.dumps(_HEADER).encode())}.{_b64encode(json.dumps(payload).encode())}"
        return f"{signing_input}.{self._sign(signing_input)}"

    def verify(self, token: str, kind: TokenKind = "access") -> dict[str, Any] | None:
        """Return the claims of a valid, unexpired token of the given kind, or None."""
        parts = token.split(".")
        if len(parts) != 3:
            return None
        signing_input = f"{parts[0]}.{parts[1]}"
        if not hmac.compare_digest(self._sign(signing_input), parts[2]):
            return None
        try:
            claims = json.loads(_b64decode(parts[1]))
        except ValueError:
            return None
        if not isinstance(claims, dict) or claims.get("token_type") != kind:
            return None
        if int(claims.get("exp", 0)) < time.time():
            return None
        return claims

    def _sign(self, signing_input: str) -> str:
        return _b64encode(hmac.new(self._key, signing_input.encode("ascii"), hashlib.sha256).digest())
