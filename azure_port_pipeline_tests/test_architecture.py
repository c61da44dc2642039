"""The import rules of DESIGN.md, checked by import-linter (contracts in pyproject.toml)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# what the `lint-imports` entry point runs (`python -m importlinter.cli` does nothing: no __main__)
LINT_IMPORTS = (
    "import sys; from importlinter.cli import lint_imports_command; "
    "sys.exit(lint_imports_command())"
)


def test_import_contracts_hold() -> None:
    done = subprocess.run(
        [sys.executable, "-c", LINT_IMPORTS, "--no-cache", "--no-logo"],
        cwd=REPO,  # lint-imports reads [tool.importlinter] from ./pyproject.toml
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = f"{done.stdout}\n{done.stderr}"
    assert done.returncode == 0, f"lint-imports failed:\n{output}"
    assert " kept, 0 broken." in done.stdout, f"lint-imports checked nothing?\n{output}"
