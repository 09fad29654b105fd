"""`speechgraph bench rescore`: tune the cloud rescorer and the confidence on dev, measure them on test.

Decodes each split with the shipped recogniser (beam search, contextual biasing
with the same per-user contexts as `bench asr`; on the speech set every row of
every slice, on the assistant corpus its wake-word utterances), caches the
lattices in `runs/rescore/` (keyed by the recogniser's weights and the decoder's
code, so a better model is decoded afresh), grid-searches the LM weight, the
internal-LM weight, the length bonus and the candidates on dev, and reports on
test WER per slice, name recall and entity error rates (contacts; catalog
entities: cities, countries, items, artists, never in a device's context)
before and after rescoring, the oracle WER of the candidates, and the LM's time
per request (the node's own code). The tuned values go to
`weights/rescorer.json`, which the rescorer node reads (`RescorerConfig.load`).

Then the confidence (`nodes.confidence`): the posteriors' temperature and a small
logistic calibration fitted on dev, and the NLU's threshold: the highest at which
at most `--max-reject` of dev's correctly recognised requests are turned away. On
the held-out phrasing and out-of-domain rows of test it reports the false-action
rate against the rejection of correctly recognised requests, as a curve
(`--curve` draws it). A false action: the NLU acts on the hypothesis and the
action differs from the truth; the truth is the NLU's reading of the reference
text (`heard`: what a perfect recogniser would have made the assistant do; the
figure confidence is for) and, as a second column, the manifest's gold intent and
slots (which also counts the parser's own mistakes). The values go to
`weights/confidence.json` (the rescorer's `ConfidenceConfig` and the NLU's `NLUConfig` read it).

Re-run it whenever `weights/asr_rnnt.pt` or `weights/lm.pt` changes: one
command, same result for the same weights. Heavy imports wait until `run`.
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

from models.char_lm import SHIPPED as CHAR_LM
from nodes.decoder import BEAM
from nodes.decoder.context import BONUS, MAX_BONUS

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent
LM_WEIGHTS = (0.0, 0.3, 0.5, 0.7, 1.0, 1.5)
ILM_WEIGHTS = (0.0, 0.1, 0.2, 0.4)
TEMPERATURES = (0.5, 1.0, 2.0, 3.0, 5.0, 8.0, 12.0)
MAX_REJECT = 0.10
"""The NLU's threshold turns away at most this share of dev's correctly recognised requests."""
MIN_GAIN = 0.03
"""A setting that beats the first pass on dev by less than this (relative WER) is not kept: on 200 dev
requests that is a word or two, and with the epoch-39 recogniser such a setting (length bonus 0.5, dev
0.082 -> 0.081) changed 5 test requests, all for the worse."""
LENGTH_BONUSES = (0.0, 1.0, 2.0, 3.0, 4.0, 5.0)
NBESTS = (4, 8)
ALTERNATIVES = (0, 4)
CATALOG_PENALTIES = (None, 0.0, 3.0)


def _floats(text: str) -> tuple[float, ...]:
    return tuple(float(v) for v in text.split(","))


def _penalties(text: str) -> tuple[float | None, ...]:
    return tuple(None if v.strip() == "off" else float(v) for v in text.split(","))


def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(v) for v in text.split(","))


def arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--corpus", default="corpus_speech", help="corpus folder (default corpus_speech, the speech set)")
    p.add_argument("--tune-split", default="dev", choices=("dev", "test"), help="split the settings are chosen on")
    p.add_argument("--test-split", default="test", choices=("dev", "test"), help="split they are measured on")
    p.add_argument(
        "--limit", type=int, default=None, help="utterances per split (0: all; default all on the speech set, 200)"
    )
    p.add_argument("--slices", default="", help="speech set: slices to use, comma-separated (default all)")
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
    p.add_argument("--beam", type=int, default=BEAM, help=f"beam width of the search (default {BEAM})")
    p.add_argument("--bonus", type=float, default=BONUS, help="biasing bonus per matched character (as the decoder)")
    p.add_argument("--max-bonus", type=float, default=MAX_BONUS, help="biasing bonus per phrase at most (as decoder)")
    p.add_argument("--distractors", type=int, default=20, help="other contacts in each user's context")
    p.add_argument("--chunk-frames", type=int, default=32, help="feature frames per decoding chunk")
    p.add_argument("--alternatives", type=_ints, default=ALTERNATIVES, help="grid of one-word substitutions per entry")
    p.add_argument("--lm-weights", type=_floats, default=LM_WEIGHTS, help="grid, comma-separated")
    p.add_argument("--ilm-weights", type=_floats, default=ILM_WEIGHTS, help="grid of internal-LM weights (subtracted)")
    p.add_argument(
        "--catalog-penalties",
        type=_penalties,
        default=CATALOG_PENALTIES,
        help="grid of scores lost per respelled span (catalog or vocabulary), comma-separated; 'off' for none "
        "(default off,0,3)",
    )
    p.add_argument("--temperatures", type=_floats, default=TEMPERATURES, help="grid of posterior temperatures")
    p.add_argument("--max-reject", type=float, default=MAX_REJECT, help="dev rejections of correct requests at most")
    p.add_argument("--confidence-out", default=str(ROOT / "weights" / "confidence.json"), help="confidence values")
    p.add_argument("--curve", default=None, help="draw test's false-action curve to this PNG")
    p.add_argument("--length-bonuses", type=_floats, default=LENGTH_BONUSES, help="grid, comma-separated")
    p.add_argument("--nbests", type=_ints, default=NBESTS, help="grid of n-best depths")
    p.add_argument("--jobs", type=int, default=1, help="decoding processes")
    p.add_argument("--out-config", default=str(ROOT / "weights" / "rescorer.json"), help="tuned values go here")
    p.add_argument("--json", default=None, help="write the full result here")


# -- first pass: lattices, cached -------------------------------------------------------------


def _tag(args: argparse.Namespace, weights: bytes) -> str:
    """What the lattices depend on: the recogniser's bytes, the decoder's code, its character language model
    (code, tuned weights, file) and the decoding options."""
    h = hashlib.sha1(weights)
    for source in [*sorted((ROOT / "nodes" / "decoder").glob("*.py")), ROOT / "models" / "char_lm.py", CHAR_LM]:
        h.update(source.read_bytes())
    h.update(f"{args.beam}:{args.bonus}:{args.max_bonus}:{args.distractors}:{args.chunk_frames}".encode())
    return h.hexdigest()[:12]


def pick(rows: list[dict], limit: int, slices: tuple[str, ...] = ()) -> list[int]:
    """Indices of up to `limit` utterances, a fixed random sample in manifest order.

    On the speech set (rows with a `slice`): the rows of `slices` (all when empty); on the assistant
    corpus: its wake-word utterances (the others are look-alikes and general speech with no request).
    """
    if any("slice" in r for r in rows):
        ids = [i for i, r in enumerate(rows) if not slices or r.get("slice") in slices]
    else:
        ids = [i for i, r in enumerate(rows) if r.get("wake_word", True)]
    random.Random(0).shuffle(ids)
    return sorted(ids[:limit] if limit else ids)


_W: dict[str, Any] = {}


def _init_worker(args: argparse.Namespace, split: str) -> None:
    import torch

    from models.char_lm import LM_WEIGHT, CharNgram
    from models.rnnt import RNNT
    from nodes.decoder.beam import BeamSearch
    from training.features import FeatureCache

    torch.set_num_threads(1)
    model = RNNT.from_checkpoint(_W["asr"])
    _W["search"] = BeamSearch(model, beam=args.beam, lm=CharNgram.load(CHAR_LM) if LM_WEIGHT else None)
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
    ids = pick(rows, limit, tuple(x for x in args.slices.split(",") if x))
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


def edit_errors(ref: list[str], hyp: list[str]) -> int:
    """Word edit distance."""
    prev = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        cur = [i]
        for j, h in enumerate(hyp, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (r != h)))
        prev = cur
    return prev[-1]


def cands_of(entries: list[tuple[str, float, int]]) -> list[tuple[str, float]]:
    return [(t, s) for t, s, _ in entries]


def score_candidates(
    lm: Any, ilm: Any, rows: list[dict], records: list[dict], nbests: tuple[int, ...], alternatives: tuple[int, ...]
) -> list[dict]:
    """Per record: candidates for each (n-best depth, substitutions), first-pass, LM and internal-LM scores, and
    each candidate's word errors against the reference (so the grid needs no alignment)."""
    from tqdm import tqdm

    from nodes.decoder.lattice import Lattice
    from nodes.rescorer import RESPELL_TOP, candidates, context_words, respellers

    spellers = respellers(lm)
    out = []
    for row, rec in tqdm(list(zip(rows, records, strict=True)), desc="LM scores"):
        lat = Lattice.from_dict(rec["lattice"])
        per = {}
        for n in nbests:
            for a in alternatives:
                cands = [(t, s, 0) for t, s in candidates(lat, n, a)]
                score, keep = {t: s for t, s, _ in cands}, context_words(rec["context"])
                cands += [
                    (p.text, score[p.source], p.rewrites)
                    for respeller in spellers
                    for p in respeller.propose(cands_of(cands), RESPELL_TOP, keep)
                ]
                per[n, a] = cands
        texts = sorted({t for c in per.values() for t, _, _ in c})
        scores = dict(zip(texts, lm.score(texts, rec["context"]), strict=True)) if texts else {}
        internal = dict(zip(texts, ilm.score(texts), strict=True)) if texts else {}
        ref = row["text"].split()
        errors = {t: edit_errors(ref, t.split()) for t in texts}
        out.append({"per": per, "lm": scores, "ilm": internal, "errors": errors, "ref_words": len(ref), "lattice": lat})
    return out


def ranked(scored: dict, setting: dict) -> list[tuple[str, float]]:
    """The candidates of one setting (nbest, alternatives, lm_weight, ilm_weight, length_bonus), best first."""
    from nodes.rescorer import combine

    w, wi, b = setting["lm_weight"], setting.get("ilm_weight", 0.0), setting["length_bonus"]
    pen = setting.get("catalog_penalty")
    out = [
        (t, combine(s - (pen or 0.0) * n, scored["lm"][t], len(t.split()), w, b, scored["ilm"][t], wi))
        for t, s, n in scored["per"][setting["nbest"], setting["alternatives"]]
        if n == 0 or pen is not None
    ]
    return sorted(out, key=lambda ts: ts[1], reverse=True)


def choose(scored: dict, setting: dict, fallback: str) -> str:
    """The best candidate under one setting of the grid."""
    best = ranked(scored, setting)
    return best[0][0] if best else fallback


def grid(rows: list[dict], records: list[dict], scored: list[dict], args: argparse.Namespace) -> list[dict]:
    """Dev WER of every setting, from the candidates' error counts."""
    words = sum(s["ref_words"] for s in scored) or 1
    results = []
    product = itertools.product(
        args.nbests, args.alternatives, args.lm_weights, args.ilm_weights, args.length_bonuses, args.catalog_penalties
    )
    for n, a, w, wi, b, pen in product:
        if (wi or pen is not None) and not w:
            continue  # subtracting the internal LM or respelling with no external LM to judge: nothing to gain
        setting = {
            "nbest": n, "alternatives": a, "lm_weight": w, "ilm_weight": wi, "length_bonus": b, "catalog_penalty": pen
        }  # fmt: skip
        errors = 0
        for rec, s in zip(records, scored, strict=True):
            t = choose(s, setting, rec["first_pass"])
            errors += s["errors"].get(t, s["ref_words"])
        results.append(setting | {"wer": round(errors / words, 4)})
    return results


def _oracle(rows: list[dict], texts_per_row: list[list[str]]) -> float:
    errors = words = 0
    for r, texts in zip(rows, texts_per_row, strict=True):
        ref = r["text"].split()
        errors += min((edit_errors(ref, t.split()) for t in texts), default=len(ref))
        words += len(ref)
    return round(errors / max(1, words), 4)


def recognition(rows: list[dict], before: dict[str, str], after: dict[str, str]) -> dict:
    """WER (all and per slice), name recall and entity error rates, first pass and rescored."""
    from bench import metrics

    out: dict[str, Any] = {}
    groups = {"all": rows} | {
        k: [r for r in rows if r.get("slice") == k] for k in sorted({r["slice"] for r in rows if "slice" in r})
    }
    for name, hyps in (("first_pass", before), ("rescored", after)):
        rec = metrics.recognition(rows, hyps)
        out[name] = {
            "wer": rec.wer,
            "wer_by_slice": {k: metrics.recognition(g, hyps).wer for k, g in groups.items() if k != "all"},
            "name_recall": rec.name_recall,
            "context_entity_errors": metrics.entity_errors(rows, hyps, metrics.CONTEXT_SLOTS),
            "catalog_entity_errors": metrics.entity_errors(rows, hyps, metrics.CATALOG_SLOTS),
            "catalog_entity_errors_by_slice": {
                k: metrics.entity_errors(g, hyps, metrics.CATALOG_SLOTS) for k, g in groups.items() if k != "all"
            },
        }
    return out


def evaluate(rows: list[dict], records: list[dict], scored: list[dict], best: dict) -> dict:
    from bench import metrics

    before = {r["id"]: rec["first_pass"] for r, rec in zip(rows, records)}
    after = {r["id"]: choose(s, best, rec["first_pass"]) for r, rec, s in zip(rows, records, scored)}
    b, a = metrics.recognition(rows, before), metrics.recognition(rows, after)
    nbest_texts = [[t for t, _ in s["lattice"].nbest(best["nbest"])] for s in scored]
    cand_texts = [[t for t, _ in ranked(s, best)] for s in scored]
    changed = [r for r in rows if before[r["id"]] != after[r["id"]]]
    delta = [metrics.wer([r["text"]], [after[r["id"]]]) - metrics.wer([r["text"]], [before[r["id"]]]) for r in changed]
    return {
        "utterances": len(rows),
        "wer_first_pass": b.wer,
        "wer_rescored": a.wer,
        "name_recall_first_pass": b.name_recall,
        "name_recall_rescored": a.name_recall,
        "detail": recognition(rows, before, after),
        "oracle_wer_nbest": _oracle(rows, nbest_texts),
        "oracle_wer_candidates": _oracle(rows, cand_texts),
        "changed": len(changed),
        "changed_better": sum(d < 0 for d in delta),
        "changed_worse": sum(d > 0 for d in delta),
        "examples": [
            {"ref": r["text"], "first_pass": before[r["id"]], "rescored": after[r["id"]]} for r in changed[:12]
        ],
    }


def lm_time(args: argparse.Namespace, records: list[dict], best: dict) -> dict:
    """The rescorer node's own ranking (LM, internal LM, catalog respelling, confidence) timed per request: CPU
    time of its one thread (on a shared machine wall time also counts other processes' turns), and wall time."""
    import numpy as np

    from nodes.confidence import FEATURES, ConfidenceConfig
    from nodes.messages import LatticeMessage
    from nodes.rescorer import LatticeRescorer

    node = LatticeRescorer(
        weights=args.lm,
        lm_weight=best["lm_weight"],
        ilm_weight=best.get("ilm_weight", 0.0),
        length_bonus=best["length_bonus"],
        nbest=best["nbest"],
        alternatives=best["alternatives"],
        catalog_penalty=best["catalog_penalty"],
        deadline_ms=None,
        asr_weights=args.asr_weights,
        confidence=ConfidenceConfig(weights=[0.0] * (len(FEATURES) + 1)),  # as shipped: the winner's LM read is taken
    )
    ms, wall = [], []
    for rec in records:
        msg = LatticeMessage(
            stream="bench", start=0, end=1, utterance=0, revision=0, lattice=rec["lattice"],
            text=rec["first_pass"], nbest=(), context=tuple(rec["context"]),
        )  # fmt: skip
        started, cpu = time.perf_counter(), time.process_time()
        result = node.rank(msg)
        best_words = result.ranked[0][0].split() if result.ranked else []
        unknown = node.lm.unknown_share(best_words, msg.context)
        node.confidence.judge(result.ranked, result.lm_best, unknown, rec["lattice"].get("reading"))
        ms.append((time.process_time() - cpu) * 1000)
        wall.append((time.perf_counter() - started) * 1000)
    return {
        "p50": round(float(np.percentile(ms, 50)), 2),
        "p90": round(float(np.percentile(ms, 90)), 2),
        "wall_p50": round(float(np.percentile(wall, 50)), 2),
        "wall_p90": round(float(np.percentile(wall, 90)), 2),
        "note": "CPU time of one thread (p50/p90); wall_* include waiting for a shared core",
    }


# -- confidence ---------------------------------------------------------------------------------


def confidence_items(
    rows: list[dict], records: list[dict], scored: list[dict], best: dict, conf: Any, lm: Any
) -> list[dict]:
    """Per utterance: the features, confidence and what the NLU would do, against both truths."""
    from nodes.confidence import feature_vector, reading_distance, word_confidences
    from nodes.nlu import parse

    out = []
    for r, rec, s in zip(rows, records, scored, strict=True):
        rank = ranked(s, best) or [(rec["first_pass"], 0.0)]
        text = rank[0][0]
        words, post = word_confidences(rank, conf.temperature)
        lm_best = s["lm"].get(text)
        per_word = None if lm_best is None else lm_best / (len(text.split()) + 1)
        hyp = parse(text, rec["context"])
        heard = parse(r["text"], rec["context"])
        unknown = lm.unknown_share(text.split(), rec["context"])
        distance = reading_distance(text, rec["lattice"].get("reading"))
        out.append(
            {
                "id": r["id"],
                "slice": r.get("slice"),
                "x": feature_vector(words, post[0], per_word, conf.lm_fill, unknown, distance, conf.reading_fill),
                "confidence": conf.utterance(words, post[0], per_word, unknown, distance),
                "action": (hyp.intent, sorted(hyp.slots.items())),
                "heard": (heard.intent, sorted(heard.slots.items())),
                "gold": (r["intent"], sorted(r["slots"].items())),
                "request": r["intent"] != "none",
                "correct": text.split() == r["text"].split(),
            }
        )
    return out


def _auc(scores: list[float], labels: list[bool]) -> float:
    """Probability that a right transcript scores above a wrong one (ties count half)."""
    pos = [s for s, y in zip(scores, labels, strict=True) if y]
    neg = [s for s, y in zip(scores, labels, strict=True) if not y]
    if not pos or not neg:
        return 0.5
    import numpy as np

    p, n = np.asarray(pos)[:, None], np.asarray(neg)[None, :]
    return round(float((p > n).mean() + 0.5 * (p == n).mean()), 4)


def curve(items: list[dict], truth: str) -> list[dict]:
    from bench import metrics

    for it in items:
        it["truth"] = it[truth]
    thresholds = sorted({0.0, *(round(k / 100, 2) for k in range(1, 100)), *(it["confidence"] for it in items)})
    return metrics.action_curve(items, thresholds)


def tune_confidence(
    rows: list[dict], records: list[dict], scored: list[dict], best: dict, args: argparse.Namespace, lm: Any
) -> tuple[Any, float, dict]:
    """Temperature and calibration (a `ConfidenceConfig`) and the NLU's threshold on dev; what each choice
    measured."""
    import numpy as np

    from nodes.confidence import ConfidenceConfig, fit_logistic, reading_distance

    lm_values = [s["lm"].get(choose(s, best, rec["first_pass"])) for rec, s in zip(records, scored, strict=True)]
    lengths = [len(choose(s, best, rec["first_pass"]).split()) + 1 for rec, s in zip(records, scored, strict=True)]
    per_word = [v / n for v, n in zip(lm_values, lengths, strict=True) if v is not None]
    fill = round(float(np.mean(per_word)), 3) if per_word else ConfidenceConfig.lm_fill
    distances = [
        reading_distance(choose(s, best, rec["first_pass"]), rec["lattice"].get("reading"))
        for rec, s in zip(records, scored, strict=True)
    ]
    known = [d for d in distances if d is not None]
    reading_fill = round(float(np.mean(known)), 3) if known else ConfidenceConfig.reading_fill
    fills = {"lm_fill": fill, "reading_fill": reading_fill}
    by_temp = {}
    for t in args.temperatures:
        items = confidence_items(rows, records, scored, best, ConfidenceConfig(temperature=t, **fills), lm)
        by_temp[t] = _auc([it["confidence"] for it in items], [it["correct"] for it in items])
    temperature = max(by_temp, key=lambda t: (by_temp[t], -abs(t - 1)))
    raw = ConfidenceConfig(temperature=temperature, **fills)
    items = confidence_items(rows, records, scored, best, raw, lm)
    x = [it["x"] for it in items]
    y = [int(it["correct"]) for it in items]
    # 5-fold cross-validation on dev: does the calibration rank right and wrong transcripts better than the raw?
    folds = np.arange(len(items)) % 5
    cv_scores = np.zeros(len(items))
    for k in range(5):
        train = [i for i in range(len(items)) if folds[i] != k]
        w = fit_logistic([x[i] for i in train], [y[i] for i in train])
        fold = ConfidenceConfig(temperature=temperature, weights=w, **fills)
        for i in np.where(folds == k)[0]:
            cv_scores[i] = fold.calibrate(x[i])
    cv_auc = _auc(cv_scores.tolist(), [bool(v) for v in y])
    raw_auc = by_temp[temperature]
    weights = fit_logistic(x, y) if cv_auc > raw_auc + 0.005 else []
    chosen = ConfidenceConfig(temperature=temperature, weights=weights, **fills)
    items = confidence_items(rows, records, scored, best, chosen, lm)
    if weights:  # the threshold goes on out-of-fold scores: on its own rows the fit is surer than on new ones
        for it, score in zip(items, cv_scores, strict=True):
            it["confidence"] = float(score)
    items = [it for it in items if it["slice"] in ("phrasing", "ood")]
    table = curve(items, "heard")
    allowed = [c for c in table if c["reject_correct_rate"] is not None and c["reject_correct_rate"] <= args.max_reject]
    threshold = max((c["threshold"] for c in allowed), default=0.0)
    report = {
        "auc_by_temperature": {str(k): v for k, v in by_temp.items()},
        "auc_raw": raw_auc,
        "auc_calibrated_cv": cv_auc,
        "calibrated": bool(weights),
        "threshold_on": "out-of-fold calibrated scores" if weights else "raw scores",
        "at_threshold": next(c for c in table if c["threshold"] == threshold),
        "utterances": len(items),
    }
    return chosen, threshold, report


def plot_curve(path: str, tables: dict[str, list[dict]], at: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 4))
    for label, table in tables.items():
        ax.plot(
            [100 * c["reject_correct_rate"] for c in table], [100 * c["false_action_rate"] for c in table], label=label
        )
        point = next(c for c in table if c["threshold"] >= at)
        ax.plot([100 * point["reject_correct_rate"]], [100 * point["false_action_rate"]], "o", color="black")
    ax.axhline(2, ls=":", color="grey")
    ax.axvline(10, ls=":", color="grey")
    ax.set_xlabel("correctly recognised requests rejected (%)")
    ax.set_ylabel("false actions (% of utterances)")
    ax.set_title("test: held-out phrasing + out-of-domain")
    ax.legend()
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)


# -- the whole run -----------------------------------------------------------------------------


def run(args: argparse.Namespace) -> dict:
    import torch

    from models.internal_lm import InternalLM
    from models.lm import WordLM
    from nodes.confidence import FEATURES
    from training.lm import is_speech_set

    torch.set_num_threads(1)
    lm_ckpt = torch.load(args.lm, weights_only=False)
    lm = WordLM.from_checkpoint(lm_ckpt)
    weights = Path(args.asr_weights).read_bytes()  # once: training may overwrite the file meanwhile
    _W["asr"] = asr_ckpt = torch.load(io.BytesIO(weights), weights_only=False)
    _W["tag"] = _tag(args, weights)
    ilm = InternalLM.from_weights(io.BytesIO(weights))  # type: ignore[arg-type]
    asr = {"epoch": asr_ckpt.get("epoch"), "dev_wer_at_save": asr_ckpt.get("dev_wer"), "tag": _W["tag"]}
    speech_set = is_speech_set(Path(args.corpus))
    limit = args.limit if args.limit is not None else 0 if speech_set else 200

    tune_limit = limit if args.tune_limit is None else args.tune_limit
    dev_rows, dev_recs = lattices(args, args.tune_split, tune_limit)
    dev_scored = score_candidates(lm, ilm, dev_rows, dev_recs, args.nbests, args.alternatives)
    table = grid(dev_rows, dev_recs, dev_scored, args)
    best = min(
        table,
        key=lambda g: (
            g["wer"], g["lm_weight"], g["ilm_weight"], abs(g["length_bonus"]), g["alternatives"], g["nbest"],
            -1.0 if g["catalog_penalty"] is None else g["catalog_penalty"],
        ),
    )  # fmt: skip
    first_pass = {
        "nbest": min(args.nbests),
        "alternatives": 0,
        "lm_weight": 0.0,
        "ilm_weight": 0.0,
        "length_bonus": 0.0,
        "catalog_penalty": None,
    }
    tuned = evaluate(dev_rows, dev_recs, dev_scored, best)
    if tuned["wer_rescored"] > tuned["wer_first_pass"] * (1.0 - args.min_gain):
        log.info("best setting %s gains less than %.0f%% on dev: keeping the first pass", best, 100 * args.min_gain)
        best = first_pass
        tuned = evaluate(dev_rows, dev_recs, dev_scored, best)
    best = {k: best[k] for k in first_pass}
    conf, threshold, conf_dev = tune_confidence(dev_rows, dev_recs, dev_scored, best, args, lm)

    test_rows, test_recs = lattices(args, args.test_split, limit)
    test_scored = score_candidates(lm, ilm, test_rows, test_recs, args.nbests, args.alternatives)
    test = evaluate(test_rows, test_recs, test_scored, best)
    test["lm_ms"] = lm_time(args, test_recs, best)
    items = [
        it
        for it in confidence_items(test_rows, test_recs, test_scored, best, conf, lm)
        if it["slice"] in ("phrasing", "ood") or not speech_set
    ]
    curves = {truth: curve([dict(it) for it in items], truth) for truth in ("heard", "gold")}
    at = {truth: next(c for c in table_ if c["threshold"] >= threshold) for truth, table_ in curves.items()}
    no_threshold = {truth: table_[0] for truth, table_ in curves.items()}
    confidence = {
        "temperature": conf.temperature,
        "weights": list(conf.weights),
        "features": [*FEATURES, "bias"] if conf.weights else [],
        "lm_fill": conf.lm_fill,
        "reading_fill": conf.reading_fill,
        "threshold": threshold,
        "tuned_on": {"split": args.tune_split, "max_reject": args.max_reject} | conf_dev,
        "test": {
            "utterances": len(items),
            "auc": _auc([it["confidence"] for it in items], [it["correct"] for it in items]),
            "at_threshold": at,
            "without_threshold": no_threshold,
        },
    }
    if args.curve:
        plot_curve(args.curve, {f"truth: {k}": v for k, v in curves.items()}, threshold)

    config = best | {
        "tuned_on": {
            "split": args.tune_split,
            "utterances": len(dev_rows),
            "wer_first_pass": tuned["wer_first_pass"],
            "wer_rescored": tuned["wer_rescored"],
            "recogniser": asr,
            "lm_dev_perplexity": lm_ckpt.get("dev_perplexity"),
        },
        "test": {k: v for k, v in test.items() if k not in ("examples", "detail")} | {"split": args.test_split},
    }
    for path, values in ((args.out_config, config), (args.confidence_out, confidence)):
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(values, indent=1) + "\n")
    result = {
        "config": config,
        "tune": tuned,
        "test": test,
        "confidence": confidence,
        "curves": curves,
        "grid": sorted(table, key=lambda g: g["wer"])[:50],
        "recogniser": asr,
    }
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
    """Run the benchmark and print its tables."""
    result = run(args)
    c, tune, test, conf = result["config"], result["tune"], result["test"], result["confidence"]
    fmt = lambda v: "-" if v is None else f"{v:.3f}"  # noqa: E731
    print(f"recogniser {result['recogniser']}")
    print(
        f"tuned on {c['tuned_on']['split']} ({tune['utterances']} utts): lm_weight {c['lm_weight']}, ilm_weight "
        f"{c['ilm_weight']}, length_bonus {c['length_bonus']}, nbest {c['nbest']}, alternatives {c['alternatives']}: "
        f"WER {tune['wer_first_pass']:.3f} -> {tune['wer_rescored']:.3f}"
    )
    d = test["detail"]
    print(f"{args.test_split} ({test['utterances']} utts){'':<14}{'first pass':>12}{'rescored':>12}")
    print(f"{'WER':<32}{fmt(test['wer_first_pass']):>12}{fmt(test['wer_rescored']):>12}")
    for k, v in d["rescored"]["wer_by_slice"].items():
        print(f"{'WER ' + k:<32}{fmt(d['first_pass']['wer_by_slice'][k]):>12}{fmt(v):>12}")
    print(f"{'name recall':<32}{fmt(test['name_recall_first_pass']):>12}{fmt(test['name_recall_rescored']):>12}")
    for key, label in (
        ("context_entity_errors", "contact/device entity errors"),
        ("catalog_entity_errors", "catalog entity errors"),
    ):
        b, a = d["first_pass"][key], d["rescored"][key]
        print(
            f"{label:<32}{fmt(b['rate']):>12}{fmt(a['rate']):>12}   ({b['errors']} -> {a['errors']} of {b['entities']})"
        )
    print(
        f"oracle WER: {c['nbest']}-best {test['oracle_wer_nbest']:.3f}, all candidates "
        f"{test['oracle_wer_candidates']:.3f}; changed {test['changed']} (better {test['changed_better']}, "
        f"worse {test['changed_worse']}); LM time per request (CPU, one thread) p50 {test['lm_ms']['p50']} ms, "
        f"p90 {test['lm_ms']['p90']} ms (wall p90 {test['lm_ms']['wall_p90']} ms)"
    )
    t = conf["test"]
    print(
        f"confidence: temperature {conf['temperature']}, calibrated {bool(conf['weights'])}, threshold "
        f"{conf['threshold']:.3f} (dev: at most {args.max_reject:.0%} of correct requests rejected); "
        f"test AUC {t['auc']}"
    )
    for truth, row in t["at_threshold"].items():
        none = t["without_threshold"][truth]
        print(
            f"  truth {truth}: false actions {none['false_action_rate']:.3f} -> {row['false_action_rate']:.3f}, "
            f"correct requests rejected {row['reject_correct_rate']:.3f} ({t['utterances']} phrasing + ood utts)"
        )
    print(f"wrote {args.out_config} and {args.confidence_out}")
    return result


if __name__ == "__main__":
    main()
