"""The ASR recipe runs on the tiny corpus, checkpoints, and resumes where it stopped."""

from __future__ import annotations

import argparse
import random
from collections import Counter

import numpy as np
import pytest
import torch

from models.rnnt import RNNT, RNNTConfig, greedy_decode
from training.asr import batches, is_answer, train
from training.average import main as average_main
from training.ctc_head import encoder_outputs, fit
from training.ctc_head import main as ctc_head_main
from training.features import FeatureCache
from training.options import asr_arguments


def options(tiny, tmp_path, epochs: int) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    asr_arguments(p)
    return p.parse_args(
        [
            "--corpus",
            str(tiny),
            "--run",
            str(tmp_path / "run"),
            "--epochs",
            str(epochs),
            "--max-frames",
            "2500",
            "--weights",
            str(tmp_path / "w.pt"),
            "--dev-limit",
            "2",
            "--checkpoint-every",
            "1",
            "--tempo",
            "0.15",
            "--narrowband",
            "0.5",
            "--threads",
            "1",  # one torch thread: two spin against the Ray workers the suite leaves running
        ]
    )


def test_training_resumes_and_writes_weights(tiny, tmp_path):
    first = train(options(tiny, tmp_path, epochs=1))
    assert first["epoch"] == 1 and (tmp_path / "run" / "checkpoint.pt").exists()
    second = train(options(tiny, tmp_path, epochs=2))  # continues: one more epoch, not two
    assert second["epoch"] == 2 and second["step"] > first["step"]
    assert [h["epoch"] for h in second["history"]] == [0, 1]
    model = RNNT.from_checkpoint(torch.load(tmp_path / "w.pt", weights_only=False))
    cache = FeatureCache.build(tiny, "dev", tmp_path / "run" / "features")
    x = model.normalise(torch.from_numpy(cache.utterance(0).astype("float32"))[None])
    assert isinstance(greedy_decode(model, x)[0], list)

    # every epoch's weights stay in the run folder, and their average is a model like any other
    epochs = [tmp_path / "run" / f"epoch{e}.pt" for e in (0, 1)]
    average_main([*map(str, epochs), "--out", str(tmp_path / "avg.pt")])
    a, b = (torch.load(p, weights_only=False)["state"] for p in epochs)
    avg = RNNT.from_checkpoint(torch.load(tmp_path / "avg.pt", weights_only=False))
    name = "joint.out.weight"
    assert not torch.equal(a[name], b[name])
    assert torch.allclose(avg.state_dict()[name], (a[name].float() + b[name].float()) / 2, atol=1e-3)

    # a new machine, its checkpoint gone: the run goes on after the epoch whose weights were kept
    elsewhere = options(tiny, tmp_path / "elsewhere", epochs=2)
    elsewhere.continue_from = str(epochs[0])
    went_on = train(elsewhere)
    assert went_on["epoch"] == 2 and [h["epoch"] for h in went_on["history"]] == [0, 1]
    assert went_on["step"] == second["step"] and went_on["warm_from"] == first["step"]


def test_a_deeper_or_grown_encoder_starts_its_lower_layers_from_init_and_a_shallower_one_is_refused(tiny, tmp_path):
    train(options(tiny, tmp_path, epochs=1))
    deeper = options(tiny, tmp_path / "deeper", epochs=0)
    deeper.init, deeper.enc_layers = str(tmp_path / "w.pt"), 5
    train(deeper)
    init = torch.load(tmp_path / "w.pt", weights_only=False)["state"]
    grown = torch.load(tmp_path / "deeper" / "run" / "last.pt", weights_only=False)
    assert grown["config"]["enc_layers"] == 5
    for k in range(4):
        assert torch.equal(grown["state"][f"encoder.lstm.weight_hh_l{k}"], init[f"encoder.lstm.weight_hh_l{k}"])
    assert torch.equal(grown["state"]["joint.out.weight"], init["joint.out.weight"])

    residual = options(tiny, tmp_path / "residual", epochs=0)
    residual.init, residual.enc_residual = str(tmp_path / "w.pt"), 2
    train(residual)
    grown = torch.load(tmp_path / "residual" / "run" / "last.pt", weights_only=False)
    assert grown["config"]["enc_residual"] == 2
    assert all(grown["state"][f"encoder.gates.{k}.weight"].abs().sum() == 0 for k in range(2))
    assert torch.equal(grown["state"]["encoder.lstm.weight_hh_l3"], init["encoder.lstm.weight_hh_l3"])

    # averaged with the recogniser it grew from, whose gates count as shut
    gate = torch.full_like(grown["state"]["encoder.gates.0.weight"], 0.4)
    grown["state"]["encoder.gates.0.weight"] = gate
    grown["state"]["encoder.lstm.weight_hh_l0"] = grown["state"]["encoder.lstm.weight_hh_l0"] + 1
    torch.save(grown, tmp_path / "grown.pt")
    average_main([str(tmp_path / "w.pt"), str(tmp_path / "grown.pt"), "--out", str(tmp_path / "soup.pt")])
    soup = torch.load(tmp_path / "soup.pt", weights_only=False)
    assert soup["config"]["enc_residual"] == 2
    assert torch.allclose(soup["state"]["encoder.gates.0.weight"].float(), gate.float() / 2, atol=1e-3)
    name = "encoder.residual.0.weight_hh_l0"
    assert torch.equal(soup["state"][name], grown["state"][name])
    mean = (init["encoder.lstm.weight_hh_l0"].float() + grown["state"]["encoder.lstm.weight_hh_l0"].float()) / 2
    assert torch.allclose(soup["state"]["encoder.lstm.weight_hh_l0"].float(), mean, atol=1e-2)
    RNNT.from_checkpoint(soup)

    shallower = options(tiny, tmp_path / "shallower", epochs=0)
    shallower.init, shallower.enc_layers = str(tmp_path / "deeper" / "run" / "last.pt"), 4
    with pytest.raises(ValueError, match="weight_ih_l4"):
        train(shallower)


def test_a_feature_cache_computes_only_the_rows_added_to_its_split(tiny, tmp_path):
    import shutil

    corpus = tmp_path / "corpus"
    shutil.copytree(tiny, corpus)
    rows = (corpus / "train.jsonl").read_text().splitlines()
    (corpus / "train.jsonl").write_text("\n".join(rows[:-5]) + "\n")
    first = FeatureCache.build(corpus, "train", tmp_path / "features")
    first_frames = np.array(first.frames)
    (corpus / "train.jsonl").write_text("\n".join(rows) + "\n")
    grown = FeatureCache.build(corpus, "train", tmp_path / "features")
    whole = FeatureCache.build(tiny, "train", tmp_path / "whole")
    assert len(grown.rows) == len(rows) and np.array_equal(grown.frames[: len(first_frames)], first_frames)
    assert np.array_equal(np.asarray(grown.frames), np.asarray(whole.frames))
    assert list(grown.lengths) == list(whole.lengths) and list(grown.offsets) == list(whole.offsets)


def test_answer_repeat_shows_each_lone_answer_more_often(tiny, tmp_path):
    cache = FeatureCache.build(tiny, "train", tmp_path / "features")
    cache.rows[1] = {**cache.rows[1], "intent": "select", "names": ["lee"], "text": "lee"}  # the tiny corpus has none
    assert is_answer(cache.rows[1]) and not is_answer({"intent": "select", "names": [], "text": "the first one"})
    answers = {i for i, row in enumerate(cache.rows) if is_answer(row)}
    seen = Counter(i for batch in batches(cache, 2500, random.Random(0), answer_repeat=3) for i in batch)
    assert set(seen) == set(range(len(cache.rows)))  # nothing left out
    assert all(n == (3 if i in answers else 1) for i, n in seen.items())


def test_an_excluded_engine_is_never_computed_and_a_later_run_computes_only_its_rows(tiny, tmp_path, caplog):
    import json
    import shutil

    corpus = tmp_path / "corpus"
    shutil.copytree(tiny, corpus)
    rows = [json.loads(line) for line in (corpus / "train.jsonl").read_text().splitlines()]
    held = {1, 4}
    rows = [{**row, "engine": "rhvoice" if i in held else "espeak"} for i, row in enumerate(rows)]
    (corpus / "train.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    without = FeatureCache.build(corpus, "train", tmp_path / "features", exclude_engines=frozenset({"rhvoice"}))
    assert [row["id"] for row in without.rows] == [row["id"] for i, row in enumerate(rows) if i not in held]
    assert {i for batch in batches(without, 2500, random.Random(0)) for i in batch} == set(range(len(rows) - 2))
    with caplog.at_level("INFO", logger="training.features"):
        everything = FeatureCache.build(corpus, "train", tmp_path / "features")
    assert f"{len(rows) - 2} cached, 2 to compute" in caplog.text
    whole = FeatureCache.build(tiny, "train", tmp_path / "whole")
    assert list(everything.lengths) == list(whole.lengths)
    for i in range(len(rows)):
        assert np.array_equal(np.asarray(everything.utterance(i)), np.asarray(whole.utterance(i)))


def test_ctc_head_is_fitted_on_the_frozen_encoder_and_written_into_the_weights(tiny, tmp_path):
    torch.manual_seed(0)
    model = RNNT(RNNTConfig(context_dim=16)).eval()
    torch.save(model.checkpoint(), tmp_path / "w.pt")
    features = str(tmp_path / "features")
    cache = FeatureCache.build(tiny, "train", features)
    data = encoder_outputs(model, cache, list(range(len(cache.rows))), 2500)
    assert len(data) == len(cache.rows)

    def loss(head: torch.nn.Linear) -> float:
        with torch.no_grad():
            return sum(
                float(torch.nn.functional.ctc_loss(torch.log_softmax(head(e.float()), -1), y, [len(e)], [len(y)]))
                for e, y in data
            )

    torch.manual_seed(1)
    untrained = torch.nn.Linear(model.config.enc_hidden, model.config.vocab)
    assert loss(fit(model, data, epochs=20, lr=3e-2, seed=0)) < 0.8 * loss(
        untrained
    )  # a random encoder: it can only learn so much

    out = tmp_path / "c.pt"
    ctc_head_main(
        ["--weights", str(tmp_path / "w.pt"), "--out", str(out), "--corpus", str(tiny), "--features", features]
    )
    fitted = RNNT.from_checkpoint(torch.load(out, weights_only=False))
    assert fitted.ctc_head is not None and fitted.config.context_dim == 16
    before = model.state_dict()
    assert all(torch.equal(v, before[k].half().float()) for k, v in fitted.state_dict().items() if k in before)


def test_the_model_owns_its_losses_and_reads_the_context_through_them():
    torch.manual_seed(0)
    model = RNNT(RNNTConfig(context_dim=32, pred_context=4, ctc_head=True))
    feats = torch.randn(2, 64, 64)
    labels = torch.randint(1, 29, (2, 5))
    enc_lens, label_lens = torch.tensor([16, 12]), torch.tensor([5, 3])
    contexts = [["meg bauer"], ["kitchen lamp", "tobias"]]
    transducer, ctc = model(feats, labels, enc_lens, label_lens, contexts)
    assert transducer.item() > 0 and ctc is not None and ctc.item() > 0
    (transducer + ctc).backward()
    assert model.biaser is not None and any(
        p.grad is not None and p.grad.abs().sum() > 0 for p in model.biaser.parameters()
    )
    assert model.ctc_head.weight.grad.abs().sum() > 0
    plain, _ = model(feats, labels, enc_lens, label_lens)  # no context: the biasing layers are not read
    assert not torch.isclose(plain, transducer)
