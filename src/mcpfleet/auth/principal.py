"""The caller of a request: who it is, and what its credentials allow.

Sessions, sealed ``requestState``, handles and rate-limit buckets are bound to
``Principal.id``; scopes decide which tools, resources and prompts it may use.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller.

    ``id`` is what state is bound to: for a JWT, the issuer and the subject (or the
    client id of a client-credentials token), so two issuers never share a caller.
    """

    id: str
    scopes: frozenset[str] = frozenset()
    issuer: str | None = None
    subject: str | None = None
    client_id: str | None = None
    claims: Mapping[str, Any] = field(default_factory=dict)
    expires_at: float | None = None  # epoch seconds; None: does not expire

    @classmethod
    def named(cls, name: str, scopes: Iterable[str] = ()) -> Principal:
        """A principal from a custom authenticator (an API key's owner, for example)."""
        return cls(id=name, scopes=frozenset(scopes))

    def has_scopes(self, required: Iterable[str], implied: Mapping[str, frozenset[str]]) -> bool:
        """Whether every required scope is granted, directly or through a broader one."""
        return not missing_scopes(self.scopes, required, implied)


def covers(granted: str, wanted: str, implied: Mapping[str, frozenset[str]]) -> bool:
    """A granted scope covers itself, the scopes configured as implied by it, and the
    scopes below it in the colon hierarchy (``docs`` covers ``docs:read``)."""
    return (
        granted == wanted or wanted in implied.get(granted, ()) or wanted.startswith(granted + ":")
    )


def missing_scopes(
    granted: frozenset[str], required: Iterable[str], implied: Mapping[str, frozenset[str]]
) -> list[str]:
    """The required scopes that no granted scope covers."""
    return [
        wanted
        for wanted in required
        if wanted not in granted and not any(covers(g, wanted, implied) for g in granted)
    ]


def principal_id(principal: Principal | None) -> str | None:
    return None if principal is None else principal.id
