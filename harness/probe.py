"""``avatar-probe``: open one session, speak a few sentences, print what it took.

Against the mock (no ``--base-url``: one is started in-process) or any service URL. Anything that is not
loopback is treated as the real service: it needs ``--real`` and a key from the environment, and every
session opened is stopped on the way out, also on errors and Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.table import Table

from harness.client import StreamingClient
from harness.errors import StreamingError
from harness.media import MediaStats
from harness.metrics import MemorySink, RunWriter, SampleSink, Tee
from harness.session import SpeechResult
from harness.urls import is_loopback_url

SENTENCES = (
    "Hello! I am your streaming avatar, and this is a quick latency probe.",
    "Each sentence measures how long speech takes to start and how long it lasts.",
    "Thanks for listening; the session stops as soon as this sentence ends.",
)
MAX_SENTENCES = 50
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="avatar-probe", description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", help="service URL; default: start a mock in-process")
    parser.add_argument("--api-key-env", default="HEYGEN_API_KEY", help="environment variable holding the key")
    parser.add_argument("--real", action="store_true", help="allow a non-loopback (real, billed) service")
    parser.add_argument("-n", "--sentences", type=int, default=3, help=f"how many sentences (1..{MAX_SENTENCES})")
    parser.add_argument("--text", action="append", help="a sentence to speak (repeatable; replaces the defaults)")
    parser.add_argument("--quality", default="low", choices=["low", "medium", "high"])
    parser.add_argument("--codec", default="VP8", choices=["VP8", "H264"])
    parser.add_argument("--flow", default="v1", choices=["v1", "seed", "v2", "none"])
    parser.add_argument("--receive", default="count", choices=["count", "decode", "wire"])
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds for each wait (REST and media)")
    parser.add_argument("--out", help="also write the samples to this JSONL run file")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    console = Console(highlight=False)
    if not 1 <= args.sentences <= MAX_SENTENCES:
        console.print(f"avatar-probe: --sentences must be 1..{MAX_SENTENCES}")
        return EXIT_USAGE
    key = os.environ.get(args.api_key_env, "").strip() or None
    if args.base_url is not None:
        if not is_loopback_url(args.base_url) and not args.real:
            console.print(f"avatar-probe: {args.base_url} is not loopback; pass --real to use a real (billed) service")
            return EXIT_USAGE
        if key is None and not is_loopback_url(args.base_url):
            console.print(f"avatar-probe: set {args.api_key_env} to the service's API key")
            return EXIT_USAGE
    try:
        with _target(args.base_url) as base_url:
            return asyncio.run(_probe(args, base_url, key or "probe-local-key", console))
    except KeyboardInterrupt:
        console.print("avatar-probe: interrupted; the session was stopped")
        return EXIT_INTERRUPTED


@contextmanager
def _target(base_url: str | None) -> Iterator[str]:
    """The URL to probe: the one given, or a mock started on a free loopback port for the run."""
    if base_url is not None:
        yield base_url
        return
    from harness.server_thread import ServerThread
    from mockserver.app import create_app
    from mockserver.config import Settings

    settings = Settings(port=0)
    with ServerThread(lambda: create_app(settings)) as server:
        yield server.url


async def _probe(args: argparse.Namespace, base_url: str, key: str, console: Console) -> int:
    memory = MemorySink()
    writer = RunWriter(args.out, _run_context(args, base_url)) if args.out else None
    sink: SampleSink = Tee(memory, writer) if writer else memory
    texts = list(args.text or SENTENCES)
    texts = [texts[i % len(texts)] for i in range(args.sentences)]
    results: list[SpeechResult] = []
    stats: MediaStats | None = None
    code = EXIT_OK
    try:
        client = StreamingClient(base_url, key, sink=sink, timeout=args.timeout, labels={"scenario": "probe"})
        session_options: dict[str, Any] = {"media_timeout": args.timeout, "stats_interval": None}
        async with client, client.session(args.quality, args.codec, args.flow, args.receive, **session_options) as s:
            console.print(f"session {s.session_id} ({s.tier}, {s.codec}, flow {s.flow})")
            if s.receiver is not None:
                await s.wait_connected(args.timeout)
                await s.wait_first_frame(args.timeout)
            for text in texts:
                results.append(await s.speak(text, timeout=args.timeout))
            stats = s.media_stats() if s.receiver is not None else None
    except StreamingError as exc:
        console.print(f"avatar-probe: {exc}")
        code = EXIT_FAILED
    except asyncio.CancelledError:  # Ctrl-C: the session has been stopped on the way out
        code = EXIT_INTERRUPTED
        raise
    finally:
        if writer is not None:
            writer.close(code)
    _print(console, memory, results, stats)
    return code


def _run_context(args: argparse.Namespace, base_url: str) -> dict[str, Any]:
    return {
        "target": "mock" if args.base_url is None or is_loopback_url(base_url) else "real",
        "host": base_url,
        "scenario": "probe",
        "users": 1,
        "notes": f"avatar-probe: {args.sentences} sentences, {args.quality}/{args.codec}, flow {args.flow}",
    }


def _print(console: Console, memory: MemorySink, results: list[SpeechResult], stats: MediaStats | None) -> None:
    if results:
        speech = Table(title="Speech")
        for column in ("#", "task", "duration ms", "event ms", "onset ms", "received ms"):
            speech.add_column(column, justify="right" if column != "task" else "left")
        for i, r in enumerate(results, 1):
            speech.add_row(
                str(i),
                r.task_id,
                _fmt(r.duration_ms),
                _fmt(r.event_latency_ms),
                _fmt(r.onset_latency_ms),
                _fmt(r.received_duration_ms),
            )
        console.print(speech)
    timings = Table(title="Timings")
    for column in ("metric", "n", "p50", "p90", "max", "unit", "errors"):
        timings.add_column(column, justify="left" if column in ("metric", "unit") else "right")
    for s in memory.summary():
        timings.add_row(s.metric, str(s.count), _fmt(s.p50), _fmt(s.p90), _fmt(s.max), s.unit, str(s.errors))
    console.print(timings)
    if stats is not None:
        console.print(
            f"media: {stats.bitrate_kbps:.0f} kbps, {stats.fps:.1f} fps, {stats.freezes} freezes, "
            f"{stats.packet_loss_percent:.2f}% loss, jitter {stats.jitter_ms:.1f} ms over {stats.seconds:.1f} s"
        )


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


if __name__ == "__main__":
    sys.exit(main())
