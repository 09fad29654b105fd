"""The `speechgraph` command: replay recordings, list devices, run benchmarks."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from typing import IO, Any

log = logging.getLogger("speechgraph")

EPILOG = """\
examples:
  speechgraph replay data/demo                      # every recording in a folder, as fast as possible
  speechgraph replay a.wav b.flac --realtime --out events.jsonl
  speechgraph replay data/demo --runtime ray --fuse # one Ray actor per placement group
  speechgraph live --device 3                       # the microphone through the whole graph
  speechgraph devices                               # input devices for the live demo
  speechgraph bench hop                             # per-hop latency and throughput, local vs Ray
"""


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if not hasattr(args, "func"):
        parser.print_help()
        return 2
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (ValueError, RuntimeError, OSError) as exc:
        print(f"speechgraph: error: {error_line(exc)}", file=sys.stderr)
        return 1


def error_line(exc: BaseException) -> str:
    """What went wrong, in one line a user can act on (no errno, no traceback)."""
    if isinstance(exc, OSError) and exc.filename:
        if isinstance(exc, FileNotFoundError) and str(exc.filename).endswith(".jsonl"):
            return (
                f"no corpus manifest at {exc.filename}: build a corpus first "
                "(`speechgraph corpus --out DIR`) and pass `--corpus DIR`"
            )
        return f"{exc.filename}: {(exc.strerror or str(exc)).lower()}"
    return " ".join(str(exc).split())


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="speechgraph",
        description="A streaming speech pipeline on a dataflow graph: replay, live capture and latency benchmarks.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages to stderr")
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")

    replay = sub.add_parser(
        "replay",
        help="run recordings through a graph and write its events as JSON lines",
        description="Replay audio files (WAV, FLAC, OGG; any rate, mono or stereo) through a graph, "
        "one stream per file, and write one JSON object per event per line. A file that cannot be read "
        "gives an `error` event for its stream; the other streams go on.",
    )
    replay.add_argument("paths", nargs="*", metavar="PATH", help="audio files, or folders searched for them")
    replay.add_argument(
        "--manifest",
        default=None,
        help="replay a corpus manifest (e.g. corpus_out/test.jsonl): its audio, each with the context "
        "(contacts, devices) a user's device would hold; score the output with `speechgraph eval`",
    )
    replay.add_argument("--limit", type=int, default=0, help="with --manifest: only the first N rows")
    replay.add_argument(
        "--concurrency",
        type=int,
        default=0,
        help="at most N recordings at once, back to back (default: all at once)",
    )
    _add_runtime_options(replay)
    pace = replay.add_mutually_exclusive_group()
    pace.add_argument("--realtime", action="store_true", help="pace each stream at real time, as a microphone would")
    pace.add_argument("--fast", action="store_true", help="read as fast as the graph takes it (default)")
    replay.add_argument("--chunk-ms", type=int, default=10, help="audio per chunk in milliseconds (default 10)")
    replay.add_argument(
        "--graph", default=None, help="graph to run (default: the full graph); see `speechgraph graphs`"
    )
    replay.add_argument("--out", type=argparse.FileType("w"), default=None, help="write events here instead of stdout")
    replay.add_argument(
        "--context", default=None, help="file of context phrases (contacts, device names), one per line, for biasing"
    )
    replay.add_argument(
        "--no-speculative", action="store_true", help="full graph: only the final end-pointer (no speculation)"
    )
    replay.add_argument(
        "--network-delay-ms", type=float, default=0.0, help="full graph: simulated device-to-cloud delay each way"
    )
    replay.add_argument(
        "--rescore-deadline-ms", type=float, default=None, help="full graph: rescoring budget before first-pass commit"
    )
    replay.set_defaults(func=cmd_replay)

    graphs = sub.add_parser(
        "graphs",
        help="list the graphs and show their nodes and edges",
        description="Prints each graph's nodes (name, class, placement) and edges (what each carries), "
        "and what the arrows mean.",
    )
    graphs.set_defaults(func=cmd_graphs)

    live = sub.add_parser(
        "live",
        help="the live demo: microphone through the whole graph, with a terminal view",
        description="Capture from a sound device and run the whole graph: wake word, partial hypotheses, "
        "speculative and final end-points, resets and committed results with their latencies. "
        "Say 'alexa' and a request. Ctrl-C (or SIGTERM) ends the stream cleanly.",
    )
    live.add_argument("--device", default=None, help="input device, by index or name (see `speechgraph devices`)")
    live.add_argument("--seconds", type=float, default=0, help="stop after this long (default: until Ctrl-C)")
    live.add_argument("--context", default=None, help="file of context phrases (contacts, device names)")
    live.add_argument("--out", type=argparse.FileType("w"), default=None, help="also write the events as JSON lines")
    live.add_argument("--quiet", action="store_true", help="no terminal view (with --out)")
    _add_runtime_options(live)
    live.set_defaults(func=cmd_live)

    devices = sub.add_parser("devices", help="list sound input devices (for the live demo)")
    devices.set_defaults(func=cmd_devices)

    corpus = sub.add_parser(
        "corpus",
        help="build the synthetic speech corpus (voices and names split into train, dev, test)",
        description="Synthesise assistant requests with espeak-ng and Piper voices, lay them out with "
        "wake words and pauses, add noise, reverberation and device audio, and write train/dev/test "
        "manifests (JSON lines) and long negative streams. Resumes an interrupted build.",
    )
    corpus.add_argument(
        "--set",
        choices=("assistant", "speech", "wake"),
        default="assistant",
        help="assistant: wake words, requests and negative streams (default; the end-pointers train on it); "
        "speech: the recogniser's broad speech set with held-out phrasings, text and engines (corpus.speech); "
        "wake: the wake word's set in the speech set's voices, with a held-out engine (corpus.wake)",
    )
    corpus.add_argument(
        "--size",
        choices=("tiny", "small", "default"),
        default="default",
        help="default: default (speech and wake: tiny, default)",
    )
    corpus.add_argument(
        "--out", default=None, help="output folder (default corpus_out, corpus_speech or corpus_wake, by --set)"
    )
    corpus.add_argument("--seed", type=int, default=0, help="seed for text, voices, splits and noise (default 0)")
    corpus.add_argument("--jobs", type=int, default=2, help="parallel synthesis processes (default 2)")
    corpus.add_argument(
        "--splits",
        default="train,dev,test",
        help="--set speech: the splits to build (default all; dev,test: the benchmarks' rows alone, in about a "
        "minute, the train manifest left as it is)",
    )
    corpus.set_defaults(func=cmd_corpus)

    ev = sub.add_parser(
        "eval",
        help="score a replay's events against a corpus manifest (WER, names, wake word, latencies)",
        description="Reads the JSON lines of `speechgraph replay` and a corpus manifest and reports WER and "
        "name recall (first pass and rescored, per accent and per condition, with the cohort gap), wake-word "
        "false rejects, false accepts per hour and detection latency, end-point latencies, premature cut rate "
        "and user-perceived latency. Latencies need a replay with --realtime.",
    )
    ev.add_argument("--manifest", required=True, help="corpus manifest (e.g. corpus_out/test.jsonl)")
    ev.add_argument("--events", required=True, help="events of the replay of that manifest's audio")
    ev.add_argument("--negatives", default=None, help="negative-stream manifest (corpus_out/negatives.jsonl)")
    ev.add_argument("--negative-events", default=None, help="events of the replay of the negative streams")
    ev.add_argument("--json", default=None, help="write the summary here")
    ev.set_defaults(func=cmd_eval)

    train = sub.add_parser("train", help="training recipes for the shipped models")
    train_sub = train.add_subparsers(title="models", metavar="MODEL")
    asr = train_sub.add_parser(
        "asr",
        help="the streaming RNN-T recogniser",
        description="Trains the RNN-T on the corpus (train split; dev for model selection) with SpecAugment and "
        "the corpus's noise conditions. Resumable: run the same command again to continue.",
    )
    from training.options import asr_arguments, wakeword_arguments

    asr_arguments(asr)
    asr.set_defaults(func=cmd_train_asr)
    wake = train_sub.add_parser(
        "wakeword",
        help="the two-stage wake-word gate (stage 1 detector, stage 2 verifier)",
        description="Trains stage 1 (causal CNN, per-frame end-of-wake-word score and start estimate), mines hard "
        "negatives with it, then trains stage 2 (CNN + GRU + attention over a 195-frame window with 0.5 s of "
        "pre-roll, on shifted windows). Resumable.",
    )
    wakeword_arguments(wake)
    wake.set_defaults(func=cmd_train_wakeword)
    _delegate(train_sub, "lm", "training.lm", "the class-based neural language model of the cloud rescorer")
    _delegate(train_sub, "char-lm", "training.char_lm", "the character n-gram the first pass fuses (spelling)")
    _delegate(train_sub, "eoq", "training.eoq", "the end-pointer's learned end-of-query model")
    _delegate(train_sub, "average", "training.average", "average several epochs' weights into one model")
    _delegate(train_sub, "ctc-head", "training.ctc_head", "fit the CTC layer the decoder's second pass reads")

    bench = sub.add_parser("bench", help="benchmarks that print tables")
    bench_sub = bench.add_subparsers(title="benchmarks", metavar="BENCHMARK")
    hop = bench_sub.add_parser(
        "hop",
        help="per-hop latency and message throughput: in-process vs Ray",
        description="Measures a chain of relay nodes with real audio chunks of 10, 40 and 160 ms: per-hop "
        "latency (p50, p99) at a real-time pace, and the highest message rate each runtime sustains.",
    )
    from bench.options import hop_arguments

    hop_arguments(hop)
    hop.set_defaults(func=cmd_bench_hop)
    asr_bench = bench_sub.add_parser(
        "asr",
        help="recogniser WER, name recall with/without biasing, lattice oracle, real-time factor",
        description="Decodes held-out voices and names (the test split) with streaming beam search, with and "
        "without contextual biasing, and prints WER, name recall, lattice oracle WER, RTF and model size.",
    )
    from bench.options import asr_arguments as asr_bench_arguments

    asr_bench_arguments(asr_bench)
    asr_bench.set_defaults(func=cmd_bench_asr)
    wake_bench = bench_sub.add_parser(
        "wakeword",
        help="wake-word FRR, false accepts per hour, latency, CPU, DET curve; vs openWakeWord 'alexa'",
        description="Scores the two-stage gate (and stage 1 alone, and openWakeWord's 'alexa') on a split's "
        "positives, its utterances without the wake word and its long negative streams. --tune on dev picks the "
        "operating thresholds (weights/wakeword.json); report on test.",
    )
    from bench.options import wakeword_arguments as wakeword_bench_arguments

    wakeword_bench_arguments(wake_bench)
    wake_bench.set_defaults(func=cmd_bench_wakeword)
    _delegate(bench_sub, "endpoint", "bench.endpoint", "end-pointer latency and premature cuts: rules vs VAD only")
    _delegate(bench_sub, "rescore", "bench.rescore", "WER and name recall before and after LM rescoring (tunes on dev)")
    _delegate(bench_sub, "nlu", "bench.nlu", "intent and slot accuracy on a split's transcripts")
    _delegate(
        bench_sub, "latency", "bench.latency", "latency through the whole graph at real time: runtimes, speculation"
    )
    _delegate(bench_sub, "scale", "bench.scale", "how many real-time streams the machine sustains; CPU, memory")
    return parser


def _delegate(sub: Any, name: str, module: str, help: str) -> None:
    """A command whose options and `--help` belong to `module.main(argv)`."""
    p = sub.add_parser(name, help=help, add_help=False, prefix_chars="\0")
    p.add_argument("argv", nargs=argparse.REMAINDER)
    p.set_defaults(func=lambda args: _run_module(module, args.argv))


def _run_module(module: str, argv: list[str]) -> int:
    import importlib

    result = importlib.import_module(module).main(argv)
    return result if isinstance(result, int) else 0


def _add_runtime_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--runtime", choices=("local", "ray"), default="local", help="in-process (default) or Ray actors")
    p.add_argument(
        "--address", default=None, help="Ray: join the cluster at this address (default: start one on loopback)"
    )
    p.add_argument("--fuse", action="store_true", help="Ray: run connected nodes that share a placement in one actor")
    p.add_argument(
        "--max-inflight",
        type=int,
        default=8,
        help="Ray: unfinished calls a sender allows per receiving actor (default 8)",
    )
    p.add_argument(
        "--replicas",
        type=int,
        default=1,
        help="Ray: actors per device-side node or fused group, each serving its share of the streams (default 1)",
    )
    p.add_argument(
        "--host-sources",
        action="store_true",
        help="Ray, with --fuse: capture or read the audio inside the device-side actor it goes to, so audio never "
        "crosses between processes (a crash of that actor then ends its streams)",
    )


def runtime_options(args: argparse.Namespace) -> dict[str, Any]:
    if args.runtime == "local":
        return {}
    return {
        "address": args.address,
        "fuse": args.fuse,
        "max_inflight": args.max_inflight,
        "replicas": args.replicas,
        "host_sources": args.host_sources,
    }


def cmd_replay(args: argparse.Namespace) -> int:
    import graphs
    from nodes.file_source import FileSource
    from speechgraph.replay import failed_streams, replay, source_options

    source = source_options(
        args.paths,
        manifest=args.manifest,
        limit=args.limit,
        realtime=args.realtime,
        chunk_ms=args.chunk_ms,
        concurrency=args.concurrency,
    )
    options: dict[str, Any] = {}
    if args.context:
        from speechgraph.inputs import read_context

        options["context"] = read_context(args.context)
    if args.no_speculative:
        options["speculative"] = False
    if args.network_delay_ms:
        options["network_delay_ms"] = args.network_delay_ms
    if args.rescore_deadline_ms is not None:
        options["rescore_deadline_ms"] = args.rescore_deadline_ms
    graph = graphs.build(args.graph or graphs.DEFAULT, FileSource, source, **options)
    out: IO[str] = args.out or sys.stdout

    def write(record: dict[str, Any]) -> None:
        if record["event"] == "error":
            print(f"error: {record['stream']}: {record['error']}", file=sys.stderr)
        elif record["event"] == "warning":
            print(f"warning: {record['warning']}", file=sys.stderr)
        out.write(json.dumps(record) + "\n")
        out.flush()

    run = replay(graph, args.runtime, runtime_options(args), on_record=write, interruptible=True)
    counts: dict[str, int] = {}
    for r in run.records:
        counts[r["event"]] = counts.get(r["event"], 0) + 1
    summary = ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))
    cost = f", real-time factor {run.wall_s / run.audio_s:.3f}" if run.audio_s else ""
    if run.wall_s > 0:  # every process of the run, a local Ray cluster's included; its start left out
        cost += f", CPU {run.run_cpu_s:.1f} s ({run.run_cpu_s / run.wall_s:.2f} cores)"
    n = len(source["paths"])
    if run.placement:
        machines: dict[str, list[str]] = {}
        for node, where in run.placement.items():
            machines.setdefault(where, []).append(node)
        where_text = "; ".join(f"{m[:8]}: {', '.join(nodes)}" for m, nodes in machines.items())
        print(f"nodes ran on {len(machines)} Ray node(s): {where_text}", file=sys.stderr)
    sources = frozenset(name for name, spec in graph.nodes.items() if spec.is_source)
    failed = failed_streams(run.records, sources) if run.records else {}
    failed_text = f"; {len(failed)} of {n} streams failed" if failed else ""
    print(
        f"{n} streams, {run.audio_s:.1f} s of audio in {run.wall_s:.2f} s{cost}; events: {summary}{failed_text}",
        file=sys.stderr,
    )
    return 1 if failed else 0


def cmd_corpus(args: argparse.Namespace) -> int:
    from corpus.tts import MissingVoices

    try:
        summary = _build_corpus(args)
    except MissingVoices as e:
        print(f"speechgraph corpus: {e}", file=sys.stderr)
        return 2
    if summary is None:
        return 2
    print(json.dumps(summary, indent=1))
    return 0


def _build_corpus(args: argparse.Namespace) -> dict | None:
    from corpus.splits import SPLITS

    splits = [s.strip() for s in args.splits.split(",") if s.strip()]
    unknown = sorted(set(splits) - set(SPLITS))
    if unknown or not splits:
        print(f"speechgraph corpus: --splits takes {', '.join(SPLITS)}, not {', '.join(unknown) or 'nothing'}",
              file=sys.stderr)  # fmt: skip
        return None
    if set(splits) != set(SPLITS) and args.set != "speech":
        print(f"speechgraph corpus: --splits is for --set speech; --set {args.set} builds every split",
              file=sys.stderr)  # fmt: skip
        return None
    if args.set in ("speech", "wake"):
        from corpus import speech, wake

        module = speech if args.set == "speech" else wake
        if args.size not in module.SIZES:
            print(f"speechgraph corpus: --set {args.set} has sizes {', '.join(module.SIZES)}", file=sys.stderr)
            return None
        only = {"splits": splits} if module is speech else {}
        return module.build(args.out or f"corpus_{args.set}", size=args.size, seed=args.seed, jobs=args.jobs, **only)
    from corpus.build import build

    return build(args.out or "corpus_out", size=args.size, seed=args.seed, jobs=args.jobs)


def cmd_eval(args: argparse.Namespace) -> int:
    from bench.evaluate import evaluate, table

    summary = evaluate(args.manifest, args.events, args.negatives, args.negative_events)
    print(table(summary))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(summary, f, indent=1)
    return 0


def cmd_train_asr(args: argparse.Namespace) -> int:
    from training.asr import train

    state = train(args)
    print(json.dumps({"step": state["step"], "epoch": state["epoch"], "best_dev_wer": state["best_wer"]}))
    return 0


def cmd_train_wakeword(args: argparse.Namespace) -> int:
    from training.wakeword import train

    print(json.dumps(train(args)))
    return 0


GRAPHS_LEGEND = """\
a --> b   data edge: b gets a's messages (those named after it, if any) in order, with control messages
a ~~> b   feedback edge: events and notices only (what nodes tell each other), carried upstream (b never waits)
[device]  runs next to the microphone; [cloud] runs on the cloud side (a Ray custom resource)
default graph: assistant; run one with `speechgraph replay PATH --graph NAME`"""


def cmd_graphs(args: argparse.Namespace) -> int:
    import graphs
    from nodes.file_source import FileSource

    for name in sorted(graphs.GRAPHS):
        print(graphs.build(name, FileSource, {"paths": []}).describe() + "\n")
    print(GRAPHS_LEGEND)
    return 0


def cmd_live(args: argparse.Namespace) -> int:
    from speechgraph import live

    return live.run(args)


def cmd_devices(args: argparse.Namespace) -> int:
    from nodes.mic_source import list_input_devices

    devices = list_input_devices()
    if not devices:
        print("no input devices", file=sys.stderr)
        return 1
    for d in devices:
        print(f"{d['index']:>3}  {d['name']}  ({d['channels']} ch, {d['default_rate']:.0f} Hz)")
    return 0


def cmd_bench_wakeword(args: argparse.Namespace) -> int:
    from bench import wakeword

    wakeword.main(args)
    return 0


def cmd_bench_hop(args: argparse.Namespace) -> int:
    from bench import hop

    hop.main(args)
    return 0


def cmd_bench_asr(args: argparse.Namespace) -> int:
    from bench import asr

    asr.main(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
