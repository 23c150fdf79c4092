"""Phone audio: 8 kHz μ-law, speech for scripted lines, and speech detection.

Lines are spoken with espeak-ng where it is installed, else with a synthetic
speech-like signal. Either way each distinct text gives distinct audio, and the
SpeechRegistry maps audio back to text: the simulated OpenAI "transcribes" by
finding the exact bytes the simulated phone sent, which also proves that the
integration passed the audio through untouched.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import shutil
import subprocess
from typing import Any

import numpy as np
import numpy.typing as npt

SAMPLE_RATE = 8000
FRAME_BYTES = 160  # 20 ms of 8 kHz μ-law
FRAME_MS = 20
BYTES_PER_MS = 8
SILENCE_BYTE = 0xFF  # μ-law for 0
SPEECH_RMS = 500.0  # linear 16-bit RMS above which a frame counts as speech
SYNTHESIS_TIMEOUT = 30.0  # seconds for espeak-ng or sox; a line takes well under one

_BIAS = 0x84
_CLIP = 32635


def _decode_table() -> npt.NDArray[np.int16]:
    codes = np.arange(256, dtype=np.int32)
    inverted = ~codes & 0xFF
    sign = inverted & 0x80
    exponent = (inverted >> 4) & 0x07
    mantissa = inverted & 0x0F
    magnitude = (((mantissa << 3) + _BIAS) << exponent) - _BIAS
    return np.where(sign != 0, -magnitude, magnitude).astype(np.int16)


_DECODE = _decode_table()


def ulaw_decode(data: bytes) -> npt.NDArray[np.int16]:
    """μ-law bytes to 16-bit linear samples."""
    return _DECODE[np.frombuffer(data, dtype=np.uint8)]


def ulaw_encode(samples: npt.NDArray[Any]) -> bytes:
    """16-bit linear samples to μ-law bytes (G.711)."""
    pcm = np.clip(samples.astype(np.int32), -_CLIP, _CLIP)
    sign = np.where(pcm < 0, 0x80, 0)
    magnitude = np.abs(pcm) + _BIAS
    exponent = np.floor(np.log2(magnitude)).astype(np.int32) - 7
    exponent = np.clip(exponent, 0, 7)
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    encoded: bytes = (
        (~(sign | (exponent << 4) | mantissa) & 0xFF).astype(np.uint8).tobytes()
    )
    return encoded


# A-law segment ends of the 13-bit magnitude (G.711).
_ALAW_SEGMENT_ENDS = np.array([0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF])
ALAW_SILENCE_BYTE = 0xD5  # A-law for 0


def alaw_encode(samples: npt.NDArray[Any]) -> bytes:
    """16-bit linear samples to A-law bytes (G.711), for GPT-Live's audio/pcma."""
    pcm = samples.astype(np.int32) >> 3
    mask = np.where(pcm >= 0, 0xD5, 0x55)
    magnitude = np.minimum(np.where(pcm >= 0, pcm, -pcm - 1), 0xFFF)
    segment = np.searchsorted(_ALAW_SEGMENT_ENDS, magnitude)
    shift = np.maximum(segment, 1)
    code = (segment << 4) | ((magnitude >> shift) & 0x0F)
    encoded: bytes = ((code ^ mask) & 0xFF).astype(np.uint8).tobytes()
    return encoded


def alaw_decode(data: bytes) -> npt.NDArray[np.int16]:
    """A-law bytes to 16-bit linear samples."""
    codes = np.frombuffer(data, dtype=np.uint8).astype(np.int32) ^ 0x55
    segment = (codes >> 4) & 0x07
    mantissa = codes & 0x0F
    magnitude = np.where(
        segment == 0,
        (mantissa << 4) + 8,
        ((mantissa << 4) + 0x108) << np.maximum(segment - 1, 0),
    )
    return np.where(codes & 0x80, magnitude, -magnitude).astype(np.int16)


def frame_rms(frame: bytes) -> float:
    """Loudness of a frame, on the 16-bit linear scale."""
    samples = ulaw_decode(frame).astype(np.float64)
    return float(np.sqrt(np.mean(samples * samples))) if len(samples) else 0.0


def is_speech(frame: bytes) -> bool:
    """Whether a 20 ms frame is loud enough to be speech."""
    return frame_rms(frame) >= SPEECH_RMS


def silence(ms: int) -> bytes:
    """Silence of the given length."""
    return bytes([SILENCE_BYTE]) * (ms * BYTES_PER_MS)


def frames(data: bytes) -> list[bytes]:
    """Split into 20 ms frames, padding the last with silence."""
    if remainder := len(data) % FRAME_BYTES:
        data += bytes([SILENCE_BYTE]) * (FRAME_BYTES - remainder)
    return [data[i : i + FRAME_BYTES] for i in range(0, len(data), FRAME_BYTES)]


def duration_ms(data: bytes) -> int:
    """Length of μ-law audio in milliseconds."""
    return len(data) // BYTES_PER_MS


def synthetic_speech(text: str) -> bytes:
    """A speech-like signal: voiced syllables, unique per text, ~0.3 s per word."""
    digest = hashlib.sha256(text.encode()).digest()
    words = max(1, len(text.split()))
    syllable = int(0.15 * SAMPLE_RATE)
    out: list[npt.NDArray[np.int16]] = []
    for index in range(words * 2):
        pitch = 110 + digest[index % len(digest)] % 120
        t = np.arange(syllable) / SAMPLE_RATE
        envelope = np.sin(np.pi * np.arange(syllable) / syllable)
        wave = np.sin(2 * np.pi * pitch * t) + 0.5 * np.sin(2 * np.pi * 2.7 * pitch * t)
        out.append((6000 * envelope * wave).astype(np.int16))
    return ulaw_encode(np.concatenate(out))


class SpeechSynthesizer:
    """Turns text into 8 kHz μ-law; cached, since scripts repeat lines."""

    def __init__(self, *, use_espeak: bool | None = None, voice: str = "en-us") -> None:
        """use_espeak=None: use espeak-ng (with sox) when both are installed."""
        if use_espeak is None:
            use_espeak = bool(shutil.which("espeak-ng") and shutil.which("sox"))
        self.use_espeak = use_espeak
        self.voice = voice
        self._cache: dict[str, bytes] = {}

    async def speak(self, text: str) -> bytes:
        """The audio of `text`."""
        if (cached := self._cache.get(text)) is not None:
            return cached
        audio = await self._espeak(text) if self.use_espeak else b""
        if not audio:
            audio = synthetic_speech(text)
        self._cache[text] = audio
        return audio

    async def _espeak(self, text: str) -> bytes:
        # espeak-ng writes a 22 kHz WAV; sox turns it into raw 8 kHz μ-law.
        wav = await _run(["espeak-ng", "-v", self.voice, "-s", "165", "--stdout", text])
        if not wav:
            return b""
        sox = [
            "sox",
            "-t",
            "wav",
            "-",
            "-r",
            "8000",
            "-c",
            "1",
            "-e",
            "mu-law",
            "-t",
            "raw",
            "-",
        ]
        return await _run(sox, wav)


async def _run(command: list[str], stdin: bytes | None = None) -> bytes:
    """A command's output, or b"" if it failed.

    Run in a worker thread rather than with asyncio's subprocess transports:
    Python 3.13.0 can finalise such a transport after its loop has closed
    (each test has its own loop), which warns in the oldest environment.
    """

    def run() -> bytes:
        try:
            done = subprocess.run(  # noqa: S603 - our own fixed argument list
                command,
                input=stdin,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                timeout=SYNTHESIS_TIMEOUT,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired):
            return b""
        return done.stdout if done.returncode == 0 else b""

    return await asyncio.get_running_loop().run_in_executor(None, run)


class SpeechRegistry:
    """Which text a stretch of audio says, for the simulated transcription."""

    def __init__(self) -> None:
        """Start empty."""
        self._by_frame: dict[bytes, str] = {}

    def register(self, text: str, audio: bytes) -> None:
        """Remember the first few speech frames of an utterance."""
        speech = (frame for frame in frames(audio) if is_speech(frame))
        for frame in itertools.islice(speech, 3):
            self._by_frame.setdefault(frame, text)

    def transcribe(self, audio: bytes) -> str | None:
        """The registered text whose speech frames appear in `audio`, if any.

        A substring search, so it works however the bridge chunks the audio,
        as long as it does not transcode it.
        """
        for frame, text in self._by_frame.items():
            if frame in audio:
                return text
        return None
