"""`python3 -m bench.rescore`: tune the cloud rescorer on dev, measure it on test.

Decodes each split's wake-word utterances from the request start with the
shipped recogniser (beam search, contextual biasing with the same per-user
contexts as `bench asr`), caches the lattices in `runs/rescore/` (keyed by the
recogniser's weights, so a better model is decoded afresh), grid-searches the
LM weight, length bonus and n-best depth on the tuning split, and reports on the
test split WER and name recall before and after rescoring, with the oracle WER
of the lattice's n-best and of all candidates the rescorer considers. The tuned
values go to `weights/rescorer.json`, which the rescorer node reads as defaults.

Re-run it whenever `weights/asr_rnnt.pt` improves: one command, same result for
the same weights. Heavy imports wait until `run`, so `arguments` is cheap.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import itertools
import json
import logging
import random
import time
from pathlib import Path
from typing import Any

from nodes.decoder.context import BONUS, MAX_BONUS

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent
LM_WEIGHTS = (0.0, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0, 1.5, 2.0)
MIN_GAIN = 0.03
"""A setting that beats the first pass on dev by less than this (relative WER) is not kept: on 200 dev
requests that is a word or two, and with the epoch-39 recogniser such a setting (length bonus 0.5, dev
0.082 -> 0.081) changed 5 test requests, all for the worse."""
LENGTH_BONUSES = (-1.0, -0.5, 0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0)
NBESTS = (4, 8, 16)
ALTERNATIVES = (0, 2, 4)


def _floats(text: str) -> tuple[float, ...]:
    return tuple(float(v) for v in text.split(","))


def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(v) for v in text.split(","))


def arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--corpus", default="corpus_out", help="corpus folder (default corpus_out)")
    p.add_argument("--tune-split", default="dev", choices=("dev", "test"), help="split the settings are chosen on")
    p.add_argument("--test-split", default="test", choices=("dev", "test"), help="split they are measured on")
    p.add_argument("--limit", type=int, default=200, help="wake-word utterances per split (0: all)")
    p.add_argument("--tune-limit", type=int, default=None, help="utterances of the tuning split (default --limit)")
    p.add_argument(
        "--min-gain",
        type=float,
        default=MIN_GAIN,
        help="relative dev WER gain a setting needs to replace the first pass (smaller gains are noise)",
    )
    p.add_argument("--asr-weights", default=str(ROOT / "weights" / "asr_rnnt.pt"), help="the recogniser")
    p.add_argument("--lm", default=str(ROOT / "weights" / "lm.pt"), help="the rescorer's language model")
    p.add_argument("--features", default="runs/asr/features", help="feature cache folder (shared with bench asr)")
    p.add_argument("--lattices", default="runs/rescore", help="lattice cache folder")
    p.add_argument("--beam", type=int, default=8, help="beam width of the search (default 8)")
    p.add_argument("--bonus", type=float, default=BONUS, help="biasing bonus per matched character (as the decoder)")
    p.add_argument("--max-bonus", type=float, default=MAX_BONUS, help="biasing bonus per phrase at most (as decoder)")
    p.add_argument("--distractors", type=int, default=20, help="other contacts in each user's context")
    p.add_argument("--chunk-frames", type=int, default=32, help="feature frames per decoding chunk")
    p.add_argument("--alternatives", type=_ints, default=ALTERNATIVES, help="grid of one-word substitutions per entry")
    p.add_argument("--lm-weights", type=_floats, default=LM_WEIGHTS, help="grid, comma-separated")
    p.add_argument("--length-bonuses", type=_floats, default=LENGTH_BONUSES, help="grid, comma-separated")
    p.add_argument("--nbests", type=_ints, default=NBESTS, help="grid of n-best depths")
    p.add_argument("--jobs", type=int, default=1, help="decoding processes")
    p.add_argument("--out-config", default=str(ROOT / "weights" / "rescorer.json"), help="tuned values go here")
    p.add_argument("--json", default=None, help="write the full result here")


# -- first pass: lattices, cached -------------------------------------------------------------


def _tag(args: argparse.Namespace, weights: bytes) -> str:
    """What the lattices depend on: the recogniser's bytes, the decoder's code and the decoding options."""
    h = hashlib.sha1(weights)
    for source in sorted((ROOT / "nodes" / "decoder").glob("*.py")):
        h.update(source.read_bytes())
    h.update(f"{args.beam}:{args.bonus}:{args.max_bonus}:{args.distractors}:{args.chunk_frames}".encode())
    return h.hexdigest()[:12]


def pick(rows: list[dict], limit: int) -> list[int]:
    """Indices of up to `limit` wake-word utterances, a fixed random sample in manifest order."""
    ids = [i for i, r in enumerate(rows) if r.get("wake_word", True)]
    random.Random(0).shuffle(ids)
    return sorted(ids[:limit] if limit else ids)


_W: dict[str, Any] = {}


def _init_worker(args: argparse.Namespace, split: str) -> None:
    import torch

    from models.rnnt import RNNT
    from nodes.decoder.beam import BeamSearch
    from training.features import FeatureCache

    torch.set_num_threads(1)
    model = RNNT.from_checkpoint(_W["asr"])
    _W["search"] = BeamSearch(model, beam=args.beam)
    _W["cache"] = FeatureCache.build(args.corpus, split, Path(args.features), jobs=1)
    _W["names"] = json.loads((Path(args.corpus) / "splits.json").read_text())[split]
    _W["args"] = args


def _decode(i: int) -> dict:
    import numpy as np

    from corpus.contexts import row_context
    from nodes.decoder.context import ContextGraph

    args, cache, search = _W["args"], _W["cache"], _W["search"]
    row = cache.rows[i]
    context = row_context(row, _W["names"], args.distractors)
    graph = ContextGraph(context, args.bonus, args.max_bonus)
    frames = np.asarray(cache.utterance(i)[cache.starts[i] :], dtype=np.float32)
    st = search.start()
    for k in range(0, len(frames), args.chunk_frames):
        search.accept(st, frames[k : k + args.chunk_frames], graph)
    lattice = search.lattice(st, graph)
    return {"id": row["id"], "context": context, "first_pass": lattice.best(), "lattice": lattice.to_dict()}


def lattices(args: argparse.Namespace, split: str, limit: int) -> tuple[list[dict], list[dict]]:
    """(manifest rows, decoded records) of the split's sample; decodes only what the cache lacks."""
    import multiprocessing

    from tqdm import tqdm

    rows = [json.loads(line) for line in (Path(args.corpus) / f"{split}.jsonl").read_text().splitlines()]
    ids = pick(rows, limit)
    out = Path(args.lattices)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{split}-{_W['tag']}.jsonl"
    done: dict[str, dict] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            if line.strip():
                rec = json.loads(line)
                done[rec["id"]] = rec
    todo = [i for i in ids if rows[i]["id"] not in done]
    if todo:
        log.info("decoding %d %s utterances into %s", len(todo), split, path)
        with path.open("a") as f:
            if args.jobs > 1:
                with multiprocessing.get_context("fork").Pool(args.jobs, _init_worker, (args, split)) as pool:
                    results = pool.imap(_decode, todo, chunksize=4)
                    for rec in tqdm(results, total=len(todo), desc=f"decoding {split}"):
                        f.write(json.dumps(rec) + "\n")
                        f.flush()
                        done[rec["id"]] = rec
            else:
                _init_worker(args, split)
                for i in tqdm(todo, desc=f"decoding {split}"):
                    rec = _decode(i)
                    f.write(json.dumps(rec) + "\n")
                    f.flush()
                    done[rec["id"]] = rec
    chosen = [rows[i] for i in ids]
    return chosen, [done[r["id"]] for r in chosen]


# -- second pass: candidates, LM scores, the grid -----------------------------------------------


def score_candidates(
    lm: Any, records: list[dict], nbests: tuple[int, ...], alternatives: tuple[int, ...]
) -> list[dict]:
    """Per record: candidates for each (n-best depth, substitutions), first-pass and LM scores, LM time."""
    from nodes.decoder.lattice import Lattice
    from nodes.rescorer import candidates

    out = []
    for rec in records:
        lat = Lattice.from_dict(rec["lattice"])
        per = {(n, a): candidates(lat, n, a) for n in nbests for a in alternatives}
        texts = sorted({t for c in per.values() for t, _ in c})
        started = time.perf_counter()
        scores = dict(zip(texts, lm.score(texts, rec["context"]), strict=True)) if texts else {}
        ms = (time.perf_counter() - started) * 1000
        out.append({"per": per, "lm": scores, "lm_ms": ms, "lattice": lat})
    return out


def choose(scored: dict, setting: dict, fallback: str) -> str:
    """The best candidate under one setting of the grid (nbest, alternatives, lm_weight, length_bonus)."""
    from nodes.rescorer import combine

    w, b = setting["lm_weight"], setting["length_bonus"]
    cands = scored["per"][setting["nbest"], setting["alternatives"]]
    if not cands:
        return fallback
    return max(cands, key=lambda c: combine(c[1], scored["lm"][c[0]], len(c[0].split()), w, b))[0]


def grid(rows: list[dict], records: list[dict], scored: list[dict], args: argparse.Namespace) -> list[dict]:
    from bench import metrics

    results = []
    for n, a, w, b in itertools.product(args.nbests, args.alternatives, args.lm_weights, args.length_bonuses):
        setting = {"nbest": n, "alternatives": a, "lm_weight": w, "length_bonus": b}
        hyps = {r["id"]: choose(s, setting, rec["first_pass"]) for r, rec, s in zip(rows, records, scored)}
        rec_ = metrics.recognition(rows, hyps)
        results.append(setting | {"wer": rec_.wer, "name_recall": rec_.name_recall})
    return results


def _oracle(rows: list[dict], texts_per_row: list[list[str]]) -> float:
    import jiwer

    errors = words = 0
    for r, texts in zip(rows, texts_per_row, strict=True):
        n = len(r["text"].split())
        errors += round(min((jiwer.process_words(r["text"], t or "").wer * n for t in texts), default=n))
        words += n
    return round(errors / max(1, words), 4)


def evaluate(rows: list[dict], records: list[dict], scored: list[dict], best: dict) -> dict:
    import numpy as np

    from bench import metrics

    before = {r["id"]: rec["first_pass"] for r, rec in zip(rows, records)}
    after = {r["id"]: choose(s, best, rec["first_pass"]) for r, rec, s in zip(rows, records, scored)}
    b, a = metrics.recognition(rows, before), metrics.recognition(rows, after)
    nbest_texts = [[t for t, _ in s["lattice"].nbest(best["nbest"])] for s in scored]
    cand_texts = [[t for t, _ in s["per"][best["nbest"], best["alternatives"]]] for s in scored]
    changed = [r for r in rows if before[r["id"]] != after[r["id"]]]
    delta = [metrics.wer([r["text"]], [after[r["id"]]]) - metrics.wer([r["text"]], [before[r["id"]]]) for r in changed]
    ms = [s["lm_ms"] for s in scored]
    return {
        "utterances": len(rows),
        "wer_first_pass": b.wer,
        "wer_rescored": a.wer,
        "name_recall_first_pass": b.name_recall,
        "name_recall_rescored": a.name_recall,
        "oracle_wer_nbest": _oracle(rows, nbest_texts),
        "oracle_wer_candidates": _oracle(rows, cand_texts),
        "changed": len(changed),
        "changed_better": sum(d < 0 for d in delta),
        "changed_worse": sum(d > 0 for d in delta),
        "lm_ms_p50": round(float(np.percentile(ms, 50)), 2) if ms else None,
        "lm_ms_p90": round(float(np.percentile(ms, 90)), 2) if ms else None,
        "examples": [
            {"ref": r["text"], "first_pass": before[r["id"]], "rescored": after[r["id"]]} for r in changed[:8]
        ],
    }


def run(args: argparse.Namespace) -> dict:
    import torch

    from models.lm import WordLM

    torch.set_num_threads(1)
    lm_ckpt = torch.load(args.lm, weights_only=False)
    lm = WordLM.from_checkpoint(lm_ckpt)
    weights = Path(args.asr_weights).read_bytes()  # once: training may overwrite the file meanwhile
    _W["asr"] = asr_ckpt = torch.load(io.BytesIO(weights), weights_only=False)
    _W["tag"] = _tag(args, weights)
    asr = {"epoch": asr_ckpt.get("epoch"), "dev_wer_at_save": asr_ckpt.get("dev_wer"), "tag": _W["tag"]}

    tune_limit = args.limit if args.tune_limit is None else args.tune_limit
    dev_rows, dev_recs = lattices(args, args.tune_split, tune_limit)
    dev_scored = score_candidates(lm, dev_recs, args.nbests, args.alternatives)
    table = grid(dev_rows, dev_recs, dev_scored, args)
    best = min(
        table,
        key=lambda g: (
            g["wer"],
            -(g["name_recall"] or 0),
            g["lm_weight"],
            abs(g["length_bonus"]),
            g["alternatives"],
            g["nbest"],
        ),
    )
    first_pass = {"nbest": min(args.nbests), "alternatives": 0, "lm_weight": 0.0, "length_bonus": 0.0}
    tuned = evaluate(dev_rows, dev_recs, dev_scored, best)
    if tuned["wer_rescored"] > tuned["wer_first_pass"] * (1.0 - args.min_gain):
        log.info("best setting %s gains less than %.0f%% on dev: keeping the first pass", best, 100 * args.min_gain)
        best = first_pass
        tuned = evaluate(dev_rows, dev_recs, dev_scored, best)

    test_rows, test_recs = lattices(args, args.test_split, args.limit)
    test_scored = score_candidates(lm, test_recs, args.nbests, args.alternatives)
    test = evaluate(test_rows, test_recs, test_scored, best)

    config = {
        "lm_weight": best["lm_weight"],
        "length_bonus": best["length_bonus"],
        "nbest": best["nbest"],
        "alternatives": best["alternatives"],
        "tuned_on": {
            "split": args.tune_split,
            "utterances": len(dev_rows),
            "wer_first_pass": tuned["wer_first_pass"],
            "wer_rescored": tuned["wer_rescored"],
            "recogniser": asr,
            "lm_dev_perplexity": lm_ckpt.get("dev_perplexity"),
        },
        "test": {k: v for k, v in test.items() if k != "examples"} | {"split": args.test_split},
    }
    out = Path(args.out_config)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(config, indent=1) + "\n")
    result = {"config": config, "tune": tuned, "test": test, "grid": table, "recogniser": asr}
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    return result


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="speechgraph bench rescore", description=__doc__.split("\n\n")[0])
    arguments(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    return report(args)


def report(args: argparse.Namespace) -> dict:
    """Run the benchmark and print its table."""
    result = run(args)
    c, tune, test = result["config"], result["tune"], result["test"]
    print(f"recogniser {result['recogniser']}")
    print(
        f"tuned on {c['tuned_on']['split']} ({tune['utterances']} utts): lm_weight {c['lm_weight']}, "
        f"length_bonus {c['length_bonus']}, nbest {c['nbest']}, alternatives {c['alternatives']}: "
        f"WER {tune['wer_first_pass']:.3f} -> {tune['wer_rescored']:.3f}"
    )
    fmt = lambda v: "-" if v is None else f"{v:.3f}"  # noqa: E731
    print(f"{args.test_split} ({test['utterances']} utts){'':<6}{'first pass':>12}{'rescored':>12}")
    print(f"{'WER':<24}{fmt(test['wer_first_pass']):>12}{fmt(test['wer_rescored']):>12}")
    print(f"{'name recall':<24}{fmt(test['name_recall_first_pass']):>12}{fmt(test['name_recall_rescored']):>12}")
    print(
        f"oracle WER: {c['nbest']}-best {test['oracle_wer_nbest']:.3f}, all candidates "
        f"{test['oracle_wer_candidates']:.3f}; changed {test['changed']} (better {test['changed_better']}, "
        f"worse {test['changed_worse']}); LM time p50 {test['lm_ms_p50']} ms, p90 {test['lm_ms_p90']} ms"
    )
    print(f"wrote {args.out_config}")
    return result


if __name__ == "__main__":
    main()
