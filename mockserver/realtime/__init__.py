"""The Realtime side: what a minted key opens (the WebSocket session and WebRTC calls)."""
