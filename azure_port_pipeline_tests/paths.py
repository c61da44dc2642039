"""Where the repository's user-facing files are, for tests that run commands from its root."""

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
USER_MAPPING = PROJECT_ROOT / "mapping" / "azure.yaml"
USER_BLUEPRINTS = PROJECT_ROOT / "mapping" / "blueprints.json"
