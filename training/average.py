"""`speechgraph train average`: the mean of several epochs' weights, one model.

Epoch-to-epoch the recogniser's dev WER swings by a few points with the last
batches it saw; the average of the last few epochs' weights sits in the middle
of that wandering and decodes better than most of them (the usual `--avg` of
icefall). The recipe keeps each epoch's weights as `RUN/epochN.pt` for this.

A recogniser grown by gated residual layers (`--enc-residual`) averages with the
one it grew from: that one is the grown model with its gates shut, so its gates
count as zero and the residual layers' weights are the mean of those that have
them.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

GATES = "encoder.gates."
"""The residual layers' gates (`models.rnnt.Encoder`): a checkpoint without them has them at zero."""


def average(checkpoints: list[dict]) -> dict:
    """Mean of the float weights of model checkpoints with one config (up to the number of residual layers);
    other tensors from the deepest. A checkpoint with fewer residual layers counts as having their gates at
    zero; each residual layer's weights are the mean over the checkpoints that have it."""
    if not checkpoints:
        raise ValueError("nothing to average")
    configs = {json.dumps({**c["config"], "enc_residual": 0}, sort_keys=True) for c in checkpoints}
    if len(configs) > 1:
        raise ValueError("the checkpoints have different model configurations")
    deepest = max(reversed(checkpoints), key=lambda c: c["config"].get("enc_residual", 0))
    state = {}
    for name, value in deepest["state"].items():
        if not value.is_floating_point():
            state[name] = value
            continue
        have = [c["state"][name].float() for c in checkpoints if name in c["state"]]
        if name.startswith(GATES):
            have += [torch.zeros_like(have[0])] * (len(checkpoints) - len(have))
        state[name] = torch.stack(have).mean(0).to(value.dtype)
    words = sorted({w for c in checkpoints for w in c.get("words", ())})
    return {"config": deepest["config"], "state": state, "words": words}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="speechgraph train average", description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoints", nargs="+", help="model checkpoints (e.g. runs/asr_ctx/epoch4.pt ...)")
    parser.add_argument("--out", required=True, help="where the averaged model goes")
    parser.add_argument("--epoch", type=int, default=None, help="epoch number to record (default: the last one's)")
    args = parser.parse_args(argv)
    loaded = [torch.load(p, map_location="cpu", weights_only=False) for p in args.checkpoints]
    averaged = average(loaded)
    epoch = args.epoch if args.epoch is not None else loaded[-1].get("epoch")
    info = {"epoch": epoch, "averaged": [str(p) for p in args.checkpoints]}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    torch.save(averaged | info, args.out)
    print(json.dumps(info | {"out": args.out}))
    return info


if __name__ == "__main__":
    main()
