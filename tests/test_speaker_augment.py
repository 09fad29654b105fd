"""Speaker and channel perturbation of log-mel frames (`training.speaker_augment`)."""

import numpy as np
import torch

from audio.logmel import DEFAULT, LOG_FLOOR, hz_to_mel, mel_to_hz
from training.speaker_augment import colour, narrowband, quieter, stretch, tilt, vtlp


def frames() -> torch.Tensor:
    """A formant-like bump at band 20 over 100 frames, then 50 frames of digital silence (padding)."""
    x = torch.full((150, 64), -23.0)
    x[:100] = -10.0 + 8.0 * torch.exp(-0.5 * ((torch.arange(64) - 20.0) / 3.0) ** 2)
    return x


def test_vtlp_moves_the_formant_and_keeps_silence_silent():
    x = frames()
    peaks = {int(vtlp(x, np.random.default_rng(s), 0.12)[0].argmax()) for s in range(20)}
    assert len(peaks) > 2 and all(17 <= p <= 23 for p in peaks), peaks  # 20 x (1 +- 0.12)
    assert torch.equal(vtlp(x, np.random.default_rng(0), 0.0), x)
    assert (vtlp(x, np.random.default_rng(0), 0.12)[100:] == -23.0).all()


def test_tilt_slopes_sounding_frames_within_the_spread_and_leaves_padding_alone():
    x = frames()
    for s in range(20):
        d = tilt(x, np.random.default_rng(s), 1.0) - x
        slope = float(d[0, -1] - d[0, 0])
        assert abs(slope) <= 1.0 + 1e-6
        assert torch.allclose(d[:100], d[0].expand(100, -1))  # one channel for the whole window
        assert (d[100:] == 0).all()


def test_colour_gives_each_utterance_its_own_smooth_response_and_leaves_padding_alone():
    x = frames()
    curves = []
    for s in range(20):
        d = colour(x, np.random.default_rng(s), 1.0) - x
        assert torch.allclose(d[:100], d[0].expand(100, -1))  # one channel for the whole utterance
        assert (d[100:] == 0).all()
        assert float(d[0].abs().max()) <= 0.5 + 3 * 0.5 + 1e-5  # the tilt's end plus three bumps at most
        assert float((d[0, 1:] - d[0, :-1]).abs().max()) < 0.15  # smooth: no band differs much from its neighbour
        curves.append(d[0])
    assert float(torch.stack(curves).std(0).mean()) > 0.2  # a different response each time
    assert torch.equal(colour(x, np.random.default_rng(0), 0.0), x)


def test_stretch_speeds_an_utterance_up_or_down_and_keeps_where_things_are_said():
    x = np.zeros((200, 4), np.float32)
    x[80:100] = 1.0  # a 20-frame word from frame 80
    fast, slow = stretch(x, 1.25), stretch(x, 0.8)
    assert fast.shape == (160, 4) and slow.shape == (250, 4)
    assert np.flatnonzero(fast[:, 0] == 1.0)[[0, -1]].tolist() == [64, 79]  # frame t of the result is t * rate
    assert np.flatnonzero(slow[:, 0] == 1.0)[[0, -1]].tolist() == [100, 123]
    assert stretch(x, 1.0) is x


def test_quieter_lowers_sounding_frames_by_one_gain_and_keeps_silence_and_the_floor():
    x = frames()
    floor = float(np.log(1e-10))
    x[100:] = floor  # digital silence, as the features give it
    x[:100, :4] = floor + 0.5  # bands just over the floor: lowered onto it, never under
    shifts = []
    for s in range(40):
        y = quieter(x, np.random.default_rng(s), 20.0)
        assert torch.equal(y[100:], x[100:]) and (y >= floor).all()
        d = x[:100, 10:] - y[:100, 10:]
        assert float(d.max() - d.min()) < 1e-4  # one gain for the whole window
        shifts.append(float(d.mean()) / (np.log(10) / 10))
    assert min(shifts) < 1e-4 and 5.0 < max(shifts) <= 20.0 + 1e-3  # half left alone, the rest up to 20 dB down
    assert torch.equal(quieter(x, np.random.default_rng(0), 0.0), x)


def test_narrowband_takes_a_share_of_utterances_through_a_narrower_channel():
    x = frames()
    x[:100] = -10.0  # energy in every band
    floor = float(np.log(LOG_FLOOR))
    outs = [narrowband(x, np.random.default_rng(s), 0.3) for s in range(200)]
    changed = [o for o in outs if not torch.equal(o, x)]
    assert 0.2 < len(changed) / len(outs) < 0.4
    assert all((o <= x + 1e-5).all() and (o >= floor - 1e-5).all() for o in outs)  # a channel only takes energy away
    # every narrowed utterance lost its top bands: the highest edge drawn is under the features' top
    edges = mel_to_hz(np.linspace(hz_to_mel(DEFAULT.fmin), hz_to_mel(DEFAULT.fmax), DEFAULT.n_mels + 2))
    above_phone = int(np.searchsorted(edges[:-2], 3400.0))  # bands whose filter starts above 3.4 kHz
    assert all((o[:100, -1] < -10.0 - 1e-4).all() for o in changed)
    assert any(np.allclose(o[:100, above_phone:], floor) for o in changed)  # some as narrow as a telephone
    assert torch.equal(narrowband(x, np.random.default_rng(0), 0.0), x)
