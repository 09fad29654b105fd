"""Opening recorded audio: format checks, mono mixing and resampling to 16 kHz.

Files are read block by block and resampled with a streaming resampler, so an
hours-long recording costs a few blocks of memory. Bad files are found before
any audio is sent: a missing, empty, corrupt or truncated file is one
`AudioFileError` with a message a person can act on.
"""

from __future__ import annotations

import errno
import os
import stat
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from audio.clock import SAMPLE_RATE

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg")
_BLOCK = 16_384
MIN_RATE, MAX_RATE = 1_000, 768_000
"""Sample rates a file may have: beyond them a header is more likely corrupt than the audio real (and
resampling 1 Hz to 16 kHz would turn each block into a gigabyte)."""


class AudioFileError(Exception):
    """A file that cannot be replayed, with the reason."""


@dataclass(frozen=True)
class AudioInfo:
    path: str
    sample_rate: int
    channels: int
    frames: int
    format: str

    @property
    def duration_s(self) -> float:
        return self.frames / self.sample_rate


def probe(path: str | Path) -> AudioInfo:
    """Check that `path` is a complete audio file soundfile can read."""
    p = Path(path)
    mode = _mode(p)
    if stat.S_ISDIR(mode):
        raise AudioFileError(f"{p}: a folder that holds no {', '.join(AUDIO_SUFFIXES)} file")
    if not stat.S_ISREG(mode):
        kind = "a FIFO" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode) else "a device"
        raise AudioFileError(f"{p}: {kind}, not a regular file (replay reads files it can seek in)")
    if p.stat().st_size == 0:
        raise AudioFileError(f"{p}: empty file")
    try:
        info = sf.info(str(p))
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise AudioFileError(f"{p}: not a readable audio file ({_reason(exc)})") from exc
    if info.frames <= 0:
        raise AudioFileError(f"{p}: holds no audio frames")
    if not MIN_RATE <= info.samplerate <= MAX_RATE:
        raise AudioFileError(
            f"{p}: unsupported sample rate {info.samplerate} Hz (from {MIN_RATE} to {MAX_RATE} Hz are replayed)"
        )
    if info.channels < 1:
        raise AudioFileError(f"{p}: corrupt: {info.channels} channels")
    if info.format == "WAV":
        _check_riff(p)
    try:
        with sf.SoundFile(str(p)) as f:
            f.seek(info.frames - 1)
            if len(f.read(1)) != 1:
                raise AudioFileError(f"{p}: truncated: the last of its {info.frames} frames is missing")
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise AudioFileError(f"{p}: corrupt or truncated ({_reason(exc)})") from exc
    return AudioInfo(str(p), info.samplerate, info.channels, info.frames, info.format)


def _mode(p: Path) -> int:
    """The file's mode, or an error saying why there is none (a dangling or looping link is not 'no such file')."""
    try:
        return p.stat().st_mode
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise AudioFileError(f"{p}: a loop of symbolic links") from None
        if exc.errno == errno.ENOENT and os.path.islink(p):
            raise AudioFileError(f"{p}: a symbolic link to {os.readlink(p)}, which does not exist") from None
        if exc.errno == errno.ENOENT:
            raise AudioFileError(f"{p}: no such file") from None
        raise AudioFileError(f"{p}: cannot be opened ({exc.strerror})") from None


def _check_riff(p: Path) -> None:
    """libsndfile trusts a WAV whose data chunk is shorter than its header says: we don't."""
    size = p.stat().st_size
    with p.open("rb") as f:
        head = f.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return  # RF64, RIFX and friends: leave them to libsndfile
        pos = 12
        while pos + 8 <= size:
            f.seek(pos)
            chunk_id, chunk_len = struct.unpack("<4sI", f.read(8))
            if chunk_id == b"data":
                if chunk_len in (0, 0xFFFFFFFF):
                    return  # a streamed WAV with an unknown length
                have = size - pos - 8
                if have < chunk_len:
                    raise AudioFileError(
                        f"{p}: truncated: its header promises {chunk_len} bytes of audio, the file holds {have}"
                    )
                return
            pos += 8 + chunk_len + (chunk_len & 1)
    raise AudioFileError(f"{p}: corrupt: WAV file without a data chunk")


def _reason(exc: BaseException) -> str:
    text = str(exc).split(": ", 1)[-1] if "Error opening" in str(exc) else str(exc)
    return text.strip().rstrip(".") or type(exc).__name__


@dataclass
class ReadReport:
    """What `read_blocks` repaired: samples of the file (at its own rate) beyond full scale, clipped."""

    clipped: int = 0


def read_blocks(info: AudioInfo, block: int = _BLOCK, report: ReadReport | None = None) -> Iterator[np.ndarray]:
    """Mono float32 blocks at 16 kHz. Raises AudioFileError on corrupt data or NaN.

    Samples beyond full scale are clipped before resampling (a float file may hold any finite value,
    and a filter over values near the float32 limit overflows to NaN); `report` counts them. The
    resampler can still overshoot full scale a little on loud audio: the caller clips that.
    """
    resampler = (
        None
        if info.sample_rate == SAMPLE_RATE
        else soxr.ResampleStream(info.sample_rate, SAMPLE_RATE, 1, dtype="float32", quality="HQ")
    )
    read = 0
    try:
        with sf.SoundFile(info.path) as f:
            for data in f.blocks(blocksize=block, dtype="float32", always_2d=True):
                read += len(data)
                # mixed in float64: the mean of two finite float32 samples near the limit is finite, their sum not
                mono = data.mean(axis=1, dtype=np.float64).astype(np.float32) if data.shape[1] > 1 else data[:, 0]
                if not np.isfinite(mono).all():
                    at = (read - len(data) + int(np.argmin(np.isfinite(mono)))) / info.sample_rate
                    raise AudioFileError(f"{info.path}: holds NaN or infinite samples (first at {at:.2f} s)")
                over = np.abs(mono) > 1.0
                if over.any():
                    if report is not None:
                        report.clipped += int(over.sum())
                    mono = np.clip(mono, -1.0, 1.0)
                yield mono if resampler is None else resampler.resample_chunk(mono)
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise AudioFileError(
            f"{info.path}: corrupt or truncated at {read / info.sample_rate:.2f} s ({_reason(exc)})"
        ) from exc
    if read < info.frames:
        raise AudioFileError(f"{info.path}: truncated: {read} of {info.frames} frames could be read")
    if resampler is not None:
        yield resampler.resample_chunk(np.zeros(0, np.float32), last=True)


def load(path: str | Path) -> np.ndarray:
    """A whole file as mono float32 at 16 kHz (for tools and tests; replay streams)."""
    info = probe(path)
    return np.concatenate([b for b in read_blocks(info)] or [np.zeros(0, np.float32)])


def expand(paths: list[str]) -> list[str]:
    """Files as given, folders replaced by the audio files under them (sorted).

    Never raises: a folder with no audio file in it stays in the list (its stream says so), and under
    a folder every non-folder with an audio suffix is kept (a dangling link or a FIFO named `x.wav`
    gets its own error instead of vanishing), so one odd path costs only its own stream.
    """
    out: list[str] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            found = sorted(str(f) for f in p.rglob("*") if f.suffix.lower() in AUDIO_SUFFIXES and not f.is_dir())
            out.extend(found or [raw])
        else:
            out.append(raw)
    return out
