"""μ-law, speech synthesis and the speech registry."""

from __future__ import annotations

import numpy as np
import pytest

from simulator import audio


def test_ulaw_known_values_and_round_trip() -> None:
    """G.711 reference points, and encode(decode(x)) == x for every code."""
    assert audio.ulaw_encode(np.array([0], dtype=np.int16)) == b"\xff"
    assert audio.ulaw_decode(b"\x80")[0] == 32124
    assert audio.ulaw_decode(b"\x00")[0] == -32124
    codes = bytes(range(256))
    decoded = audio.ulaw_decode(codes)
    # 0x7F and 0xFF both mean zero; everything else survives the round trip.
    assert audio.ulaw_encode(decoded).replace(b"\x7f", b"\xff") == codes.replace(
        b"\x7f", b"\xff"
    )


def test_frames_and_silence() -> None:
    """Frames are 20 ms; the last is padded with silence, which is not speech."""
    chunks = audio.frames(b"\x00" * 200)
    assert [len(c) for c in chunks] == [160, 160]
    assert chunks[1][40:] == audio.silence(15)[:120]
    assert not audio.is_speech(audio.silence(20))
    assert audio.duration_ms(audio.silence(300)) == 300


@pytest.mark.parametrize("use_espeak", [False, True])
async def test_speech_is_detected_and_transcribed(use_espeak: bool) -> None:
    """Speech is loud enough for the VAD; the registry finds it however it is chunked."""
    synthesizer = audio.SpeechSynthesizer(use_espeak=use_espeak)
    if use_espeak and not audio.SpeechSynthesizer().use_espeak:
        pytest.skip("espeak-ng or sox is not installed")
    registry = audio.SpeechRegistry()
    first = await synthesizer.speak("I am awake now")
    second = await synthesizer.speak("Five more minutes")
    registry.register("I am awake now", first)
    registry.register("Five more minutes", second)
    assert sum(audio.is_speech(f) for f in audio.frames(first)) > 10
    shifted = audio.silence(7)[:37] + second  # not aligned to 20 ms frames
    assert registry.transcribe(shifted) == "Five more minutes"
    assert registry.transcribe(audio.silence(500)) is None
    assert await synthesizer.speak("I am awake now") is first  # cached
