"""ICE on loopback: which host candidates the mock offers, and which of a browser's it uses.

aioice (aiortc's ICE) gathers a host candidate on every interface address except the loopback ones, as
RFC 8445 §5.1.1.1 asks, and neither aioice nor aiortc has a setting for the addresses. The mock listens
on 127.0.0.1 by default and must offer that address (and only that one: it makes no traffic off the
loopback interface). aioice looks its addresses up through the module function
``aioice.ice.get_host_addresses`` each time it gathers, which is the hook open to us:
:func:`gathering_on` replaces it, once, with one that answers the addresses set for the current task
(a context variable) and defers to aioice's own lookup everywhere else, so other aiortc users in the
same process see no change.

A browser's offer may carry mDNS host names (``<uuid>.local``) instead of its addresses. Resolving them
needs multicast DNS on the network; the mock does not send it. It drops those candidates (and, when it
listens on loopback only, every candidate it could not reach from there) and relies on ICE's
peer-reflexive candidates instead: the browser's connectivity checks reach the mock's 127.0.0.1
candidate, and the mock answers the address they came from.
"""

from __future__ import annotations

import contextvars
import ipaddress
from collections.abc import Callable, Iterator
from contextlib import contextmanager

__all__ = ["candidate_addresses", "gathering_on", "is_loopback", "reachable_offer"]

#: The addresses host candidates are gathered on, for gatherings started in this context.
_ADDRESSES: contextvars.ContextVar[tuple[str, ...] | None] = contextvars.ContextVar(
    "mockserver_ice_addresses", default=None
)
#: Hosts that mean "every interface".
_ANY = frozenset({"", "0.0.0.0", "::", "*"})


def is_loopback(host: str) -> bool:
    """Whether ``host`` is a loopback address (or ``localhost``)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def candidate_addresses(bind_host: str, interfaces: Callable[[], list[str]]) -> tuple[str, ...]:
    """The host candidate addresses for a server bound to ``bind_host``.

    Loopback (the default) gives 127.0.0.1 (or ::1); every interface (``0.0.0.0``, as in a container)
    gives 127.0.0.1 and ``interfaces()`` (aioice's own list); one other address gives that address.
    """
    if bind_host in _ANY:
        return ("127.0.0.1", *(address for address in interfaces() if address != "127.0.0.1"))
    if bind_host == "localhost":
        return ("127.0.0.1",)
    try:
        address = ipaddress.ip_address(bind_host)
    except ValueError:
        # A host name: it resolved to something the server listens on, but which is unknown here.
        return ("127.0.0.1",)
    return (str(address),)


def reachable_offer(sdp: str, *, loopback_only: bool) -> str:
    """The offer without the candidates the mock will not try: mDNS names (``.local``) always, and any
    non-loopback address when it listens on loopback only. The peer's checks still reach it (peer-reflexive)."""
    kept = []
    for line in sdp.splitlines():
        if line.startswith("a=candidate:"):
            fields = line.split()
            address = fields[4] if len(fields) > 4 else ""
            if address.endswith(".local") or (loopback_only and not is_loopback(address)):
                continue
        kept.append(line)
    return "\r\n".join(kept) + "\r\n"


@contextmanager
def gathering_on(addresses: tuple[str, ...]) -> Iterator[None]:
    """Within the block (and the tasks it starts), aioice gathers host candidates on ``addresses`` only."""
    _install()
    token = _ADDRESSES.set(addresses)
    try:
        yield
    finally:
        _ADDRESSES.reset(token)


def _install() -> None:
    """Put the context-aware lookup in front of aioice's own (once per process)."""
    import aioice.ice  # noqa: PLC0415 - aioice comes with the optional webrtc extra

    original = aioice.ice.get_host_addresses
    if getattr(original, "_mockserver_scoped", False):
        return

    def host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        chosen = _ADDRESSES.get()
        if chosen is None:
            return original(use_ipv4, use_ipv6)
        return [address for address in chosen if (":" in address and use_ipv6) or (":" not in address and use_ipv4)]

    host_addresses._mockserver_scoped = True  # type: ignore[attr-defined]
    aioice.ice.get_host_addresses = host_addresses
