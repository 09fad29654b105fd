"""`speechgraph train char-lm`: the character n-gram the device's first pass fuses with the recogniser.

The text is the speech set's train side only, broad text first: the train
share of the general sentences (WordNet examples, fortunes) and of the word
lists (common words, people's names, cities, countries, items, topics, one
per line), the train manifest's rows, and `--requests` requests drawn from the
train phrasings. A line equal to a dev or test manifest sentence is dropped,
so no held-out sentence, phrasing or word list is seen. Counting takes about
a minute; the model goes to `weights/char_lm.npz` with its dev perplexity per
character in `weights/char_lm.json`.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import time
from pathlib import Path

from models.char_lm import CharNgram

log = logging.getLogger(__name__)

WEIGHTS = Path(__file__).resolve().parent.parent / "weights"


def arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--corpus", default="corpus_speech", help="the speech set: its train text and held-out manifests")
    p.add_argument("--order", type=int, default=6, help="characters per n-gram, the predicted one included")
    p.add_argument("--min-count", type=int, default=10, help="contexts seen fewer times read a shorter one")
    p.add_argument("--requests", type=int, default=20_000, help="requests drawn from the train phrasings")
    p.add_argument("--out", default=str(WEIGHTS / "char_lm.npz"), help="where the model goes")
    p.add_argument("--seed", type=int, default=0, help="random seed of the drawn requests")


def _manifest(corpus: Path, split: str) -> list[dict]:
    path = corpus / f"{split}.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def training_text(corpus: Path, requests: int, seed: int) -> tuple[list[str], int]:
    """The train side's lines (see the module's docstring) and how many were dropped as held-out sentences."""
    from corpus import speech

    corpus_seed = int(json.loads((corpus / "summary.json").read_text()).get("seed", 0))
    lists = speech.word_lists(corpus_seed)["train"]
    rng = random.Random(seed)
    lines = [*lists.sentences, *lists.words, *lists.first, *lists.last, *lists.cities, *lists.countries]
    lines += [*lists.items, *lists.topics, *lists.devices]
    lines += [r["text"] for r in _manifest(corpus, "train")]
    lines += [speech.phrased_request(rng, "train", lists, corpus_seed)["text"] for _ in range(requests)]
    heldout = {r["text"] for s in ("dev", "test") for r in _manifest(corpus, s)}
    kept = [t for t in lines if t not in heldout]
    return kept, len(lines) - len(kept)


def train(args: argparse.Namespace) -> dict:
    corpus = Path(args.corpus)
    started = time.time()
    text, dropped = training_text(corpus, args.requests, args.seed)
    log.info("%d lines (%d held-out sentences dropped)", len(text), dropped)
    model = CharNgram.train(text, order=args.order, min_count=args.min_count)
    out = Path(args.out)
    model.save(out)
    dev = [r["text"] for r in _manifest(corpus, "dev")]
    result = {
        "order": args.order,
        "min_count": args.min_count,
        "contexts": len(model.contexts),
        "lines": len(text),
        "characters": sum(len(t) + 1 for t in text),
        "dropped_heldout": dropped,
        "dev_perplexity_per_char": round(model.perplexity(dev), 3),
        "file_mb": round(out.stat().st_size / 1e6, 2),
        "minutes": round((time.time() - started) / 60, 1),
    }
    out.with_suffix(".json").write_text(json.dumps(result, indent=1) + "\n")
    return result


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="speechgraph train char-lm", description=__doc__.split("\n\n")[0])
    arguments(parser)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    result = train(parser.parse_args(argv))
    print(
        f"character {result['order']}-gram: {result['contexts']} contexts ({result['file_mb']} MB) from "
        f"{result['lines']} lines; dev perplexity {result['dev_perplexity_per_char']} per character"
    )
    return result


if __name__ == "__main__":
    main()
