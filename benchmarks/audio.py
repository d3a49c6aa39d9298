#!/usr/bin/env python3
"""The audio building blocks' speed: turn detection throughput and speech synthesis.

    python benchmarks/audio.py            # about 10 seconds
    python benchmarks/audio.py --quick    # a smoke test

Prints, in CPU time of this process (``time.process_time``):

* VAD feed throughput: seconds of audio judged per CPU second, for PCM16 24 kHz and G.711 mu-law,
  fed in 20 ms appends (a browser's typical chunk) and in 100 ms appends, and what that means for
  200 concurrent real-time sessions (the share of one core they need);
* synthesis: the first reply in a new voice (cold caches), then 30 s of speech with warm caches;
* G.711 mu-law encoding (bit exact) and decoding throughput.
"""

from __future__ import annotations

import argparse
import functools
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mockserver.realtime import audio
from mockserver.realtime.audio import PCM24K, PCMU, AudioFormat, bytes_for_ms, synthesize
from mockserver.realtime.vad import TurnDetection, TurnDetector

TEXT = (
    "Hello there, how are you doing today? I was thinking we could go for a walk in the park, "
    "and then maybe grab some coffee. What do you think?"
)
SESSIONS = 200


def cpu_seconds(action: Callable[[], object], repeat: int) -> float:
    """The best CPU time of ``repeat`` runs of ``action``."""
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        action()
        best = min(best, time.process_time() - start)
    return best


def session_audio(fmt: AudioFormat, seconds: float) -> bytes:
    """Speech with pauses, as a user would send: sentences separated by a second of silence."""
    sentence = synthesize(TEXT, fmt).audio + audio.silence(1000, fmt)
    copies = int(seconds * 1000 / (len(sentence) * 1000 / fmt.bytes_per_second)) + 1
    return (sentence * copies)[: bytes_for_ms(seconds * 1000, fmt)]


def vad_throughput(fmt: AudioFormat, append_ms: int, seconds: float, repeat: int) -> float:
    """Seconds of audio a detector judges per CPU second, fed ``append_ms`` at a time."""
    data = session_audio(fmt, seconds)
    step = bytes_for_ms(append_ms, fmt)
    pieces = [data[i : i + step] for i in range(0, len(data), step)]

    def run() -> None:
        detector = TurnDetector(TurnDetection("server_vad"), fmt)
        for piece in pieces:
            detector.feed(piece)

    return seconds / cpu_seconds(run, repeat)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shorter runs")
    options = parser.parse_args(argv)
    seconds, repeat = (10.0, 2) if options.quick else (60.0, 5)

    print(f"Python {sys.version.split()[0]}, CPU time, best of {repeat}")
    print()
    print("VAD feed throughput (audio seconds per CPU second; higher is better)")
    for fmt, name in ((PCM24K, "PCM16 24 kHz"), (PCMU, "G.711 mu-law")):
        for append_ms in (20, 100):
            rate = vad_throughput(fmt, append_ms, seconds, repeat)
            share = SESSIONS / rate * 100
            print(f"  {name:13} {append_ms:>3} ms appends: {rate:>8.0f} x real time;", end=" ")
            print(f"{SESSIONS} real-time sessions need {share:.1f}% of a core")

    print()
    print("Synthesis")
    long_text = " ".join([TEXT] * 3)  # 87 words: about 35 s of speech
    for fmt, name in ((PCM24K, "PCM16 24 kHz"), (PCMU, "G.711 mu-law")):
        audio._syllable.cache_clear()
        audio._period.cache_clear()
        audio._wavetable.cache_clear()
        start = time.process_time()
        first = synthesize(TEXT, fmt, voice="verse")
        cold = time.process_time() - start
        warm = cpu_seconds(functools.partial(synthesize, long_text, fmt, voice="verse"), repeat * 4)
        spoken = synthesize(long_text, fmt, voice="verse").duration_ms / 1000
        print(
            f"  {name:13} first reply, cold caches ({first.duration_ms / 1000:.1f} s): {cold * 1000:.1f} ms CPU;",
            end=" ",
        )
        print(f"{spoken:.1f} s of speech, warm: {warm * 1000:.2f} ms CPU ({spoken / warm:,.0f} x real time)")

    print()
    print("G.711 (one minute of 8 kHz audio)")
    pcm = audio.resample(session_audio(PCM24K, 60), 24000, 8000)
    coded = audio.ulaw_encode(pcm)
    encode = cpu_seconds(lambda: audio.ulaw_encode(pcm), repeat * 4)
    decode = cpu_seconds(lambda: audio.ulaw_decode(coded), repeat * 4)
    print(f"  mu-law encode (bit exact): {encode * 1000:.2f} ms CPU; decode: {decode * 1000:.3f} ms CPU")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
