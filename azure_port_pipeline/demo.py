"""`azure-port-pipeline demo`: the pipeline on an embedded default, no Azure or Port account.

Starts the Azure emulator (Entra, ARM, Resource Graph over HTTPS) with a generated estate and
the Port API emulator, points the pipeline at them through the same environment variables a
real deployment uses, and then either starts the Dagster UI with sensors and schedules running
(the estate keeps changing slowly), or with `--once` syncs every subscription headless,
verifies Port against Azure and exits non-zero on any difference.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from azure_port_pipeline.emulators.azure import AzureEmulator
from azure_port_pipeline.emulators.estate import generate_estate
from azure_port_pipeline.emulators.port import PortEmulator

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEMO_CLIENT_ID = "azure-port-pipeline-demo"


@dataclass
class DemoEnvironment:
    azure: AzureEmulator
    port: PortEmulator
    variables: dict[str, str]


@contextlib.contextmanager
def demo_environment(seed: int, subscriptions: int, resources: int) -> Iterator[DemoEnvironment]:
    """Both emulators running, and the variables that point the pipeline at them.

    Credentials are random per run: the demo shows the real authentication flows without a
    secret ever living in the code.
    """
    estate = generate_estate(
        seed=seed, subscriptions=subscriptions, resource_groups=8, resources=resources
    )
    azure_secret, port_secret = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    with tempfile.TemporaryDirectory(prefix="azure-port-demo-") as scratch:
        azure = AzureEmulator(
            estate,
            client_id=DEMO_CLIENT_ID,
            client_secret=azure_secret,
            page_size=200,
            ca_file=str(Path(scratch) / "emulator-ca.pem"),
        )
        port = PortEmulator(client_id=DEMO_CLIENT_ID, client_secret=port_secret)
        with azure, port:
            variables = {
                "AZURE_TENANT_ID": estate.tenant_id,
                "AZURE_CLIENT_ID": DEMO_CLIENT_ID,
                "AZURE_CLIENT_SECRET": azure_secret,
                "AZURE_AUTHORITY_HOST": azure.authority_host,
                "AZURE_ARM_ENDPOINT": azure.base_url,
                "AZURE_CA_BUNDLE": azure.ca_file,
                "PORT_BASE_URL": port.base_url,
                "PORT_CLIENT_ID": DEMO_CLIENT_ID,
                "PORT_CLIENT_SECRET": port_secret,
                "PORT_INSTALLATION_ID": "demo",
            }
            yield DemoEnvironment(azure=azure, port=port, variables=variables)


def run_demo(args: argparse.Namespace) -> int:
    # One more subscription than asked for: the estate's last one is disabled, which shows
    # discovery skipping it while the asked-for number are synced.
    with demo_environment(args.seed, args.subscriptions + 1, args.resources) as env:
        os.environ.update(env.variables)
        if args.once:
            from azure_port_pipeline.demo_once import run_once

            return run_once(env)
        return _run_ui(env, args)


def _run_ui(env: DemoEnvironment, args: argparse.Namespace) -> int:
    home = Path(args.home).resolve()
    home.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(PROJECT_ROOT / "dagster.yaml", home / "dagster.yaml")
    ui_env = {
        **os.environ,
        **env.variables,
        "DAGSTER_HOME": str(home),
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
        str(args.ui_port),
    ]
    print(f"Azure emulator: {env.azure.base_url}   Port emulator: {env.port.base_url}")
    print(f"Dagster UI:     http://127.0.0.1:{args.ui_port}  (DAGSTER_HOME={home})")
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


def change_estate(azure: AzureEmulator, rng: random.Random, count: int) -> dict[str, int]:
    """Some creates, updates and deletes on enabled subscriptions, like a busy team's day."""
    estate = azure.estate
    disabled = set(estate.disabled_subscription_ids)
    enabled = [s for s in estate.subscription_ids if s not in disabled]
    done = {"created": 0, "updated": 0, "deleted": 0}
    for _ in range(count):
        subscription_id = rng.choice(enabled)
        accounts = list(estate.resources(subscription_id, "Microsoft.Storage/storageAccounts"))
        if not accounts:
            continue
        victim = rng.choice(accounts)
        action = rng.choice(("created", "updated", "deleted"))
        if action == "created":
            azure.create_resource(_clone(victim, rng))
        elif action == "updated":
            azure.update_resource(victim["id"], {"tags.demo-touched": str(rng.randint(1, 10**6))})
        else:
            azure.delete_resource(victim["id"])
        done[action] += 1
    return done


def _clone(body: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    name = f"demo{rng.randint(10**6, 10**7 - 1)}"
    prefix = body["id"].rsplit("/", 1)[0]
    clone = {key: value for key, value in body.items() if key not in ("id", "name")}
    return {**clone, "id": f"{prefix}/{name}", "name": name}
