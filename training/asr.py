"""`speechgraph train asr`: the streaming RNN-T recipe.

Resumable: a checkpoint (model, optimiser, step, epoch, RNG states) is written
every `--checkpoint-every` steps and at each epoch's end; running the same
command again continues from it. The best model on dev (greedy WER) is written
to `weights/asr_rnnt.pt` with its figures, so a run can stop at any time; every
epoch's weights stay in the run folder (`epochN.pt`) for `speechgraph train average`.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import random
from pathlib import Path

import jiwer
import numpy as np
import torch

from corpus.contexts import own_phrases, row_context
from models.rnnt import RNNT, RNNTConfig, greedy_decode
from models.tokens import decode, encode
from training.features import FeatureCache
from training.run import Checkpoint, EpochLoop, start_run
from training.speaker_augment import colour, narrowband, stretch, vtlp

log = logging.getLogger(__name__)


def is_answer(row: dict) -> bool:
    """A name said on its own, answering the device's question ("lee" after "Mia Lee or Mia Green?")."""
    return row.get("intent") == "select" and bool(row.get("names")) and len(row["text"].split()) == 1


def batches(
    cache: FeatureCache,
    max_frames: int,
    rng: random.Random,
    answer_repeat: int = 1,
) -> list[list[int]]:
    """Length-sorted buckets of about `max_frames` frames each, in random order; each one-word answer
    `answer_repeat` times (in different buckets, each time with its own masking and context)."""
    ids = [i for i, row in enumerate(cache.rows) for _ in range(answer_repeat if is_answer(row) else 1)]
    order = sorted(ids, key=lambda i: cache.lengths[i] - cache.starts[i] + rng.random() * 20)
    out, cur, longest = [], [], 0
    for i in order:
        n = int(cache.lengths[i] - cache.starts[i])
        if cur and max(longest, n) * (len(cur) + 1) > max_frames:
            out.append(cur)
            cur, longest = [], 0
        cur.append(i)
        longest = max(longest, n)
    if cur:
        out.append(cur)
    rng.shuffle(out)
    return out


def spec_augment(x: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    """Two frequency masks and time masks (about 5% of the frames) per utterance, in place."""
    B, T, F = x.shape
    for b in range(B):
        for _ in range(2):
            w = int(rng.integers(0, 9))
            f0 = int(rng.integers(0, F - w + 1))
            x[b, :, f0 : f0 + w] = 0
        for _ in range(max(1, T // 100)):
            w = int(rng.integers(0, min(30, max(1, T // 10)) + 1))
            t0 = int(rng.integers(0, max(1, T - w)))
            x[b, t0 : t0 + w] = 0
    return x


def collate(
    cache: FeatureCache,
    ids: list[int],
    model: RNNT,
    jitter: np.random.Generator | None,
    warp: float = 0.0,
    tempo: float = 0.0,
    channel: float = 0.0,
    narrow: float = 0.0,
):
    """A padded, normalised batch; with `jitter`, each utterance cut, warped, coloured, paced and (a share
    `narrow` of them) band-limited anew."""
    feats, labels = [], []
    for i in ids:
        start = int(cache.starts[i])
        if jitter is not None and start:
            start = max(0, start + int(jitter.integers(-5, 16)))  # the gate's cut is not exact
        f = np.asarray(cache.utterance(i)[start:], dtype=np.float32)
        if jitter is not None and tempo > 0:
            f = stretch(f, float(jitter.uniform(1 - tempo, 1 + tempo)))
        f = torch.from_numpy(np.ascontiguousarray(f))
        if jitter is not None:
            f = narrowband(colour(vtlp(f, jitter, warp), jitter, channel), jitter, narrow)
        feats.append(f)
        labels.append(torch.tensor(encode(cache.texts[i]), dtype=torch.long))
    T = max(len(f) for f in feats)
    U = max(1, max(len(label) for label in labels))
    x = torch.zeros(len(ids), T, feats[0].shape[1])
    y = torch.zeros(len(ids), U, dtype=torch.long)
    for b, (f, label) in enumerate(zip(feats, labels, strict=True)):
        x[b, : len(f)] = f
        y[b, : len(label)] = label
    x = (x - model.feat_mean.cpu()) / model.feat_std.cpu()
    for b, f in enumerate(feats):
        x[b, len(f) :] = 0
    t_enc = torch.tensor([len(f) // model.config.stack for f in feats])
    u = torch.tensor([len(label) for label in labels])
    return x, y, t_enc, u


def training_context(row: dict, pool: list[str], rng: random.Random) -> list[str]:
    """What a user's device might hold while this request is said: 0-40 other names, and (mostly) the
    request's own; sometimes its own is missing, so the model learns not to force a phrase in."""
    context = rng.sample(pool, rng.randint(0, min(40, len(pool))))
    if rng.random() < 0.85:
        context += own_phrases(row)
    return context


def dev_wer(
    model: RNNT, cache: FeatureCache, limit: int, split_names: dict | None = None
) -> tuple[float, list[tuple[str, str]]]:
    """Greedy WER on the first `limit` dev utterances; with learned biasing, each with its context."""
    ids = list(range(min(limit, len(cache.texts))))
    refs, hyps = [], []
    for k in range(0, len(ids), 16):
        chunk = ids[k : k + 16]
        x, _, _, _ = collate(cache, chunk, model, None)
        contexts = [row_context(cache.rows[i], split_names) for i in chunk] if split_names else None
        device = next(model.parameters()).device
        for i, out in zip(chunk, greedy_decode(model, x.to(device), contexts), strict=True):
            refs.append(cache.texts[i])
            hyps.append(decode(out).strip())
    model.train()
    return float(jiwer.wer(refs, hyps)), list(zip(refs, hyps, strict=True))[:5]


def train(args: argparse.Namespace) -> dict:
    run = start_run(args.run, args.threads)
    jobs = args.jobs or args.threads
    excluded = frozenset(args.exclude_engine)
    train_cache = FeatureCache.build(args.corpus, "train", run / "features", jobs=jobs, exclude_engines=excluded)
    dev_cache = FeatureCache.build(args.corpus, "dev", run / "features", jobs=jobs)
    device = torch.device(args.device)
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True

    torch.manual_seed(args.seed)
    config = RNNTConfig(
        enc_layers=args.enc_layers,
        enc_residual=args.enc_residual,
        context_dim=args.context_dim,
        pred_context=args.pred_context,
        ctc_head=True,
    )
    model = RNNT(config).to(device)
    model.words = frozenset(w for text in train_cache.texts for w in text.split())
    pool = sorted({p for row in train_cache.rows for p in own_phrases(row)})
    dev_names = json.loads((Path(args.corpus) / "splits.json").read_text())["dev"] if model.biaser else None
    if args.train_only:  # the other parts keep the weights they start from
        for name, q in model.named_parameters():
            q.requires_grad_(name.split(".")[0] in args.train_only)
    # The decoder's second pass reads the audio through the same CTC layer the loss trains.
    trained = [q for q in model.parameters() if q.requires_grad]
    learned_bias = {id(q) for q in model.biaser.parameters()} if model.biaser else set()
    groups = [
        {"params": [q for q in trained if id(q) not in learned_bias]},
        # new layers on a trained recogniser: they start from nothing and learn faster
        {"params": [q for q in trained if id(q) in learned_bias], "lr_scale": args.context_lr_scale},
    ]
    groups = [g for g in groups if g["params"]]
    opt = torch.optim.AdamW(groups, lr=args.lr, weight_decay=1e-4)
    loop = EpochLoop(
        Checkpoint(run / "checkpoint.pt", model, opt),
        epochs=args.epochs,
        checkpoint_every=args.checkpoint_every,
        max_minutes=args.max_minutes,
    )
    if loop.resume():
        pass
    elif args.continue_from and Path(args.continue_from).exists():
        kept = torch.load(args.continue_from, weights_only=False, map_location="cpu")
        model.load_state_dict(RNNT.from_checkpoint(kept).state_dict())
        loop.continue_after(kept["epoch"], kept["step"], kept.get("history"))
        loop.state["best_wer"] = min((h["dev_wer"] for h in loop.history), default=kept["dev_wer"])
    elif args.init and Path(args.init).exists():
        init = RNNT.from_checkpoint(torch.load(args.init, weights_only=False, map_location="cpu")).state_dict()
        own = model.state_dict()
        fits = {k: v for k, v in init.items() if k in own and own[k].shape == v.shape}
        missing, _ = model.load_state_dict(fits, strict=False)
        # New parts may start from scratch: biasing, a prediction network of another kind, the CTC layer, and
        # encoder layers above the ones --init has; anything of --init that does not load is a mistake.
        misfit = [k for k in init if k not in fits and not k.startswith(("biaser.", "predictor.", "ctc_head."))]
        if misfit:
            raise ValueError(f"{args.init} does not fit this model: {misfit}")
        log.info("no checkpoint in %s: starting from the weights in %s", run, args.init)
        if missing:
            log.info("new layers, starting from scratch: %s", ", ".join(missing))
    else:
        mean, std = train_cache.stats()
        model.feat_mean.copy_(mean)
        model.feat_std.copy_(std)
    state = loop.state
    state.setdefault("best_wer", math.inf)
    log.info("model: %d parameters (%.1f MB float32)", model.n_params(), model.n_params() * 4 / 1e6)

    model.train()
    for epoch in loop.each_epoch():
        rng = random.Random(args.seed * 1000 + epoch)
        nrng = np.random.default_rng(args.seed * 1000 + epoch)
        plan = batches(train_cache, args.max_frames, rng, args.answer_repeat)
        losses = []
        for ids in loop.batches(plan, f"epoch {epoch}"):
            x, y, t, u = collate(train_cache, ids, model, nrng, args.vtlp, args.tempo, args.colour, args.narrowband)
            x, y, t, u = (v.to(device, non_blocking=True) for v in (spec_augment(x, nrng), y, t, u))
            lr = args.lr * min(1.0, (loop.steps_since_warm_start + 1) / args.warmup) * (args.decay**epoch)
            for g in opt.param_groups:
                g["lr"] = lr * g.get("lr_scale", 1.0)
            contexts = (
                [training_context(train_cache.rows[i], pool, rng) for i in ids] if model.biaser is not None else None
            )
            transducer, ctc = model(x, y, t, u, contexts)
            loss = transducer + args.ctc_weight * ctc
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            opt.step()
            losses.append(transducer.item())
            loop.postfix(loss=f"{np.mean(losses[-50:]):.3f}", lr=f"{lr:.1e}")
        if not loop.epoch_finished:
            continue
        wer, examples = dev_wer(model, dev_cache, args.dev_limit, dev_names)
        loss = float(np.mean(losses or [0]))
        loop.end_epoch({"loss": loss, "dev_wer": wer})
        log.info("epoch %d: loss %.3f, dev WER (greedy, %d utts) %.3f", epoch, loss, args.dev_limit, wer)
        for ref, hyp in examples:
            log.info("  ref: %s\n  hyp: %s", ref, hyp)
        weights = model.checkpoint() | {"dev_wer": wer, "epoch": epoch, "step": loop.step, "history": loop.history}
        torch.save(weights, run / f"epoch{epoch}.pt")  # for `speechgraph train average`
        if wer < state["best_wer"]:
            state["best_wer"] = wer
            out = Path(args.weights)
            out.parent.mkdir(parents=True, exist_ok=True)
            torch.save(weights, out)
            log.info("new best: %s", out)
    (run / "history.json").write_text(json.dumps(loop.history, indent=1))
    torch.save(model.checkpoint() | {"epoch": state["epoch"], "step": loop.step}, run / "last.pt")
    return state
