"""`python3 -m bench.nlu`: the intent parser against the corpus manifest's gold.

Text from the manifest is a perfect transcript, so this measures the parser
alone: intent accuracy (requests and non-requests), slot exact match, and how
`is_complete` judges whole requests against their word prefixes (what the
end-pointers ask it of partial hypotheses). Each utterance's context is what a
user's device would hold, as in `bench.asr`: the request's contact or device
plus distractors drawn from the same split. A prefix that the grammar itself
allows as a whole request ("call meg" of "call meg bauer", "call meg" of "call
meg at work", a weather request without its date) is counted apart: no parser
can call it unfinished.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections import Counter
from pathlib import Path

from corpus.contexts import row_context
from nodes.nlu.parser import NONE, is_complete, normalise, parse


def arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--corpus", default="corpus_out", help="a built corpus folder (speechgraph corpus)")
    p.add_argument("--split", default="test", choices=("train", "dev", "test"), help="split to measure (default test)")
    p.add_argument("--distractors", type=int, default=20, help="other contacts in each user's context")
    p.add_argument("--show", type=int, default=0, help="print this many parse errors")
    p.add_argument("--json", default=None, help="also write the figures here")


def grammar_wholes(row: dict) -> set[str]:
    """The row's text and the shorter requests the grammar also allows: no call tail, first name only, no date."""
    text, slots = normalise(row["text"]), row["slots"]
    out = {text}
    if row["intent"] == "call":
        out |= {text.removesuffix(tail) for tail in (" on mobile", " at home", " at work")}
        contact = slots.get("contact", "")
        if " " in contact:
            out |= {t.replace(contact, contact.split()[0]) for t in out}
    if row["intent"] == "weather" and slots.get("date") and text.endswith(" " + slots["date"]):
        out.add(text.removesuffix(" " + slots["date"]))
    return out


def _rate(hits: int, n: int) -> float | None:
    return round(hits / n, 4) if n else None


def gold_in_text(row: dict) -> bool:
    """Whether every gold slot value is spelt out in the text ("how cold is it in" rows keep a date they drop)."""
    words = set(row["text"].split())
    return all(set(str(v).split()) <= words for v in row["slots"].values())


def score(rows: list[dict], contexts: list[list[str]], whole: set[str]) -> dict:
    """Intent accuracy, slot exact match and completeness rates of one pass over the rows."""
    intent_ok = slot_ok = req = req_ok = neg = neg_ok = recoverable = recoverable_ok = 0
    errors: list[dict] = []
    per_intent: Counter[str] = Counter()
    per_intent_ok: Counter[str] = Counter()
    for row, ctx in zip(rows, contexts, strict=True):
        got = parse(row["text"], ctx)
        gold_intent = row["intent"]
        ok_i = got.intent == gold_intent
        ok_s = ok_i and got.slots == row["slots"]
        intent_ok += ok_i
        slot_ok += ok_s
        if gold_in_text(row):
            recoverable, recoverable_ok = recoverable + 1, recoverable_ok + ok_s
        per_intent[gold_intent] += 1
        per_intent_ok[gold_intent] += ok_s
        if gold_intent == NONE:
            neg, neg_ok = neg + 1, neg_ok + ok_i
        else:
            req, req_ok = req + 1, req_ok + ok_i
        if not ok_s:
            errors.append({"text": row["text"], "gold": [gold_intent, row["slots"]], "got": [got.intent, got.slots]})

    full = full_ok = negc = prefixes = prefix_c = legit = legit_c = 0
    calls, spent = 0, 0.0
    for row, ctx in zip(rows, contexts, strict=True):
        words = normalise(row["text"]).split()
        started = time.perf_counter()
        c = is_complete(" ".join(words), ctx)
        judged = [(" ".join(words[:k]), is_complete(" ".join(words[:k]), ctx)) for k in range(1, len(words))]
        spent += time.perf_counter() - started
        calls += 1 + len(judged)
        if row["intent"] == NONE:
            negc += c
            continue
        full, full_ok = full + 1, full_ok + c
        for text, judged_complete in judged:
            if text in whole:
                legit, legit_c = legit + 1, legit_c + judged_complete
            else:
                prefixes, prefix_c = prefixes + 1, prefix_c + judged_complete
    return {
        "utterances": len(rows),
        "intent_accuracy": _rate(intent_ok, len(rows)),
        "intent_accuracy_requests": _rate(req_ok, req),
        "intent_accuracy_non_requests": _rate(neg_ok, neg),
        "slot_exact_match": _rate(slot_ok, len(rows)),
        "slot_exact_match_requests": _rate(slot_ok - neg_ok, req),
        "slot_exact_match_gold_in_text": _rate(recoverable_ok, recoverable),
        "per_intent_exact": {k: _rate(per_intent_ok[k], n) for k, n in sorted(per_intent.items())},
        "complete_on_full_requests": _rate(full_ok, full),
        "complete_on_non_requests": _rate(negc, neg),
        "complete_on_prefixes": _rate(prefix_c, prefixes),
        "prefixes": prefixes,
        "complete_on_prefixes_that_are_requests": _rate(legit_c, legit),
        "prefixes_that_are_requests": legit,
        "is_complete_us": round(spent / max(calls, 1) * 1e6, 1),
        "errors": errors,
    }


def misspell(value: str, rng: random.Random) -> str:
    """One letter of the longest word replaced, as a recogniser misspells a rare name."""
    words = value.split()
    i = max(range(len(words)), key=lambda k: len(words[k]))
    w = words[i]
    if len(w) < 4:
        return value
    j = rng.randrange(1, len(w) - 1)
    words[i] = w[:j] + rng.choice([c for c in "aeioulnrst" if c != w[j]]) + w[j + 1 :]
    return " ".join(words)


def snapping(rows: list[dict], contexts: list[list[str]]) -> dict:
    """Slot exact match on requests whose contact or device is misspelt by one letter, with and without context."""
    rng = random.Random(1)
    n = with_ctx = without = 0
    for row, ctx in zip(rows, contexts, strict=True):
        key = next((k for k in ("contact", "device") if k in row["slots"]), None)
        if key is None or not gold_in_text(row):
            continue
        value = row["slots"][key]
        wrong = misspell(value, rng)
        if wrong == value:
            continue
        text = row["text"].replace(value, wrong, 1)
        n += 1
        with_ctx += parse(text, ctx).slots == row["slots"]
        without += parse(text).slots == row["slots"]
    return {"misspelt": n, "slot_exact_context": _rate(with_ctx, n), "slot_exact_no_context": _rate(without, n)}


def run(args: argparse.Namespace) -> dict | None:
    corpus = Path(args.corpus)
    manifest = corpus / f"{args.split}.jsonl"
    if not manifest.exists():
        print(f"no corpus at {corpus} (missing {manifest.name}); build one with `speechgraph corpus --out {corpus}`")
        return None
    rows = [json.loads(line) for line in manifest.read_text().splitlines() if line.strip()]
    splits = corpus / "splits.json"
    names = json.loads(splits.read_text()).get(args.split, {}) if splits.exists() else {}
    contexts = [row_context(r, names, args.distractors) for r in rows]
    whole = set().union(*(grammar_wholes(r) for r in rows)) if rows else set()
    gold_gaps = sum(not gold_in_text(r) for r in rows)
    return {
        "split": args.split,
        "gold_slots_not_in_text": gold_gaps,
        "context": score(rows, contexts, whole),
        "no_context": score(rows, [[] for _ in rows], whole),
        "misspelt_names": snapping(rows, contexts),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="speechgraph bench nlu", description=__doc__.split("\n\n")[0])
    arguments(p)
    args = p.parse_args(argv)
    result = run(args)
    if result is None:
        return 1
    c, n = result["context"], result["no_context"]
    print(f"{c['utterances']} {args.split} utterances (manifest text as the transcript)")
    print(f"{'':<40}{'context':>10}{'none':>10}")
    keys = [
        "intent_accuracy",
        "intent_accuracy_requests",
        "intent_accuracy_non_requests",
        "slot_exact_match",
        "slot_exact_match_requests",
        "slot_exact_match_gold_in_text",
        "complete_on_full_requests",
        "complete_on_non_requests",
        "complete_on_prefixes",
        "complete_on_prefixes_that_are_requests",
        "is_complete_us",
    ]
    for key in keys:
        fmt = lambda v: "-" if v is None else f"{v:.3f}" if isinstance(v, float) and v <= 1 else f"{v}"  # noqa: E731
        print(f"{key:<40}{fmt(c[key]):>10}{fmt(n[key]):>10}")
    print(
        f"word prefixes of requests: {c['prefixes']} unfinished, and {c['prefixes_that_are_requests']} that the "
        "grammar allows as whole requests (counted apart)"
    )
    m = result["misspelt_names"]
    print(
        f"names misspelt by one letter ({m['misspelt']} requests): slot exact match {m['slot_exact_context']:.3f} "
        f"with context, {m['slot_exact_no_context']:.3f} without"
    )
    if result["gold_slots_not_in_text"]:
        print(f"rows whose gold slots name words absent from the text: {result['gold_slots_not_in_text']}")
    worst = {k: v for k, v in c["per_intent_exact"].items() if v is not None and v < 1}
    if worst:
        print("intents below 1.0 exact (context): " + ", ".join(f"{k} {v:.3f}" for k, v in worst.items()))
    for e in c["errors"][: args.show]:
        print(f"  {e['text']!r}: gold {e['gold']}, got {e['got']}")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
