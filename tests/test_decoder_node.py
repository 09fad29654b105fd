"""The decoder node in a graph, with the shipped weights: partials as audio arrives, then a result with a lattice."""

from __future__ import annotations

import json

import pytest

from graphs import build
from nodes.decoder.node import DEFAULT_WEIGHTS, RNNTDecoder
from nodes.file_source import FileSource
from pipeline import Event, LocalRuntime
from speechgraph.cli import main


def test_asr_graph_emits_partials_and_a_result_per_stream(demo_files):
    graph = build("asr", FileSource, {"paths": demo_files}, context=["meg bauer"])
    with LocalRuntime(graph) as rt:
        events = [m for m in rt.run() if isinstance(m, Event)]
    for f in demo_files:
        mine = [e for e in events if e.stream == f]
        results = [e.data for e in mine if e.name == "result"]
        assert len(results) == 1
        r = results[0]
        assert r["nbest"] and r["nbest"][0]["text"] == r["text"]
        assert r["lattice"]["nodes"] >= 1
        partial_ends = [e.end for e in mine if e.name == "partial"]
        assert partial_ends == sorted(partial_ends)


def test_missing_weights_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no recogniser weights"):
        RNNTDecoder(weights=str(tmp_path / "none.pt"))
    assert DEFAULT_WEIGHTS.exists(), "the recogniser's weights ship in weights/"


def test_replay_takes_a_context_file(demo_files, tmp_path):
    ctx = tmp_path / "contacts.txt"
    ctx.write_text("meg bauer\nkitchen lights\n")
    out = tmp_path / "e.jsonl"
    assert main(["replay", demo_files[0], "--graph", "asr", "--context", str(ctx), "--out", str(out)]) == 0
    events = [json.loads(line) for line in out.read_text().splitlines()]
    assert [e["event"] for e in events if e["event"] == "result"] == ["result"]
    assert main(["replay", demo_files[0], "--graph", "frontend", "--context", str(ctx), "--out", str(out)]) == 1


def test_a_context_of_twenty_thousand_phrases_is_cut_with_one_warning_per_stream(tmp_path):
    """Every phrase costs the device time at each end-point and memory: 20,000 made results 22 s late."""
    from nodes.decoder.node import MAX_PHRASES
    from tests.conftest import DEMO

    made_up = [f"{a}{b} {c}son" for a in "bcdfghklmnprstvz" for b in ("a", "o", "ee", "ai") for c in range(400)]
    ctx = tmp_path / "contacts.txt"
    ctx.write_text("\n".join(["Meg Bauer", *made_up[:19_999]]) + "\n")
    out = tmp_path / "e.jsonl"
    call = str(DEMO / "alexa_call_meg_bauer.wav")
    assert main(["replay", call, call, "--context", str(ctx), "--out", str(out)]) == 0
    events = [json.loads(line) for line in out.read_text().splitlines()]
    warnings = [e for e in events if e["event"] == "warning"]
    assert sorted(e["stream"] for e in warnings) == [call, f"{call}#2"], warnings
    assert all(
        f"context of 20000 phrases: the device decodes with the first {MAX_PHRASES}" in e["warning"] for e in warnings
    )
    results = [e for e in events if e["event"] == "result"]
    assert [r["text"] for r in results] == ["call meg bauer"] * 2
    assert all(len(r["context"]) == MAX_PHRASES for r in results)


def _features(signals):
    """Each demo recording's FeatureFrames (10 ms chunks); delivery k holds message k of every stream."""
    from nodes.features import LogMelFeatures
    from tests.batching import deliveries, one_by_one

    feats = one_by_one(LogMelFeatures(), deliveries(signals, [160] * len(signals)))
    streams = list(feats.values())
    return [[s[k] for s in streams if k < len(s)] for k in range(max(len(s) for s in streams))]


def _decoded(decoder, batches, together: bool):
    """Every stream's output, the encoder batched across streams or each stream alone, then its end."""
    from pipeline import EndOfStream
    from tests.batching import batched, one_by_one

    states: dict = {}
    out = (batched if together else one_by_one)(decoder, batches, states)
    for stream, st in states.items():  # the final lattice: decoded from the search the frames left
        end = EndOfStream(stream=stream, start=batches[-1][0].end, end=batches[-1][0].end)
        out[stream] += list(decoder.on_end_of_stream(end, st))
    return out


def test_streams_batched_decode_exactly_as_each_stream_alone():
    """The shipped int8 recogniser, the demo recordings as concurrent streams with the demo contacts: with
    the encoder batched across streams, every signal, partial and final lattice (scores and n-best
    included) is exactly what each stream gets alone, as the runtimes' equal results need."""
    from tests.batching import demo_audio
    from tests.conftest import DEMO

    context = [line for line in (DEMO / "contacts.txt").read_text().splitlines() if line]
    decoder = RNNTDecoder(context=context, int8=True)
    batches = _features(demo_audio())
    assert max(len(b) for b in batches) > 1
    together, alone = _decoded(decoder, batches, True), _decoded(decoder, batches, False)
    assert together.keys() == alone.keys()
    for stream, msgs in alone.items():
        assert together[stream] == msgs, stream
        assert any(getattr(m, "text", "") for m in msgs)


def test_a_stream_that_fails_in_a_batch_fails_alone():
    """Frames of the wrong width on one stream: that stream gets an `Error` and starts afresh; the others
    in the batch decode as if alone."""
    import numpy as np

    from pipeline import Error
    from tests.batching import batched, demo_audio, one_by_one

    decoder = RNNTDecoder(int8=True)
    batches = _features(demo_audio()[:3])[:60]
    bad = [m.replace(frames=np.zeros((len(m.frames), 7), np.float32)) if m.stream == "s1" else m for m in batches[30]]
    together = batched(decoder, [*batches[:30], bad, *batches[31:]])
    alone = one_by_one(decoder, batches)
    errors = [m for m in together["s1"] if isinstance(m, Error)]
    assert len(errors) == 1 and "7" in errors[0].error
    for s in ("s0", "s2"):
        assert together[s] == alone[s]


def test_the_int8_encoder_gives_a_stream_the_same_numbers_in_a_batch_of_any_size():
    """Sixteen streams' encoder steps in one call and each alone: bit for bit the same outputs and states (the
    integer products are exact in float32 however many rows share them)."""
    import torch

    from models.rnnt import RNNT, quantize_int8
    from nodes.decoder.node import DEFAULT_WEIGHTS

    model = quantize_int8(RNNT.from_checkpoint(torch.load(DEFAULT_WEIGHTS, weights_only=False)))
    encoder = model.encoder
    torch.manual_seed(0)
    feats = torch.randn(16, 8, model.config.n_mels)  # two encoder steps each
    c = model.config
    state = (torch.randn(c.enc_layers, 16, c.enc_hidden) * 0.3, torch.randn(c.enc_layers, 16, c.enc_hidden) * 0.3)
    out, (h, cell) = encoder(feats, state)
    for i in range(16):
        one, (h1, c1) = encoder(feats[i : i + 1], (state[0][:, i : i + 1], state[1][:, i : i + 1]))
        assert torch.equal(one, out[i : i + 1])
        assert torch.equal(h1, h[:, i : i + 1]) and torch.equal(c1, cell[:, i : i + 1])


def test_the_int8_prediction_and_joint_networks_give_a_hypothesis_the_same_scores_whatever_shares_its_call():
    """The beam search runs a round's hypotheses through the prediction network, the context attention and
    the joint network together, and caches the outputs: each row must be what it is alone, bit for bit, or
    a hypothesis' scores would depend on its neighbours and on when its cache entry was filled."""
    import torch

    from models.rnnt import RNNT, quantize_int8
    from tests.conftest import DEMO

    model = quantize_int8(RNNT.from_checkpoint(torch.load(DEFAULT_WEIGHTS, weights_only=False)))
    context = [line for line in (DEMO / "contacts.txt").read_text().splitlines() if line]
    memory = model.biaser.memory([context])
    torch.manual_seed(0)
    n, c = 24, model.config
    labels = torch.randint(1, c.vocab, (n, 1))
    history = (torch.randint(0, c.vocab, (1, n, c.pred_context - 1)),)
    enc = model.joint.enc(torch.randn(1, c.enc_hidden))

    def scores(rows: slice) -> torch.Tensor:
        with torch.no_grad():
            out, _ = model.predictor(labels[rows], (history[0][:, rows],))
            pred = model.joint.pred(model.biaser.bias_predictor(out[:, 0][None], memory)[0])
            return torch.log_softmax(model.joint.out(torch.tanh(enc + pred)), -1)

    together = scores(slice(0, n))
    for i in range(n):
        assert torch.equal(scores(slice(i, i + 1)), together[i : i + 1])
