"""`speechgraph bench asr`: the recogniser on held-out voices, names, phrasings, text and engines.

Decodes the test split (the audio after the wake word, as the gate cuts it)
with streaming beam search, with and without contextual biasing, and reports
WER (all, clean, around 10 dB SNR), per-accent WER and the cohort gap, name
recall, the oracle WER of the lattice and of its 4-best, the real-time factor
on one core and the model's size.

On the speech set (`speechgraph corpus --set speech`) it also reports WER per slice: held-out
phrasing, out-of-domain sentences, the held-out engine, and the old grammar's templates; and it
decodes every real human recording the machine has (`corpus.real`).

Each utterance's context is what a user's device would hold: the contact and
device names of the request plus distractors drawn from the same split.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from dataclasses import asdict, replace
from pathlib import Path

import jiwer
import numpy as np
import torch
from tqdm import tqdm

from audio.logmel import band_limited, played_at
from bench import metrics
from bench.options import parse_band
from corpus.contexts import row_context
from models.char_lm import CharNgram
from models.rnnt import RNNT, quantize_int8
from nodes.decoder.beam import BeamSearch
from nodes.decoder.context import EMPTY, ContextGraph
from nodes.decoder.level import CORRECTED, LevelConfig
from training.features import FeatureCache


def level_config(args: argparse.Namespace) -> LevelConfig:
    """The shipped correction, with what `--level-*` sets instead."""
    chosen = {"low": args.level_low, "min_frames": args.level_min_frames, "min_spread": args.level_min_spread}
    return replace(CORRECTED, **{k: v for k, v in chosen.items() if v is not None})


def oracle(lattice, ref: str, n: int | None) -> tuple[int, int]:
    """(errors, reference words) of the best path among the lattice's finals (or its n-best)."""
    finals = [" ".join(p) for p, _ in sorted(lattice.finals.items(), key=lambda kv: kv[1], reverse=True)]
    finals = finals[:n] if n else finals
    words = len(ref.split())
    best = min((jiwer.process_words(ref, h or "").wer * words for h in finals), default=words)
    return round(best), words


def pocketsphinx_baseline(rows: list[dict], corpus: Path) -> dict:
    """pocketsphinx in its default language-model mode on the same audio (after the wake word)."""
    from pocketsphinx import Decoder

    from audio.files import load

    decoder = Decoder(samprate=16000, loglevel="FATAL")
    hyps: dict[str, str] = {}
    compute = audio = 0.0
    for r in tqdm(rows, desc="pocketsphinx"):
        x = load(corpus / r["audio"])
        if r["wake_word"]:
            x = x[int(r["wake_end"] * 16000) :]
        started = time.process_time()
        decoder.start_utt()
        decoder.process_raw((np.clip(x, -1, 1) * 32767).astype(np.int16).tobytes(), full_utt=True)
        decoder.end_utt()
        compute += time.process_time() - started
        audio += len(x) / 16000
        hyps[r["id"]] = decoder.hyp().hypstr.lower() if decoder.hyp() else ""
    rec = metrics.recognition(rows, hyps)
    return {"wer": rec.wer, "name_recall": rec.name_recall, "rtf_one_core": round(compute / max(audio, 1e-9), 4)}


def run(args: argparse.Namespace) -> dict:
    torch.set_num_threads(1)
    band = parse_band(args.band)
    ckpt = torch.load(args.weights, weights_only=False)
    model = RNNT.from_checkpoint(ckpt)
    learned = not args.no_learned_bias
    settings = {
        "beam": args.beam,
        "learned_bias": learned,
        "encoder_bias": args.encoder_bias,
        "respell": args.respell,
        "verify": not args.no_verify,
        "lm": CharNgram.load(args.char_lm) if args.lm_weight else None,
        "lm_weight": args.lm_weight,
        "lm_bonus": args.lm_bonus,
        "lm_phrase_logprob": None if args.lm_in_phrases else args.lm_phrase_logprob,
        "ilm_weight": args.ilm_weight,
        "level": None if args.no_level else level_config(args),
    }
    search = BeamSearch(model, **settings)
    cache = FeatureCache.build(args.corpus, args.split, Path(args.cache), jobs=2)
    names = json.loads((Path(args.corpus) / "splits.json").read_text())[args.split]
    rng = random.Random(0)
    ids = list(range(len(cache.rows)))
    rng.shuffle(ids)
    ids = sorted(ids[: args.limit] if args.limit else ids)

    hyp_plain, hyp_bias, hyp_int8, rows = {}, {}, {}, []
    int8_compute_s = 0.0
    quant_search = BeamSearch(quantize_int8(model), **settings) if args.int8 else None
    oracle_all = [0, 0]
    oracle_4 = [0, 0]
    compute_s = audio_s = 0.0
    endpoint_ms: list[float] = []
    for i in tqdm(ids, desc="decoding"):
        row = cache.rows[i]
        frames = played_at(np.asarray(cache.utterance(i)[cache.starts[i] :], dtype=np.float32), args.gain_db)
        if band:
            frames = band_limited(frames, *band)
        graph = ContextGraph(row_context(row, names, args.distractors), args.bonus, args.max_bonus)
        passes = ((graph, hyp_bias),) if args.biased_only else ((EMPTY, hyp_plain), (graph, hyp_bias))
        for n, (ctx, out) in enumerate(passes):
            st = search.start()
            started = time.process_time()
            for k in range(0, len(frames), args.chunk_frames):
                search.accept(st, frames[k : k + args.chunk_frames], ctx)
            at_end = time.process_time()
            lattice = search.lattice(st, ctx)
            if ctx is graph:
                endpoint_ms.append(1000 * (time.process_time() - at_end))
            if n == 0:  # the real-time factor of the plain pass, or of the only one
                compute_s += time.process_time() - started
                audio_s += len(frames) / 100
            out[row["id"]] = lattice.best()
        for acc, n in ((oracle_all, None), (oracle_4, 4)):
            e, w = oracle(lattice, row["text"], n)
            acc[0] += e
            acc[1] += w
        rows.append(row)
        if args.int8:
            st = quant_search.start()
            started = time.process_time()
            for k in range(0, len(frames), args.chunk_frames):
                quant_search.accept(st, frames[k : k + args.chunk_frames], EMPTY)
            int8_compute_s += time.process_time() - started
            hyp_int8[row["id"]] = quant_search.lattice(st, EMPTY).best()

    def summary(hyps: dict) -> dict | None:
        if not hyps:
            return None
        rec = metrics.recognition(rows, hyps)
        clean = [r for r in rows if r["condition"]["label"] == "clean"]
        snr10 = [r for r in rows if r["condition"]["noise"] != "none" and 5 <= (r["condition"]["snr_db"] or 0) <= 15]
        slices = sorted({r["slice"] for r in rows if "slice" in r})
        by_slice = {k: metrics.recognition([r for r in rows if r.get("slice") == k], hyps) for k in slices}
        return {
            "wer": rec.wer,
            "wer_by_slice": {k: v.wer for k, v in by_slice.items()},
            "name_recall_by_slice": {k: v.name_recall for k, v in by_slice.items()},
            "wer_clean": metrics.recognition(clean, hyps).wer if clean else None,
            "wer_snr_5_15db": metrics.recognition(snr10, hyps).wer if snr10 else None,
            "name_recall": rec.name_recall,
            "wer_by_accent": rec.per_group,
            "wer_by_engine_voice": {  # each voice of the engines that speak one slice alone (flite's)
                v: metrics.recognition([r for r in rows if r.get("voice") == v], hyps).wer
                for v in sorted({r.get("voice", "") for r in rows if r.get("engine") not in (None, "espeak")})
            },
            "cohort_gap": rec.cohort_gap,
        }

    size_mb = Path(args.weights).stat().st_size / 1e6
    result = {
        "split": args.split,
        "utterances": len(rows),
        "model": {
            "parameters": model.n_params(),
            "file_mb": round(size_mb, 2),
            "dev_wer_at_save": ckpt.get("dev_wer"),
            "epoch": ckpt.get("epoch"),
        },
        "beam": args.beam,
        "gain_db": args.gain_db,
        "band_hz": band,
        "level": None if args.no_level else asdict(level_config(args)),
        "biasing_setup": {
            "bonus": args.bonus,
            "max_bonus": args.max_bonus,
            "learned": bool(model.biaser is not None and learned),
            "encoder_bias": args.encoder_bias,
            "respell": args.respell,
            "verify": not args.no_verify,
        },
        "no_biasing": summary(hyp_plain),
        "biasing": summary(hyp_bias),
        "oracle_wer_lattice": round(oracle_all[0] / max(1, oracle_all[1]), 4),
        "oracle_wer_4best": round(oracle_4[0] / max(1, oracle_4[1]), 4),
        "rtf_one_core": round(compute_s / max(audio_s, 1e-9), 4),
        "lattice_ms_with_context": {  # the work left at the end-point: lattice, respelling, second pass
            "p50": round(float(np.percentile(endpoint_ms, 50)), 1),
            "p90": round(float(np.percentile(endpoint_ms, 90)), 1),
        },
        "examples": [
            {"ref": r["text"], "plain": hyp_plain.get(r["id"]), "biased": hyp_bias[r["id"]]} for r in rows[:8]
        ],
        "hypotheses": [  # every utterance, for --hyps; not part of the --json summary
            {
                "id": r["id"],
                "condition": r["condition"]["label"],
                "names": r.get("names", []),
                "ref": r["text"],
                "plain": hyp_plain.get(r["id"]),
                "biased": hyp_bias[r["id"]],
            }
            for r in rows
        ],
    }
    if args.int8:
        result["int8"] = {
            "wer": metrics.recognition(rows, hyp_int8).wer,
            "rtf_one_core": round(int8_compute_s / max(audio_s, 1e-9), 4),
            "speed_up": round(compute_s / max(int8_compute_s, 1e-9), 2),
        }
    if args.pocketsphinx:
        result["pocketsphinx"] = pocketsphinx_baseline(rows, Path(args.corpus))
    result["real_recordings"] = real_recordings(search, args.pocketsphinx)
    result["real_summary"] = real_summary(result["real_recordings"])
    return result


def real_recordings(search: BeamSearch, pocketsphinx: bool = False) -> list[dict]:
    """Every human recording the machine has (`corpus.real`), decoded without a context: reported as is (with
    `pocketsphinx`, its hypothesis beside)."""
    from audio.files import load
    from audio.logmel import LogMel
    from corpus.real import recordings

    sphinx = None
    if pocketsphinx:
        from pocketsphinx import Decoder

        sphinx = Decoder(samprate=16000, loglevel="FATAL")
    out = []
    for rec in recordings():
        x = load(rec.path)
        st = search.start()
        search.accept(st, LogMel().frames(x), EMPTY)
        hyp = search.lattice(st, EMPTY).best()
        row = {"path": str(rec.path), "source": rec.source, "ref": rec.text, "hyp": hyp}
        row["wer"] = metrics.wer([rec.text], [hyp])
        if sphinx is not None:
            sphinx.start_utt()
            sphinx.process_raw((np.clip(x, -1, 1) * 32767).astype(np.int16).tobytes(), full_utt=True)
            sphinx.end_utt()
            row["pocketsphinx"] = sphinx.hyp().hypstr.lower() if sphinx.hyp() else ""
        out.append(row)
    return out


def real_summary(real: list[dict]) -> dict[str, dict]:
    """WER of the real recordings by source and in all (and pocketsphinx's, where it ran)."""
    groups: dict[str, list[dict]] = {"all": real}
    for r in real:
        groups.setdefault(r["source"], []).append(r)
    out = {}
    for name, rows in groups.items():
        refs = [r["ref"] for r in rows]
        out[name] = {"recordings": len(rows), "wer": metrics.wer(refs, [r["hyp"] for r in rows])}
        if all("pocketsphinx" in r for r in rows):
            out[name]["pocketsphinx_wer"] = metrics.wer(refs, [r["pocketsphinx"] for r in rows])
    return out


def main(args: argparse.Namespace) -> dict:
    result = run(args)
    b, p = result["biasing"], result["no_biasing"] or {}
    gain = f", played {result['gain_db']:+g} dB" if result["gain_db"] else ""
    if result["band_hz"]:
        gain += ", through {:g}-{:g} Hz".format(*result["band_hz"])
    level = "" if result["level"] else ", level not corrected"
    print(f"{result['utterances']} {result['split']} utterances{gain}{level}, model {result['model']}")
    print(f"{'':<24}{'no biasing':>12}{'biasing':>12}")
    fmt = lambda v: "-" if v is None else f"{v:.3f}"  # noqa: E731
    for key in ("wer", "wer_clean", "wer_snr_5_15db", "name_recall", "cohort_gap"):
        print(f"{key:<24}{fmt(p.get(key)):>12}{fmt(b[key]):>12}")
    for k, v in b["wer_by_slice"].items():
        recall = b["name_recall_by_slice"][k]
        plain = (p.get("wer_by_slice") or {}).get(k)
        print(
            f"{'WER ' + k:<24}{fmt(plain):>12}{fmt(v):>12}" + ("" if recall is None else f"   name recall {recall:.3f}")
        )
    print(f"oracle WER: lattice {result['oracle_wer_lattice']:.3f}, 4-best {result['oracle_wer_4best']:.3f}")
    print(f"real-time factor on one core (beam {result['beam']}): {result['rtf_one_core']:.3f}")
    ms = result["lattice_ms_with_context"]
    print(f"lattice at the end-point, with the context's second pass: p50 {ms['p50']} ms, p90 {ms['p90']} ms")
    if "int8" in result:
        q = result["int8"]
        print(
            f"int8 dynamic quantisation: WER {q['wer']:.3f} (float {fmt(p.get('wer'))}), real-time factor "
            f"{q['rtf_one_core']:.3f} ({q['speed_up']:.2f}x)"
        )
    if "pocketsphinx" in result:
        ps = result["pocketsphinx"]
        print(
            f"pocketsphinx (default LM) on the same audio: WER {ps['wer']:.3f}, name recall "
            f"{ps['name_recall']:.3f}, real-time factor {ps['rtf_one_core']:.3f}"
        )
    real = result["real_recordings"]
    if real:
        print("real human recordings (no context):")
        for name, fig in result["real_summary"].items():
            sphinx = f", pocketsphinx {fig['pocketsphinx_wer']:.3f}" if "pocketsphinx_wer" in fig else ""
            print(f"  {name} ({fig['recordings']}): WER {fig['wer']:.3f}{sphinx}")
        for r in real:
            print(f"  {Path(r['path']).name}: {r['ref']!r} -> {r['hyp']!r}")
    hypotheses = result.pop("hypotheses")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    if args.hyps:
        Path(args.hyps).write_text("".join(json.dumps(u) + "\n" for u in hypotheses))
    return result
