"""`speechgraph train ctc-head`: a CTC output layer fitted on a finished recogniser's encoder.

The decoder's second pass (`nodes.decoder.verify`) reads every candidate through
the RNN-T, whose prediction network carries a language model of the training
requests: it pulls a name said on its own towards the command words requests
start with, and it has never seen the names a context brings. A CTC layer on
the encoder scores the same candidates from the audio alone (each frame's
letters independent of the text before them), the way hybrid CTC/attention
systems rescore. The recipe trains such a layer beside the RNN-T as an
auxiliary loss, but shipped weights are an average of several epochs, so the
layer is fitted again here on the averaged encoder, which stays frozen: one
linear layer, a few minutes on two cores. It is written into the weights file.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from models.rnnt import RNNT
from training.asr import batches, collate
from training.features import FeatureCache

log = logging.getLogger(__name__)


@torch.no_grad()
def encoder_outputs(model: RNNT, cache: FeatureCache, ids: list[int], max_frames: int) -> list[tuple]:
    """(encoder frames, letters) of each utterance, the encoder frozen; float16 to keep memory small."""
    wanted = set(ids)
    plan = [[i for i in b if i in wanted] for b in batches(cache, max_frames, random.Random(0))]
    out = []
    for b in tqdm([b for b in plan if b], desc="encoder"):
        x, y, t, u = collate(cache, b, model, None)
        enc, _ = model.encoder(x)
        out += [(enc[k, : t[k]].half(), y[k, : u[k]]) for k in range(len(b))]
    return out


def fit(model: RNNT, data: list[tuple], epochs: int, lr: float, seed: int) -> torch.nn.Linear:
    data = list(data)  # shuffled here, not the caller's
    torch.manual_seed(seed)
    head = torch.nn.Linear(model.config.enc_hidden, model.config.vocab)
    opt = torch.optim.Adam(head.parameters(), lr=lr)
    rng = random.Random(seed)
    for epoch in range(epochs):
        rng.shuffle(data)
        losses = []
        bar = tqdm(range(0, len(data), 64), desc=f"ctc head {epoch}")
        for k in bar:
            chunk = data[k : k + 64]
            enc = torch.nn.utils.rnn.pad_sequence([e.float() for e, _ in chunk], batch_first=True)
            y = torch.nn.utils.rnn.pad_sequence([q for _, q in chunk], batch_first=True)
            t = torch.tensor([len(e) for e, _ in chunk])
            u = torch.tensor([len(q) for _, q in chunk])
            lp = torch.log_softmax(head(enc), -1).transpose(0, 1)
            loss = torch.nn.functional.ctc_loss(lp, y, t, u, zero_infinity=True)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
            bar.set_postfix(loss=f"{np.mean(losses[-50:]):.3f}")
        log.info("ctc head epoch %d: loss %.3f", epoch, float(np.mean(losses)))
    return head


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="speechgraph train ctc-head", description=__doc__.split("\n\n")[0])
    parser.add_argument("--weights", default="weights/asr_rnnt.pt", help="the recogniser; the head is written into it")
    parser.add_argument("--out", default=None, help="write the result here instead of over --weights")
    parser.add_argument("--corpus", default="corpus_out", help="corpus folder (default corpus_out)")
    parser.add_argument("--features", default="runs/asr/features", help="feature cache of the train split")
    parser.add_argument("--utterances", type=int, default=0, help="train utterances it is fitted on (0: all)")
    parser.add_argument("--epochs", type=int, default=10, help="passes over the train split (default 10)")
    parser.add_argument("--lr", type=float, default=3e-3, help="learning rate (default 3e-3)")
    parser.add_argument("--max-frames", type=int, default=12000, help="padded frames per batch (default 12000)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(args.threads)
    ckpt = torch.load(args.weights, map_location="cpu", weights_only=False)
    model = RNNT.from_checkpoint(ckpt).eval()
    cache = FeatureCache.build(args.corpus, "train", args.features, jobs=args.threads)
    ids = sorted(
        random.Random(args.seed).sample(
            range(len(cache.rows)), min(args.utterances or len(cache.rows), len(cache.rows))
        )
    )
    head = fit(model, encoder_outputs(model, cache, ids, args.max_frames), args.epochs, args.lr, args.seed)
    config = {**ckpt["config"], "ctc_head": True}
    state = {k: v for k, v in ckpt["state"].items() if not k.startswith("ctc_head.")}
    state |= {f"ctc_head.{k}": v.half() for k, v in head.state_dict().items()}
    out = Path(args.out or args.weights)
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(ckpt | {"config": config, "state": state, "ctc_head_fitted_on": len(ids)}, out)
    info = {"out": str(out), "utterances": len(ids), "epochs": args.epochs}
    print(json.dumps(info))
    return info


if __name__ == "__main__":
    main()
