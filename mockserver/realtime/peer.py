"""One WebRTC call with media (needs the ``webrtc`` extra): aiortc's peer connection around the engine.

The call is answered the documented way round: the client's offer (microphone track, ``oai-events`` data
channel) in, an answer out with the mock's audio track (``a=msid``) and a loopback host candidate
(``ice.py``). Then, over the same engine as the WebSocket (``sessions.new_engine``, ``transport="webrtc"``):

- the ``oai-events`` data channel carries the events, through the same :class:`~.link.EventLink` (order,
  faults, journal); ``session.created`` is the first, sent as soon as the channel opens (events the engine
  emits before that wait for it);
- the microphone track is decoded to PCM16 24 kHz and fed to the engine (turn detection, transcription);
- reply audio plays on :class:`~.media.ReplyTrack`, with ``output_audio_buffer.*`` events, and no
  ``response.output_audio.delta`` on the channel.

The call ends (:meth:`PeerCall.hang_up`, idempotent) on a hangup, at shutdown, on ``session.close`` or the
60-minute cap, when the data channel closes, when the connection fails or closes (a peer that vanished:
ICE consent checks stop being answered), when the peer does not connect in time, and on a
``drop_after_events`` fault. Ending stops the engine and every task of the call, closes the channel and the
peer connection, and forgets the call.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

import aioice.ice
from aiortc import RTCConfiguration, RTCDataChannel, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from ..errors import OpenAIError
from ..state import MockState
from .call_sessions import Sidebands
from .ice import candidate_addresses, gathering_on, is_loopback, reachable_offer
from .link import EventLink
from .media import MicrophoneDecoder, ReplyTrack
from .sessions import new_engine
from .webrtc import CallRequest

__all__ = ["EVENTS_CHANNEL", "MAX_PENDING_EVENTS", "MAX_QUEUED_FRAMES", "PeerCall", "open_call"]

log = logging.getLogger("mockserver")

#: The data channel the Realtime events travel on.
EVENTS_CHANNEL = "oai-events"
#: Server events held for a data channel that has not opened yet; beyond this the oldest are dropped.
MAX_PENDING_EVENTS = 10_000
#: Client frames waiting for the engine; beyond this a flooding peer's frames are dropped (and counted).
MAX_QUEUED_FRAMES = 1_000
#: How long closing a peer connection may take before the call is forgotten anyway.
CLOSE_SECONDS = 5.0


def open_call(
    state: MockState, request: CallRequest, *, connect_seconds: float, on_end: Callable[[str], None]
) -> PeerCall:
    """A new call for ``request`` (not answered yet: see :meth:`PeerCall.answer`)."""
    return PeerCall(state, request, connect_seconds=connect_seconds, on_end=on_end)


class _DataChannel:
    """The data channel's side of an :class:`EventLink`: events wait until ``oai-events`` is open."""

    def __init__(self, on_drop: Callable[[], None]) -> None:
        self.channel: RTCDataChannel | None = None
        self.pending: list[str] = []
        self._on_drop = on_drop
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed

    async def send_text(self, text: str) -> None:
        channel = self.channel
        if channel is None or channel.readyState != "open":
            self.pending.append(text)
            del self.pending[:-MAX_PENDING_EVENTS]
            return
        try:
            channel.send(text)
        except Exception as exc:  # aiortc's InvalidStateError: the channel closed meanwhile
            raise ConnectionError(str(exc)) from exc

    def drop(self) -> None:
        self._on_drop()

    def attach(self, channel: RTCDataChannel) -> None:
        self.channel = channel
        if channel.readyState == "open":
            self._flush()
        else:
            channel.on("open", self._flush)

    def _flush(self) -> None:
        pending, self.pending = self.pending, []
        if self.channel is not None and not self._closed:
            for text in pending:
                self.channel.send(text)

    def close(self) -> None:
        """Nothing more is sent; the channel itself closes with the peer connection (SCTP goes with it)."""
        self._closed = True
        self.pending = []


class PeerCall:
    """One call: the peer connection, the ``oai-events`` channel, the engine and the two audio tracks."""

    def __init__(
        self, state: MockState, request: CallRequest, *, connect_seconds: float, on_end: Callable[[str], None]
    ) -> None:
        self.id = request.call_id
        self.key = request.key
        self.state = state
        self._on_end = on_end
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.carrier = _DataChannel(on_drop=self._dropped)
        self.link = EventLink(self.carrier, state, request.entry, request.faults)
        self.track = ReplyTrack(self.link.send, state.ids.media_event_id)
        #: WebSockets attached to the call (``GET /v1/realtime?call_id=``): they see what the channel sees.
        self.sidebands = Sidebands()
        self.engine = new_engine(
            state,
            request.opening,
            emit=self._emit,
            on_close=self._session_closed,
            transport="webrtc",
            media=self.track,
            call_id=self.id,
        )
        self.link.note("call_id", self.id)
        self.link.note("session_id", self.engine.session["id"])
        entry = request.entry
        if entry is not None and entry.scope is None and request.opening.scope is not None:
            # A browser cannot send X-Mock-Scope: its call belongs to the scope its key was minted in.
            entry.scope = request.opening.scope
        self._frames: asyncio.Queue[str | bytes | None] = asyncio.Queue(MAX_QUEUED_FRAMES)
        self._frames_dropped = 0
        self._started = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._ending: asyncio.Task[None] | None = None
        loop = asyncio.get_running_loop()
        self._connect_timer = loop.call_later(connect_seconds, self._not_connected, connect_seconds)
        self.pc.on("datachannel", self._on_datachannel)
        self.pc.on("track", self._on_track)
        self.pc.on("connectionstatechange", self._on_state)

    # --- negotiation ---------------------------------------------------------------------------------

    async def answer(self, offer: str) -> str:
        """The SDP answer to ``offer``, with the reply track and host candidates on the server's address."""
        addresses = candidate_addresses(self.state.settings.host, lambda: aioice.ice.get_host_addresses(True, True))
        loopback_only = all(is_loopback(address) for address in addresses)
        with gathering_on(addresses):
            try:
                await self.pc.setRemoteDescription(
                    RTCSessionDescription(reachable_offer(offer, loopback_only=loopback_only), "offer")
                )
                self.pc.addTrack(self.track)
                await self.pc.setLocalDescription(await self.pc.createAnswer())
            except Exception as exc:  # aiortc raises many kinds (ValueError, InvalidAccessError...) on a bad offer
                raise OpenAIError(
                    400, f"Invalid 'sdp': the offer could not be used ({exc}).", param="sdp", code="invalid_sdp"
                ) from None
        self._spawn(self._converse())
        return str(self.pc.localDescription.sdp)

    # --- events both ways ----------------------------------------------------------------------------

    async def _emit(self, event: dict[str, Any]) -> None:
        await self.link.send(event)
        await self.sidebands.send(event)
        if event.get("type") == "response.done":
            self.track.response_done(str(event["response"]["id"]))

    async def _converse(self) -> None:
        """``session.created`` first, then each client frame in order."""
        try:
            await self.engine.start()
            self._started.set()
            while (frame := await self._frames.get()) is not None:
                async with self.sidebands.lock:
                    await self.engine.receive(frame, observe=self.link.record_client)
        except Exception:
            log.exception("unhandled error in a WebRTC session")
            self.end_soon("internal error")

    def _on_datachannel(self, channel: RTCDataChannel) -> None:
        if channel.label != EVENTS_CHANNEL or self.carrier.channel is not None:
            return  # only the first oai-events channel carries the session
        channel.on("message", self._on_message)
        channel.on("close", lambda: self.end_soon("the oai-events data channel closed"))
        self.carrier.attach(channel)

    def _on_message(self, message: str | bytes) -> None:
        try:
            self._frames.put_nowait(message)
        except asyncio.QueueFull:
            self._frames_dropped += 1
            self.link.note("client_frames_dropped", str(self._frames_dropped))

    # --- audio in ----------------------------------------------------------------------------------------

    def _on_track(self, track: MediaStreamTrack) -> None:
        if track.kind == "audio":
            self._spawn(self._listen(track))

    async def _listen(self, track: MediaStreamTrack) -> None:
        """The microphone, decoded to PCM16 24 kHz, feeds the engine (once ``session.created`` is out)."""
        decoder = MicrophoneDecoder()
        try:
            await self._started.wait()
            while True:
                try:
                    frame = await track.recv()
                except MediaStreamError:
                    return
                await self.engine.feed_audio(decoder.pcm(frame))  # type: ignore[arg-type]
        except Exception:
            log.exception("unhandled error decoding a WebRTC microphone track")
            self.end_soon("internal error")

    # --- life cycle ------------------------------------------------------------------------------------

    def _on_state(self) -> None:
        state = self.pc.connectionState
        if state == "connected":
            self._connect_timer.cancel()
            self.link.note("connected", "yes")
        elif state in ("failed", "closed"):
            self.end_soon(f"the peer connection {state}")

    def _not_connected(self, seconds: float) -> None:
        if self.pc.connectionState != "connected":
            self.end_soon(f"the peer did not connect within {seconds:g} s")

    def _dropped(self) -> None:
        self.end_soon("dropped by a fault (drop_after_events)")

    async def _session_closed(self) -> None:
        # Called from inside the engine (session.close, the 60-minute cap): end without waiting for ourselves.
        self.end_soon("the session closed")

    def end_soon(self, reason: str) -> asyncio.Task[None]:
        """Start ending the call (once; later reasons are ignored)."""
        if self._ending is None:
            self._ending = asyncio.ensure_future(self._end(reason))
        return self._ending

    async def hang_up(self, reason: str) -> None:
        """End the call and wait until it has ended (a cancelled caller does not stop the ending)."""
        await asyncio.shield(self.end_soon(reason))

    async def _end(self, reason: str) -> None:
        self.link.note("ended", reason)
        self._connect_timer.cancel()
        try:
            await self.sidebands.close(reason)
            await self.engine.close()
            self.track.stop()
            self.carrier.close()
            tasks = list(self._tasks)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self.track.closed()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.pc.close(), CLOSE_SECONDS)
        except Exception:
            log.exception("error while ending a WebRTC call")
        finally:
            self._on_end(self.id)

    def _spawn(self, coroutine: Any) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
