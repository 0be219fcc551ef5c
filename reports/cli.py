"""`avatar-report`: build, compare and index HTML reports of run files.

Exit codes: 0 success, 1 a `--fail-on` gate fired, 2 bad usage or unreadable/unwritable file,
3 internal error (a bug: rerun with AVATAR_REPORT_DEBUG=1 for the traceback).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from reports import fmt
from reports.compare import compare_runs, run_gates
from reports.gates import Gate, GateError, GateResult, parse_gate
from reports.index import update_index
from reports.render import PLOTLY_MODES, PlotlyMode
from reports.report import analyze, render_report, write_text_atomic
from reports.runfile import ReportError, load_run

EXIT_OK = 0
EXIT_GATE = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 3

GATE_HELP = (
    "regression gate, repeatable: '<metric>.<stat> <op> <number or expression of base>', e.g. "
    "'speech.onset.p95 > 1.2*base', 'rest.streaming.new.p99 > 500', 'session.create.errors > 0'. "
    "Stats: p50 p90 p95 p99 p99.9 max min mean count errors error_rate; ops: < <= > >= == !=. "
    "The gate fires (exit 1) when the comparison is true. See docs/reports.md."
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="avatar-report",
        description="Self-contained HTML latency reports from streaming-avatar run files (samples.jsonl).",
        epilog="Exit codes: 0 ok, 1 a --fail-on gate fired, 2 bad usage or unreadable file, 3 internal error.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="{build,compare,index}")

    build = sub.add_parser("build", help="one run file -> one HTML report",
                           description="Build a self-contained HTML report (opens offline) from a run file.")
    build.add_argument("run", type=Path, help="run file (JSONL), e.g. reports/runs/<id>/samples.jsonl")
    build.add_argument("-o", "--output", type=Path, default=None,
                       help="report path (default: report.html next to the run file)")
    build.add_argument("--fail-on", action="append", default=[], metavar="EXPR",
                       help="absolute gate on this run (no 'base'), e.g. 'speech.onset.p95 > 1500'")
    _common(build)

    cmp = sub.add_parser("compare", help="two run files -> side-by-side diff and regression gates",
                         description="Compare BASE and NEW; exit 1 when a --fail-on gate fires.")
    cmp.add_argument("base", type=Path, help="baseline run file")
    cmp.add_argument("new", type=Path, help="new run file")
    cmp.add_argument("-o", "--output", type=Path, default=None, help="write the comparison HTML here")
    cmp.add_argument("--fail-on", action="append", default=[], metavar="EXPR", help=GATE_HELP)
    _common(cmp)

    idx = sub.add_parser("index", help="list the runs of a directory in index.html",
                         description="Write RUNS_DIR/index.html listing every <run>/samples.jsonl.")
    idx.add_argument("runs_dir", type=Path, nargs="?", default=Path("reports/runs"),
                     help="directory of run directories (default: reports/runs)")
    idx.add_argument("--build-missing", action="store_true",
                     help="build report.html for runs that do not have one yet")
    idx.add_argument("-q", "--quiet", action="store_true", help="print nothing on success")
    return parser


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--plotlyjs", choices=PLOTLY_MODES, default="compressed",
                   help="embed plotly.js gzip-compressed (default, ~2 MB smaller; needs a 2023+ browser) or raw")
    p.add_argument("-q", "--quiet", action="store_true", help="print only warnings and gate failures")


def _parse_gates(texts: Sequence[str], *, allow_base: bool) -> list[Gate]:
    gates = [parse_gate(t) for t in texts]
    if not allow_base:
        for g in gates:
            if g.uses_base:
                raise GateError(f"{g.text!r} refers to 'base'; use `avatar-report compare BASE NEW` for that")
    return gates


def _print_gates(results: Sequence[GateResult], out: TextIO) -> None:
    for r in results:
        print(r.line(), file=out)


def _size(path: Path) -> str:
    try:
        size = path.stat().st_size
    except OSError:
        return "?"
    return f"{size / 1e6:.1f} MB" if size >= 1e6 else f"{size / 1e3:.0f} kB"


def cmd_build(args: argparse.Namespace) -> int:
    """`avatar-report build`."""
    gates = _parse_gates(args.fail_on, allow_base=False)
    started = time.perf_counter()
    run = load_run(args.run)
    for problem in run.problems():
        print(f"warning: {args.run}: {problem}", file=sys.stderr)
    a = analyze(run)
    out: Path = args.output if args.output is not None else args.run.parent / "report.html"
    mode: PlotlyMode = args.plotlyjs
    write_text_atomic(out, render_report(a, source_name=args.run.name, plotlyjs=mode))
    if not args.quiet:
        print(f"{out}: {a.verdict.summary} ({len(run.samples):,} samples, {_size(out)}, "
              f"{time.perf_counter() - started:.1f} s)")
    results = run_gates(gates, a, None)
    _print_gates([r for r in results if r.fired or not args.quiet], sys.stdout)
    return EXIT_GATE if any(r.fired for r in results) else EXIT_OK


def cmd_compare(args: argparse.Namespace) -> int:
    """`avatar-report compare`."""
    gates = _parse_gates(args.fail_on, allow_base=True)
    cmp = compare_runs(args.base, args.new, args.output, gates, plotlyjs=args.plotlyjs)
    for which, a in (("base", cmp.base), ("new", cmp.new)):
        for problem in a.run.problems():
            print(f"warning: {which} {a.run.path}: {problem}", file=sys.stderr)
    if not args.quiet:
        print(f"base {args.base}: {cmp.base.verdict.summary}")
        print(f"new  {args.new}: {cmp.new.verdict.summary}")
        for metric in ("session.first_frame", "speech.onset", "session.create", "interrupt.latency"):
            b, n = cmp.base.stats.get(metric), cmp.new.stats.get(metric)
            if b and n and b.get("p95") is not None and n.get("p95") is not None:
                bv, nv = b.get("p95"), n.get("p95")
                change = fmt.pct(nv / bv - 1.0, signed=True) if bv else "-"  # type: ignore[operator]
                print(f"  {metric}.p95: {fmt.num(bv)} -> {fmt.num(nv)} {n.unit} ({change})")
        if args.output is not None:
            print(f"{args.output}: written ({_size(args.output)})")
    _print_gates([r for r in cmp.results if r.fired or not args.quiet], sys.stdout)
    if cmp.fired:
        print(f"{len(cmp.fired)} of {len(cmp.results)} gate(s) fired", file=sys.stderr)
        return EXIT_GATE
    return EXIT_OK


def cmd_index(args: argparse.Namespace) -> int:
    """`avatar-report index`."""
    out = update_index(args.runs_dir, build_missing=args.build_missing)
    if not args.quiet:
        print(f"{out}: written")
    return EXIT_OK


COMMANDS = {"build": cmd_build, "compare": cmd_compare, "index": cmd_index}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `avatar-report` console script; returns the exit code."""
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: --help (0) or usage error (2)
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    try:
        return COMMANDS[args.command](args)
    except GateError as exc:
        print(f"avatar-report: bad gate: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except ReportError as exc:
        print(f"avatar-report: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("avatar-report: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug; keep CI logs readable
        if os.environ.get("AVATAR_REPORT_DEBUG"):
            raise
        print(f"avatar-report: internal error: {type(exc).__name__}: {exc} "
              "(rerun with AVATAR_REPORT_DEBUG=1 for the traceback)", file=sys.stderr)
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
