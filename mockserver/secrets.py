"""Minted client secrets: what was minted, when it expires, and a bounded store of them."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from .clock import Clock

__all__ = ["SESSIONS_PER_SECRET", "ClientSecret", "SecretKind", "SecretStatus", "SecretStore"]

#: Sessions remembered per secret (shown by ``/__mock/secrets``).
SESSIONS_PER_SECRET = 100

SecretStatus = Literal["active", "expired", "revoked"]
#: Which endpoint minted it: ``/realtime/client_secrets`` (realtime and transcription sessions)
#: or ``/realtime/translations/client_secrets``. A key opens only sessions of its kind.
SecretKind = Literal["realtime", "translation"]


@dataclass(slots=True)
class ClientSecret:
    """One minted ``ek_`` key and the session it was minted with.

    The session is kept as a shared template (every mint of the same body shares
    it) plus this secret's session id; ``session`` puts them together on demand.
    """

    value: str
    created_at: int
    expires_at: int
    session_id: str
    session_template: dict[str, Any]
    #: The session as the mint request set it (shared, read-only), for merging ``session.update``.
    session_request: dict[str, Any] = field(default_factory=dict)
    scope: str | None = None
    kind: SecretKind = "realtime"
    #: The session's own ``expires_at``: 0 in a realtime mint's session, the secret's in a translation one's.
    session_expires_at: int = 0
    revoked: bool = False
    #: Realtime sessions opened with this key (bounded): transport, when, and the call id for WebRTC. A tuple,
    #: replaced when one opens: most keys open none, and a secret the store keeps should keep no more objects.
    sessions_opened: tuple[dict[str, Any], ...] = ()

    @property
    def session(self) -> dict[str, Any]:
        return {**self.session_template, "id": self.session_id, "expires_at": self.session_expires_at}

    def status(self, now: float) -> SecretStatus:
        if self.revoked:
            return "revoked"
        return "expired" if now >= self.expires_at else "active"


class SecretStore:
    """Minted secrets, oldest first, bounded: when full, the oldest is forgotten.

    Secrets are minted in time order, so the oldest is the first to expire (for the
    usual one-TTL client); dropping it is O(1), so a full store costs no sweep and no
    latency spike under load.
    """

    def __init__(self, clock: Clock, limit: int) -> None:
        self._clock = clock
        self.limit = limit
        self._secrets: OrderedDict[str, ClientSecret] = OrderedDict()

    def __len__(self) -> int:
        return len(self._secrets)

    def __iter__(self) -> Iterator[ClientSecret]:
        return iter(list(self._secrets.values()))

    def add(self, secret: ClientSecret) -> None:
        self._secrets[secret.value] = secret
        while len(self._secrets) > self.limit:
            self._secrets.popitem(last=False)

    def get(self, value: str) -> ClientSecret | None:
        return self._secrets.get(value)

    def clear(self, scope: str | None = None) -> None:
        """Forget every secret, or only those minted in ``scope``."""
        if scope is None:
            self._secrets.clear()
        else:
            for value in [v for v, s in self._secrets.items() if s.scope == scope]:
                del self._secrets[value]

    def list(self, scope: str | None = None) -> list[ClientSecret]:
        """Secrets, oldest first; only those of ``scope`` when one is given."""
        return [s for s in self._secrets.values() if scope is None or s.scope == scope]
