"""What every layer shares about audio: the sample rate, audio time, log-mel frames, reading files.

Audio time is counted in ticks, one tick one sample at `SAMPLE_RATE`, so spans stay exact integers
on every node. This package imports nothing else of the project, so the runtime, the models, the
corpus and the nodes can all depend on it. `audio.logmel` and `audio.files` need NumPy (and
soundfile); importing `audio` itself loads only the clock.
"""

from audio.clock import SAMPLE_RATE, seconds, ticks

__all__ = ["SAMPLE_RATE", "seconds", "ticks"]
