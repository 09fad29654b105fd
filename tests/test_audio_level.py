"""The level measure the decoder and the wake gate raise quiet speakers by."""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from audio.level import percentiles, raise_to

finite = st.floats(-30, 30, width=32, allow_nan=False)


@given(arrays(np.float32, st.integers(1, 400), elements=finite), st.floats(0, 100), st.floats(0, 100))
def test_percentiles_are_numpys(values: np.ndarray, q1: float, q2: float) -> None:
    assert np.allclose(percentiles(values, (q1, q2)), np.percentile(values, [q1, q2]), rtol=1e-6, atol=1e-6)


def test_a_quiet_speaker_is_raised_and_silence_is_not() -> None:
    speech = np.r_[np.full(50, -12.0), np.full(50, -6.0)]  # pauses and a speaker 6 below the range
    assert raise_to(speech, low=0.0) == 6.0
    assert raise_to(speech + 10.0, low=0.0) == 0.0  # already in range
    assert raise_to(np.full(100, -12.0), low=0.0) == 0.0  # steady: no speaker heard
