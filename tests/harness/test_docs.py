"""The Python examples in docs/testing-your-client.md run as written: scripts against the mock, test files
in a fresh pytest run."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from harness.pytest_plugin import HeygenTarget

pytest_plugins = ["pytester"]

CACHE_HOME = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
DOC = Path(__file__).resolve().parents[2] / "docs" / "testing-your-client.md"
BLOCK = re.compile(r"<!-- run: (?P<kind>script|pytest) -->\s*```python\n(?P<code>.*?)```", re.DOTALL)


def blocks(kind: str) -> list[str]:
    return [m["code"] for m in BLOCK.finditer(DOC.read_text(encoding="utf-8")) if m["kind"] == kind]


def test_the_doc_has_runnable_examples() -> None:
    assert len(blocks("script")) == 2 and len(blocks("pytest")) == 3


@pytest.mark.parametrize("index", range(2))
def test_script_examples(
    index: int, heygen_mock: HeygenTarget, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AVATAR_MOCK_URL", heygen_mock.url)
    exec(compile(blocks("script")[index], f"{DOC.name}:script{index}", "exec"), {"__name__": "__doc_example__"})
    assert capsys.readouterr().out


def test_pytest_examples(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    # pytester gives the run a fresh HOME: keep the mock's clip cache where it is, or every run re-encodes.
    monkeypatch.setenv("XDG_CACHE_HOME", CACHE_HOME)
    pytester.makeini("[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n")
    for index, code in enumerate(blocks("pytest")):
        pytester.makepyfile(**{f"test_doc_example_{index}": code})
    result = pytester.runpytest("-p", "no:cacheprovider", "-q")
    result.assert_outcomes(passed=9)
