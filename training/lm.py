"""`speechgraph train lm`: the rescorer's class-based word LSTM language model.

On the speech set (`--corpus corpus_speech`, the default) the text is the broad
text of the train side only: the train manifest's sentences (not its word-list
drills), `--requests` more requests drawn from the train phrasings with the
train word lists, and the train share of the general sentences (WordNet
examples, fortunes); names, cities, countries and items are replaced by class
tokens, and the catalogs (every city, name, country and item of
`corpus.wordlists`: what the cloud knows) go into the checkpoint. On the assistant
corpus (`corpus_out`) it is drawn from the old request grammar with the train
names. Either way a sentence equal to a dev or test manifest sentence is
dropped, so no held-out sentence is seen. Fixed seed; resumable (a checkpoint in
`--run` after every `--checkpoint-every` steps and each epoch); the model goes
to `weights/lm.pt` with its dev perplexity.

Heavy imports (torch) wait until `train` runs, so `arguments` is cheap to import.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import random
import time
from collections import Counter
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

WEIGHTS = Path(__file__).resolve().parent.parent / "weights"
REQUEST_SHARE, LOOKALIKE_SHARE = 0.78, 0.14  # as corpus.build draws them; the rest is general speech


def arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--corpus", default="corpus_speech", help="corpus folder: its train text or names, and held-out manifests"
    )
    p.add_argument("--requests", type=int, default=100_000, help="speech set: requests drawn from train phrasings")
    p.add_argument("--vocab", type=int, default=6000, help="speech set: most frequent words kept (default 6000)")
    p.add_argument("--tie", action=argparse.BooleanOptionalAction, default=True, help="output layer = embedding")
    p.add_argument("--run", default="runs/lm", help="checkpoint and log (default runs/lm)")
    p.add_argument("--weights", default=str(WEIGHTS / "lm.pt"), help="where the model goes")
    p.add_argument("--sentences", type=int, default=200_000, help="assistant corpus: sentences drawn from the grammar")
    p.add_argument("--epochs", type=int, default=None, help="passes over the text (default 1 speech set, 4 grammar)")
    p.add_argument("--batch", type=int, default=128, help="sentences per batch (default 128)")
    p.add_argument("--lr", type=float, default=3e-3, help="learning rate (default 3e-3)")
    p.add_argument("--embed", type=int, default=128, help="word embedding size (default 128)")
    p.add_argument("--hidden", type=int, default=256, help="LSTM units (default 256)")
    p.add_argument("--unk-rate", type=float, default=0.02, help="share of training words replaced by <unk>")
    p.add_argument("--unk-logprob", type=float, default=-12.0, help="fixed log-probability of an unknown word")
    p.add_argument("--keep-heldout", action="store_true", help="keep drawn sentences equal to dev/test ones")
    p.add_argument("--checkpoint-every", type=int, default=500, help="steps between checkpoints (default 500)")
    p.add_argument("--max-minutes", type=float, default=0, help="stop (resumably) after this long; 0: no limit")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")


def _manifest(corpus: Path, split: str) -> list[dict]:
    path = corpus / f"{split}.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def training_text(corpus: Path, n: int, seed: int, keep_heldout: bool = False) -> tuple[list[list[str]], dict]:
    """`n` draws from the grammar with train names, as class-token sentences; and what was dropped."""
    from corpus import grammar
    from models.lm import with_classes

    splits = json.loads((corpus / "splits.json").read_text())
    train = splits["train"]
    pool = grammar.NamePool(tuple(train["first_names"]), tuple(train["last_names"]), tuple(train["devices"]))
    heldout = set() if keep_heldout else {r["text"] for s in ("dev", "test") for r in _manifest(corpus, s)}
    rng = random.Random(seed)
    out, dropped = [], Counter()
    for _ in range(n):
        roll = rng.random()
        if roll < REQUEST_SHARE:
            req = grammar.request(rng, pool)
        elif roll < REQUEST_SHARE + LOOKALIKE_SHARE:
            req = grammar.lookalike(rng)
        else:
            req = grammar.general_speech(rng)
        if req.text in heldout:
            dropped[req.text] += 1
            continue
        out.append(with_classes(req.text, req.slots, req.names))
    return out, {"drawn": n, "dropped": sum(dropped.values()), "dropped_distinct": len(dropped)}


def is_speech_set(corpus: Path) -> bool:
    """The speech set's manifests say which slice each row is from; the assistant corpus's do not."""
    rows = _manifest(corpus, "dev")
    return bool(rows) and "slice" in rows[0]


def speech_text(corpus: Path, requests: int, seed: int, keep_heldout: bool = False) -> tuple[list[list[str]], dict]:
    """The train side's broad text as class-token sentences: manifest rows (not the word drills), `requests`
    drawn from the train phrasings and word lists, and the train share of the general sentences."""
    from corpus import speech
    from models.lm import with_classes

    corpus_seed = int(json.loads((corpus / "summary.json").read_text()).get("seed", 0))
    lists = speech.word_lists(corpus_seed)["train"]
    heldout = set() if keep_heldout else {r["text"] for s in ("dev", "test") for r in _manifest(corpus, s)}
    rng = random.Random(seed)
    texts: list[tuple[str, dict, list]] = [
        (r["text"], r.get("slots", {}), r.get("names", [])) for r in _manifest(corpus, "train") if r["slice"] != "words"
    ]
    for _ in range(requests):
        req = speech.phrased_request(rng, "train", lists, corpus_seed)
        texts.append((req["text"], req["slots"], req["names"]))
    texts += [(s, {}, []) for s in lists.sentences]
    out, dropped = [], 0
    for text, slots, names in texts:
        if text in heldout:
            dropped += 1
            continue
        out.append(with_classes(text, slots, names))
    return out, {"drawn": len(texts), "dropped": dropped, "dropped_distinct": dropped}


def catalogs() -> dict[str, list[str]]:
    """The cloud's catalogs (every split's entries: a gazetteer is knowledge, not held-out speech)."""
    from corpus import lexicon, wordlists
    from models.lm import CITY, COUNTRY, FIRST, ITEM, LAST

    firsts, lasts = wordlists.people()
    common = set(wordlists.words(30_000))
    food = [w for w in wordlists.wordnet_lemmas("noun.food") if all(p in common for p in w.split())]
    items = sorted(set(food) | {i for i in lexicon.ITEMS})
    return {
        CITY: list(wordlists.cities()),
        COUNTRY: list(wordlists.countries()),
        ITEM: items,
        FIRST: list(firsts),
        LAST: list(lasts),
    }


def dev_sentences(corpus: Path) -> list[list[str]]:
    from models.lm import with_classes

    return [with_classes(r["text"], r.get("slots", {}), r.get("names", [])) for r in _manifest(corpus, "dev")]


def perplexity(model: Any, sentences: list[list[str]], batch: int = 256) -> tuple[float, int]:
    """Per-token perplexity (with </s>; <unk> at the network's own probability) and the number of <unk>s."""
    import torch

    from models.lm import BOS, EOS, UNK

    model.eval()
    total, tokens, unks = 0.0, 0, 0
    with torch.no_grad():
        for k in range(0, len(sentences), batch):
            ids = _pad([model.ids([BOS, *s, EOS]) for s in sentences[k : k + batch]])
            logp = torch.log_softmax(model(ids[:, :-1]), -1).gather(-1, ids[:, 1:, None])[..., 0]
            mask = ids[:, 1:] != 0
            total += float(logp[mask].sum())
            tokens += int(mask.sum())
            unks += int((ids == model.index[UNK]).sum())
    model.train()
    return math.exp(-total / max(1, tokens)), unks


def _pad(rows: list[list[int]]) -> Any:
    import torch

    ids = torch.zeros(len(rows), max(len(r) for r in rows), dtype=torch.long)
    for b, r in enumerate(rows):
        ids[b, : len(r)] = torch.tensor(r)
    return ids


def train(args: argparse.Namespace) -> dict:
    import numpy as np
    import torch

    from models.lm import BOS, EOS, SPECIALS, UNK, Catalogs, LMConfig, WordLM
    from training.run import Checkpoint, EpochLoop, start_run

    run = start_run(args.run, args.threads)
    corpus = Path(args.corpus)
    started = time.monotonic()
    speech_set = is_speech_set(corpus)
    if args.epochs is None:
        args.epochs = 1 if speech_set else 4
    if speech_set:
        text, drops = speech_text(corpus, args.requests, args.seed, args.keep_heldout)
    else:
        text, drops = training_text(corpus, args.sentences, args.seed, args.keep_heldout)
    log.info("training text: %d sentences (%s)", len(text), drops)
    counts = Counter(w for s in text for w in s if w not in SPECIALS)
    kept = [w for w, _ in counts.most_common(args.vocab)] if speech_set else list(counts)
    vocab = (*SPECIALS, *sorted(kept))
    dev = dev_sentences(corpus)

    torch.manual_seed(args.seed)
    tie = bool(args.tie and speech_set)
    config = LMConfig(vocab, args.embed, args.hidden, unk_logprob=args.unk_logprob, tie=tie)
    model = WordLM(config)
    if speech_set:
        model.catalogs = Catalogs.from_lists(catalogs())
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-5)
    loop = EpochLoop(
        Checkpoint(run / "checkpoint.pt", model, opt),
        epochs=args.epochs,
        checkpoint_every=args.checkpoint_every,
        max_minutes=args.max_minutes,
        extra={"vocab": vocab},
    )
    loop.resume()
    log.info("model: %d parameters, vocabulary %d", model.n_params(), len(vocab))

    encoded = [model.ids([BOS, *s, EOS]) for s in text]
    unk, n_special = model.index[UNK], len(SPECIALS)
    total_steps = args.epochs * math.ceil(len(encoded) / args.batch)
    model.train()
    for epoch in loop.each_epoch():
        rng = np.random.default_rng(args.seed * 1000 + epoch)
        order = rng.permutation(len(encoded))
        plan = [order[k : k + args.batch] for k in range(0, len(order), args.batch)]
        losses: list[float] = []
        for ids_b in loop.batches(plan, f"lm epoch {epoch}"):
            ids = _pad([encoded[i] for i in ids_b])
            noise = np.random.default_rng((args.seed, epoch, loop.state["batch_in_epoch"])).random(ids.shape)
            ids[(ids >= n_special) & (torch.from_numpy(noise) < args.unk_rate)] = unk
            lr = args.lr * 0.5 * (1 + math.cos(math.pi * min(1.0, loop.step / max(1, total_steps))))
            for g in opt.param_groups:
                g["lr"] = lr
            logits = model(ids[:, :-1])
            loss = torch.nn.functional.cross_entropy(
                logits.reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1), ignore_index=0
            )
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            losses.append(loss.item())
            if loop.step % 50 == 0:
                loop.postfix(loss=f"{np.mean(losses[-50:]):.3f}", lr=f"{lr:.1e}")
        if loop.epoch_finished:
            ppl, _ = perplexity(model, dev)
            loop.end_epoch({"loss": float(np.mean(losses or [0])), "dev_ppl": ppl})
            log.info("epoch %d: loss %.3f, dev perplexity %.2f", epoch, np.mean(losses or [0]), ppl)
    state = loop.state

    ppl, unks = perplexity(model, dev)
    out = Path(args.weights)
    out.parent.mkdir(parents=True, exist_ok=True)
    figures = {"dev_perplexity": round(ppl, 3), "dev_unk_tokens": unks, "epoch": state["epoch"], "step": state["step"]}
    torch.save(model.checkpoint() | figures | {"text": drops, "corpus": corpus.name}, out)
    result = figures | {
        "weights": str(out),
        "file_mb": round(out.stat().st_size / 1e6, 3),
        "parameters": model.n_params(),
        "vocabulary": len(vocab),
        "catalogs": model.catalogs.sizes(),
        "sentences": len(text),
        "text": drops,
        "minutes": round((time.monotonic() - started) / 60, 2),
        "finished": state["epoch"] >= args.epochs,
    }
    (run / "result.json").write_text(json.dumps(result | {"history": state["history"]}, indent=1))
    log.info("wrote %s: %s", out, result)
    return result


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="speechgraph train lm", description=__doc__.split("\n\n")[0])
    arguments(parser)
    result = train(parser.parse_args(argv))
    print(
        f"language model: {result['parameters']} parameters ({result['file_mb']} MB), vocabulary "
        f"{result['vocabulary']}, {result['sentences']} sentences ({result['text']['dropped']} held-out draws "
        f"dropped); dev perplexity {result['dev_perplexity']:.2f} ({result['dev_unk_tokens']} <unk> tokens)"
    )
    return result


if __name__ == "__main__":
    main()
