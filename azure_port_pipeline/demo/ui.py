"""`azure-port-pipeline demo`: the Dagster UI with sensors and schedules running on the emulators.

`dagster dev` runs in a child process that loads the code location from the environment, as a
deployment would; the estate keeps changing slowly so the UI has something to show.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from azure_port_pipeline.demo.environment import DemoEnvironment, change_estate
from azure_port_pipeline.emulators.azure import AzureEmulator

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def run_ui(env: DemoEnvironment, home: str, ui_port: int) -> int:
    home_dir = Path(home).resolve()
    home_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(PROJECT_ROOT / "dagster.yaml", home_dir / "dagster.yaml")
    ui_env = {
        **os.environ,
        **env.variables(),
        "DAGSTER_HOME": str(home_dir),
        "AZURE_PORT_PROFILE": "development",
        "AZURE_PORT_FULL_SYNC_CRON": "*/5 * * * *",
        "AZURE_PORT_DISCOVERY_SECONDS": "30",
    }
    dagster = Path(sys.executable).with_name("dagster")
    command = [
        str(dagster if dagster.exists() else "dagster"),
        "dev",
        "-w",
        "workspace.yaml",
        "-h",
        "127.0.0.1",
        "-p",
        str(ui_port),
    ]
    print(f"Azure emulator: {env.azure.base_url}   Port emulator: {env.port.base_url}")
    print(f"Dagster UI:     http://127.0.0.1:{ui_port}  (DAGSTER_HOME={home_dir})")
    print(
        "Discovery adds the subscriptions and syncs them within a minute; the estate changes "
        "every 30 s and a full resync runs every 5 minutes. Ctrl-C stops everything."
    )
    _stop_on_signals()
    stop = threading.Event()
    changer = threading.Thread(target=_keep_changing, args=(env.azure, stop), daemon=True)
    changer.start()
    process = subprocess.Popen(command, cwd=PROJECT_ROOT, env=ui_env, preexec_fn=_default_signals)
    try:
        return process.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        stop.set()
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


def _stop_on_signals() -> None:
    """Ctrl-C or SIGTERM stops the demo, even when started from a shell that ignores SIGINT."""

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, interrupt)
    signal.signal(signal.SIGTERM, interrupt)


def _default_signals() -> None:
    """`dagster dev` ignores SIGINT/SIGTERM when inherited as ignored; make them stop it."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _keep_changing(azure: AzureEmulator, stop: threading.Event, every: float = 30.0) -> None:
    rng = random.Random(0)
    while not stop.wait(every):
        change_estate(azure, rng, count=3)
