"""The demo users and their bearer tokens.

A real app has a users table and a password hash; the example has three fixed users so that anyone can open two
browser windows and talk to themselves. Tokens are ordinary HS256 JWTs (PyJWT): the browser sends them as
``Authorization: Bearer ...`` to the API and, through Echo's ``bearerToken`` option, to ``/broadcasting/auth``.
"""

from __future__ import annotations

import hmac
import time
from dataclasses import dataclass
from typing import Any, Final

import jwt


@dataclass(frozen=True, slots=True)
class User:
    """A chat user; ``public()`` is what other users may see (presence ``user_info``, message authors)."""

    id: str
    name: str
    password: str

    @property
    def avatar(self) -> str:
        return f"/avatars/{self.id}.svg"

    def public(self) -> dict[str, str]:
        return {"id": self.id, "name": self.name, "avatar": self.avatar}


DEMO_USERS: Final = {
    user.id: user
    for user in (
        User("alice", "Alice", "alice-demo"),
        User("bob", "Bob", "bob-demo"),
        User("carol", "Carol", "carol-demo"),
    )
}
"""The demo users by id; their passwords are printed at start and offered by the login picker."""

AVATAR_COLOURS: Final = {"alice": "#7c3aed", "bob": "#0891b2", "carol": "#db2777"}


def check_password(username: str, password: str) -> User | None:
    """Return the user when ``password`` is theirs (compared in constant time), else None."""
    user = DEMO_USERS.get(username)
    if user is None or not hmac.compare_digest(user.password.encode(), password.encode()):
        return None
    return user


def avatar_svg(user: User) -> str:
    """A round avatar with the user's initial, so the example needs no image files."""
    colour = AVATAR_COLOURS.get(user.id, "#475569")
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64" viewBox="0 0 64 64">'
        f'<circle cx="32" cy="32" r="32" fill="{colour}"/>'
        '<text x="32" y="42" font-family="sans-serif" font-size="28" fill="#fff" text-anchor="middle">'
        f"{user.name[0]}</text></svg>"
    )


class Tokens:
    """Issues and checks the bearer tokens.

    Args:
        secret: the HS256 key.
        ttl_seconds: how long a token stays valid.
    """

    ALGORITHM: Final = "HS256"

    def __init__(self, secret: str, ttl_seconds: int) -> None:
        self._secret = secret
        self._ttl = ttl_seconds

    def issue(self, user: User, *, now: float | None = None) -> str:
        issued = int(time.time() if now is None else now)
        claims: dict[str, Any] = {"sub": user.id, "name": user.name, "iat": issued, "exp": issued + self._ttl}
        return jwt.encode(claims, self._secret, algorithm=self.ALGORITHM)

    def user_for(self, token: str) -> User | None:
        """Return the token's user, or None when the token is malformed, forged, expired or names no user."""
        try:
            claims = jwt.decode(token, self._secret, algorithms=[self.ALGORITHM], options={"require": ["sub", "exp"]})
        except jwt.PyJWTError:
            return None
        subject = claims.get("sub")
        return DEMO_USERS.get(subject) if isinstance(subject, str) else None
