"""The project's guard rails run as tests, so `make test` fails when they break."""

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def _run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_apps_depend_one_way_core_shop_fulfillment_compliance():
    result = _run(str(BIN / "lint-imports"), "--no-cache")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 kept, 0 broken" in result.stdout


def test_ruff_lint_is_clean():
    result = _run(str(BIN / "ruff"), "check", "--no-cache", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format_is_clean():
    result = _run(str(BIN / "ruff"), "format", "--check", "--no-cache", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_stripe_and_cryptography_are_each_imported_by_one_module():
    importers: dict[str, list[str]] = {"stripe": [], "cryptography": []}
    for path in ROOT.glob("*/**/*.py"):
        if path.parts[len(ROOT.parts)] in {".venv", "tests", "bench", "var"}:
            continue
        text = path.read_text()
        for package, found in importers.items():
            if re.search(rf"^\s*(import|from)\s+{package}\b", text, re.MULTILINE):
                found.append(str(path.relative_to(ROOT)))
    assert importers == {
        "stripe": ["shop/stripe_gateway.py"],
        "cryptography": ["fulfillment/vault.py"],
    }
