"""reports.cli: `avatar-report` subcommands and their exit codes (0 ok, 1 gate fired, 2 usage)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from reports.cli import main


def test_build(rich_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "report.html"
    assert main(["build", str(rich_run), "-o", str(out)]) == 0
    assert out.is_file() and str(out) in capsys.readouterr().out


def test_build_gates(rich_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = str(tmp_path / "r.html")
    assert main(["build", str(rich_run), "-o", out, "--fail-on", "speech.onset.p95 > 1e9"]) == 0
    assert main(["build", str(rich_run), "-o", out, "-q", "--fail-on", "speech.onset[regular 3G].p95 > 1"]) == 1
    assert "FAIL speech.onset[regular 3G].p95 > 1" in capsys.readouterr().out
    assert main(["build", str(rich_run), "-o", out, "--fail-on", "speech.onset.p95 > base"]) == 2
    assert "compare" in capsys.readouterr().err


@pytest.mark.parametrize("fixture", ["empty_run", "garbage_run", "error_only_run", "single_run"])
def test_build_awkward_runs_warn_not_crash(fixture: str, request: pytest.FixtureRequest, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    run: Path = request.getfixturevalue(fixture)
    assert main(["build", str(run), "-o", str(tmp_path / "r.html")]) == 0
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    if fixture in ("empty_run", "garbage_run"):
        assert "warning:" in captured.err


def test_compare_gate_pass_and_fail(base_run: Path, slower_run: Path, tmp_path: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "diff.html"
    gate = ["--fail-on", "speech.onset.p95 > 1.2*base", "--fail-on", "session.create.errors > 0"]
    assert main(["compare", str(base_run), str(base_run), "-o", str(out), *gate]) == 0
    assert out.is_file()
    assert main(["compare", str(base_run), str(slower_run), *gate]) == 1
    captured = capsys.readouterr()
    assert "FAIL speech.onset.p95 > 1.2*base" in captured.out
    assert "1 of 2 gate(s) fired" in captured.err


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["frobnicate"],
        ["build"],
        ["build", "/nonexistent/samples.jsonl"],
        ["build", "."],
        ["compare", "{base}"],
        ["compare", "{base}", "/nonexistent.jsonl"],
        ["compare", "{base}", "{base}", "--fail-on", "speech.onset.p95 >> 2"],
        ["compare", "{base}", "{base}", "--fail-on", "speech.onset.p97 > 2"],
        ["index", "/nonexistent-dir"],
        ["build", "{base}", "--plotlyjs", "cdn"],
    ],
)
def test_bad_usage_exits_2(argv: list[str], base_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([a.format(base=base_run) for a in argv]) == 2
    assert "Traceback" not in capsys.readouterr().err


def test_unwritable_output(base_run: Path, tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    assert main(["build", str(base_run), "-o", str(tmp_path / "file" / "r.html")]) == 2


def test_help_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    assert "compare" in capsys.readouterr().out


def test_index(base_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    runs_dir = base_run.parent.parent
    assert main(["index", str(runs_dir)]) == 0
    assert (runs_dir / "index.html").is_file()


def test_python_dash_m(base_run: Path, tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "reports", "build", str(base_run), "-o", str(tmp_path / "r.html"),
                           "-q"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr


def test_reports_imports_no_other_project_package() -> None:
    """reports reads run files only: importing it (and its CLI) must not pull in the mock, harness or loadtests."""
    code = ("import sys, reports, reports.cli, reports.index; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & "
            "{'mockserver', 'harness', 'loadtests', 'avatar_contract'}))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout.strip() == "[]", proc.stdout + proc.stderr
