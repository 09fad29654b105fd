"""espeak-ng in process, through its C library (PyPI `espeakng-loader` ships it with its data).

In process, a synthesis costs no process start, and the library needs nothing
from the system (no audio stack): the same voices render on any Linux machine,
including a bare training machine with no Debian packages.
"""

from __future__ import annotations

import ctypes
import functools
import threading
from pathlib import Path

import numpy as np

RATE = 22_050
"""espeak-ng's own output rate."""

_SYNCHRONOUS = 2  # AUDIO_OUTPUT_SYNCHRONOUS: espeak_Synth returns when the callback has had every sample
_RATE_PARAM, _PITCH_PARAM = 1, 3  # espeakRATE, espeakPITCH
_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)


class Espeak:
    """One initialised library; not thread-safe (espeak-ng keeps global state), so calls are serialised."""

    def __init__(self) -> None:
        import espeakng_loader

        self.data = Path(espeakng_loader.get_data_path())
        self.lib = ctypes.CDLL(espeakng_loader.get_library_path())
        self.lib.espeak_Initialize.restype = ctypes.c_int
        rate = self.lib.espeak_Initialize(_SYNCHRONOUS, 0, str(self.data).encode(), 0)
        if rate != RATE:
            raise RuntimeError(f"libespeak-ng started at {rate} Hz, expected {RATE}")
        self._chunks: list[np.ndarray] = []
        self._callback = _CALLBACK(self._collect)  # kept alive as long as the library may call it
        self.lib.espeak_SetSynthCallback(self._callback)
        self.lib.espeak_Synth.argtypes = [
            ctypes.c_char_p,
            ctypes.c_size_t,
            ctypes.c_uint,
            ctypes.c_int,
            ctypes.c_uint,
            ctypes.c_uint,
            ctypes.c_void_p,
            ctypes.c_void_p,
        ]
        self.lock = threading.Lock()

    def _collect(self, wav, n: int, _events) -> int:
        if n > 0:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(n,)).astype(np.float32) / 32768.0)
        return 0

    def synthesize(self, text: str, voice: str, rate_wpm: int, pitch: int) -> np.ndarray:
        """`text` in `voice` ("en-us", "en-gb+f3", ...) at 22,050 Hz, float32."""
        with self.lock:
            if self.lib.espeak_SetVoiceByName(voice.encode()) != 0:
                raise ValueError(f"espeak-ng has no voice {voice!r}")
            self.lib.espeak_SetParameter(_RATE_PARAM, int(rate_wpm), 0)
            self.lib.espeak_SetParameter(_PITCH_PARAM, int(pitch), 0)
            self._chunks = []
            data = text.encode() + b"\0"
            err = self.lib.espeak_Synth(data, len(data), 0, 1, 0, 0, None, None)  # POS_CHARACTER, espeakCHARS_AUTO
            if err != 0:
                raise RuntimeError(f"espeak_Synth failed ({err}) on {text!r}")
            return np.concatenate(self._chunks) if self._chunks else np.zeros(0, np.float32)

    def variants(self) -> list[str]:
        """The voice variants the library's data holds (the files under voices/!v)."""
        return sorted(p.name for p in (self.data / "voices" / "!v").iterdir() if p.is_file())


@functools.lru_cache(maxsize=1)
def engine() -> Espeak:
    """The process's one library instance (a forked worker gets its own copy of the state)."""
    return Espeak()
