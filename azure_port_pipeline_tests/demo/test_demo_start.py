"""What the UI demo checks before anything starts: its UI port, and the home it owns.

A busy port fails at once with what to change (instead of a demo running without a UI); the
home is wiped clean at every start, but only a home the demo created, and only when no other
demo is running on it.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path

import pytest

from azure_port_pipeline.defs.instance_config import instance_yaml
from azure_port_pipeline.demo.environment import demo_environment
from azure_port_pipeline.demo.ui import (
    HOME_MARKER,
    DemoStartError,
    change_snippet,
    claim_home,
    write_demo_env,
)
from azure_port_pipeline_tests.demo.running_demo import demo_command, free_port
from azure_port_pipeline_tests.paths import PROJECT_ROOT


def _run_demo(*args: str) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.monotonic()
    result = subprocess.run(
        demo_command(*args), cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120
    )
    return result, time.monotonic() - started


def test_a_busy_ui_port_fails_at_once_naming_the_option_and_the_make_variable(
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result, seconds = _run_demo("--ui-port", str(port), "--home", str(home))

    assert result.returncode == 2, result
    assert f"127.0.0.1:{port} is not available" in result.stderr
    assert "--ui-port" in result.stderr
    assert "make demo UI_PORT=" in result.stderr
    # Before anything started: no emulator, no UI, the home not even created.
    assert "emulator" not in result.stdout, result.stdout
    assert not home.exists()
    assert seconds < 60, f"{seconds:.1f} s to report a busy port"


def test_a_home_the_demo_did_not_create_is_refused_and_left_untouched(tmp_path: Path) -> None:
    home = tmp_path / "someone-elses-dagster-home"
    runs = home / "history" / "runs.db"
    runs.parent.mkdir(parents=True)
    runs.write_text("precious")

    result, _ = _run_demo("--ui-port", str(free_port()), "--home", str(home))

    assert result.returncode == 2, result
    assert f"--home {home} is not empty and is not a demo home" in result.stderr
    assert HOME_MARKER in result.stderr
    assert "emulator" not in result.stdout, result.stdout
    assert runs.read_text() == "precious"
    assert sorted(p.name for p in home.iterdir()) == ["history"]


def test_a_new_home_is_marked_and_gets_the_instance_settings(tmp_path: Path) -> None:
    with claim_home(tmp_path / "home") as home:
        assert home.wiped == []
        assert (home.path / HOME_MARKER).is_file()
        assert (home.path / "dagster.yaml").read_text() == instance_yaml({}, home.path)


def test_every_start_wipes_the_previous_demos_instance_and_keeps_only_the_marker_and_nux(
    tmp_path: Path,
) -> None:
    with claim_home(tmp_path / "home") as home:
        pass
    # What a demo run leaves behind: SQLite runs and event logs, schedule and sensor state,
    # snapshots and compute logs, Dagster's note that its welcome dialog was dismissed.
    left = ["history/runs.db", "history/runs/abc.db", "schedules/schedules.db"]
    left += ["storage/snapshots/azure/x.jsonl.gz", "logs/event.log", ".nux/nux.yaml"]
    for name in left:
        (home.path / name).parent.mkdir(parents=True, exist_ok=True)
        (home.path / name).write_text("stale")

    with claim_home(home.path) as again:
        assert again.wiped == ["dagster.yaml", "history", "logs", "schedules", "storage"]
        assert sorted(p.name for p in again.path.iterdir()) == sorted(
            [".nux", HOME_MARKER, "dagster.yaml"]
        )
        assert (again.path / ".nux" / "nux.yaml").read_text() == "stale"


def test_a_home_another_demo_is_running_on_is_refused(tmp_path: Path) -> None:
    with claim_home(tmp_path / "home") as running:
        (running.path / "history").mkdir()
        with pytest.raises(DemoStartError, match="another demo is running with --home"):
            claim_home(running.path)
        assert (running.path / "history").is_dir()  # nothing wiped under the running demo
    with claim_home(tmp_path / "home") as after:
        assert after.wiped == ["dagster.yaml", "history"]


@pytest.mark.parametrize("port", [70000, -1])
def test_an_impossible_ui_port_is_reported_as_such(port: int, tmp_path: Path) -> None:
    result, _ = _run_demo("--ui-port", str(port), "--home", str(tmp_path / "home"))
    assert result.returncode == 2, result
    assert "--ui-port" in result.stderr


def test_the_printed_snippet_changes_a_resource_through_the_sdk_with_demo_env(tmp_path):
    """demo.env holds the pipeline's own variable names; sourcing it and running the snippet
    the demo prints creates a resource through the real Azure SDK."""
    with demo_environment(7, 2, 40) as env:
        env_file = write_demo_env(tmp_path, env.variables())
        assert oct(env_file.stat().st_mode & 0o777) == "0o600"
        lines = dict(line.split("=", 1) for line in env_file.read_text().splitlines())
        assert {"AZURE_TENANT_ID", "AZURE_CLIENT_SECRET", "PORT_CLIENT_ID"} <= set(lines)
        done = subprocess.run(
            ["bash", "-c", change_snippet(env_file)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            env={"PATH": os.environ.get("PATH", "")},
        )
        assert done.returncode == 0, done.stderr[-3000:]
        created = done.stdout.split()[-1]
        assert env.azure.estate.get(created)["tags"] == {"hello": "real-time"}
