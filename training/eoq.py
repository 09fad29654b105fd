"""`speechgraph train eoq`: the end-pointer's learned end-of-query model (`models.eoq`).

Inputs come from `training.endpoint_signals` (shared with the end-pointer benchmark):
silero-vad and the shipped recogniser run over train recordings extended past
the end of speech, so the model sees what the EndPointer node sees. Each 32 ms
window after the first speech is one example, labelled by whether the speech
has ended by then (the manifest's `speech_end`); mid-request pauses are the
hard negatives. Full-batch training of a small MLP (one tanh layer, `--hidden` units), fixed seed, seconds on one
core; the thresholds are chosen on dev by `speechgraph bench endpoint`.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import numpy as np

from audio import ticks

log = logging.getLogger(__name__)

WEIGHTS = Path(__file__).resolve().parent.parent / "weights" / "endpointer_eoq.json"


def arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--corpus", default="corpus_out", help="corpus folder (default corpus_out)")
    p.add_argument("--limit", type=int, default=800, help="train recordings with the wake word to use")
    p.add_argument("--dev-limit", type=int, default=200, help="dev recordings for the reported loss")
    p.add_argument("--asr-weights", default="weights/asr_rnnt.pt", help="the recogniser whose signals the model reads")
    p.add_argument("--cache", default="runs/endpoint", help="cached VAD and decoder signals (shared with the bench)")
    p.add_argument("--hidden", type=int, default=32, help="units of the hidden layer (default 32)")
    p.add_argument("--steps", type=int, default=2000, help="full-batch training steps (default 2000)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--weights", default=str(WEIGHTS), help="where the model goes")


def examples(corpus: str, split: str, limit: int, asr_weights: str, cache: str) -> tuple[np.ndarray, np.ndarray]:
    """(features, labels) of every window after the first speech, over `limit` recordings of `split`."""
    from models.eoq import SPEECH, STRICT
    from training.endpoint_signals import collect, eoq_inputs, steps

    ns = argparse.Namespace(
        corpus=corpus, split=split, limit=limit, weights=asr_weights, beam=8, cache=cache, extend_s=3.0
    )
    xs, ys = [], []
    for u in collect(ns):
        s = steps(u, (SPEECH, STRICT))
        seen = s.speech_end[SPEECH] >= 0
        xs.append(eoq_inputs(s, u)[seen])
        ys.append((s.t[seen] >= ticks(u.speech_end)).astype(np.float32))
    return np.concatenate(xs), np.concatenate(ys)


def train(args: argparse.Namespace) -> dict:
    import torch

    from models.eoq import EndOfQuery

    torch.manual_seed(args.seed)
    x, y = examples(args.corpus, "train", args.limit, args.asr_weights, args.cache)
    dx, dy = examples(args.corpus, "dev", args.dev_limit, args.asr_weights, args.cache)
    mean, std = x.mean(0), x.std(0) + 1e-3
    net = torch.nn.Sequential(
        torch.nn.Linear(x.shape[1], args.hidden), torch.nn.Tanh(), torch.nn.Linear(args.hidden, 1)
    )
    opt = torch.optim.Adam(net.parameters(), lr=0.01)
    xt, yt = torch.from_numpy((x - mean) / std), torch.from_numpy(y)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    for step in range(args.steps):
        opt.zero_grad()
        loss = loss_fn(net(xt).squeeze(1), yt)
        loss.backward()
        opt.step()
        if step % 500 == 0:
            log.info("step %d: loss %.4f", step, loss.item())
    w1, b1 = net[0].weight.detach().numpy().T, net[0].bias.detach().numpy()
    w2, b2 = net[2].weight.detach().numpy()[0], float(net[2].bias.item())
    model = EndOfQuery(mean, std, w1, b1, w2, b2)

    def report(xs: np.ndarray, ys: np.ndarray) -> dict:
        p = np.clip(model.prob(xs), 1e-6, 1 - 1e-6)
        return {
            "windows": len(ys),
            "log_loss": round(float(-(ys * np.log(p) + (1 - ys) * np.log(1 - p)).mean()), 4),
            "accuracy": round(float(((p >= 0.5) == (ys >= 0.5)).mean()), 4),
        }

    result = {"train": report(x, y), "dev": report(dx, dy), "recordings": args.limit, "asr_weights": args.asr_weights}
    Path(args.weights).write_text(json.dumps(model.to_dict() | {"trained": result}, indent=1) + "\n")
    return result


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="speechgraph train eoq", description=__doc__.split("\n\n")[0])
    arguments(parser)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    result = train(parser.parse_args(argv))
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
