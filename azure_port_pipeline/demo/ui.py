"""`azure-port-pipeline demo`: the Dagster UI with sensors and schedules running on the emulators.

`dagster dev` runs in a child process that loads the code location from the environment, as a
deployment would; the estate keeps changing slowly so the UI has something to show. It runs in
a process group of its own, from DAGSTER_HOME: Ctrl-C (or SIGTERM) on the demo stops all of
Dagster's processes, runs in flight included.

The demo owns its `--home` (the `DAGSTER_HOME` of the UI): every start wipes the instance state
a previous demo left there (runs, event logs, schedule and sensor state, dynamic partitions,
snapshots), because the emulators start empty and a stale instance would see the subscriptions as
known and sync nothing; only Dagster's note that its welcome dialog was dismissed is kept. It
only ever wipes a directory holding its marker file, and holds a lock on that file while it
runs, so a second demo on the same home refuses to start instead of wiping the first one's
instance from under it.

This module imports nothing heavy at the top: the checks run before the emulators start, and a
bad `--ui-port` or `--home` is reported within a second.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from azure_port_pipeline.demo.environment import DemoEnvironment
    from azure_port_pipeline.emulators.azure import AzureEmulator

PROJECT_ROOT = Path(__file__).resolve().parents[2]
UI_HOST = "127.0.0.1"
HOME_MARKER = ".azure-port-pipeline-demo"
# Kept across starts: the marker, and Dagster's note that the "Join the Dagster community"
# dialog was dismissed (a UI preference, not instance state).
_KEPT = {HOME_MARKER, ".nux"}
_MARKER_TEXT = (
    "This directory is the DAGSTER_HOME of `azure-port-pipeline demo`.\n"
    "The demo wipes everything in it at every start (it starts from a clean state);\n"
    "do not keep anything else here.\n"
)


class DemoStartError(Exception):
    """The demo cannot start as asked; the message says what to change."""


def check_ui_port(port: int, host: str = UI_HOST) -> None:
    """Fail early when the UI port cannot be bound: `dagster dev` would run on without a UI."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # As the webserver binds (uvicorn sets SO_REUSEADDR): a port in TIME_WAIT is usable,
        # a port someone listens on is not.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except (OSError, OverflowError) as error:
            reason = getattr(error, "strerror", None) or str(error)
            raise DemoStartError(
                f"the Dagster UI port {host}:{port} is not available ({reason}). "
                "Pick a free one with `--ui-port PORT` "
                "(`make demo UI_PORT=PORT` sets it through the Makefile variable UI_PORT)."
            ) from None


class DemoHome:
    """The demo's DAGSTER_HOME, claimed (locked) and wiped clean; release with `close()`."""

    def __init__(self, path: Path, lock: IO[str], wiped: list[str]) -> None:
        self.path = path
        self.wiped = wiped  # names of the entries removed at start (empty for a new home)
        self._lock = lock

    def close(self) -> None:
        self._lock.close()  # closing the file releases the lock

    def __enter__(self) -> DemoHome:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def claim_home(home: str | Path) -> DemoHome:
    """Lock the demo home and wipe the instance state of a previous demo run.

    Refuses (DemoStartError) a path that is not a directory, a non-empty directory the demo did
    not create (no marker file: it may be someone's real DAGSTER_HOME), and a home another
    running demo holds.
    """
    from azure_port_pipeline.defs.instance_config import write_instance

    path = Path(home).expanduser().resolve()
    marker = path / HOME_MARKER
    if path.exists() and not path.is_dir():
        raise DemoStartError(f"--home {path} is not a directory. Pick another --home.")
    if path.is_dir() and not marker.is_file() and any(path.iterdir()):
        raise DemoStartError(
            f"--home {path} is not empty and is not a demo home (it has no {HOME_MARKER} file). "
            "The demo starts from a clean state by wiping its home at every start, so it only "
            "uses an empty directory or one it created. Pick another --home, or, if this is an "
            f"old demo home you no longer need, remove it (`rm -rf {path}`)."
        )
    path.mkdir(parents=True, exist_ok=True)
    lock = marker.open("a+", encoding="utf-8")
    try:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.close()
        raise DemoStartError(
            f"another demo is running with --home {path}; stop it first, or pick another --home."
        ) from None
    try:
        wiped = []
        for entry in sorted(path.iterdir()):
            if entry.name in _KEPT:
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
            wiped.append(entry.name)
        lock.seek(0)
        lock.truncate()
        lock.write(_MARKER_TEXT)
        lock.flush()
        # Always SQLite, whatever DAGSTER_PG_* says: the demo wipes its instance at every start
        # and must never write emulated runs into a real database.
        write_instance(path, {})
    except BaseException:
        lock.close()
        raise
    return DemoHome(path, lock, wiped)


DEMO_ENV = "demo.env"


def write_demo_env(home: Path, variables: dict[str, str]) -> Path:
    """The demo's settings as `KEY=value` lines, readable by the owner only (they hold the
    emulators' throwaway credentials), for a shell (`set -a; . demo.env`) or a script."""
    path = home / DEMO_ENV
    path.touch(mode=0o600)
    path.chmod(0o600)
    path.write_text("".join(f"{key}={value}\n" for key, value in sorted(variables.items())))
    return path


CHANGE_SCRIPT = """\
import os
from azure.identity import ClientSecretCredential
from azure.mgmt.resource.resources import ResourceManagementClient
from azure.mgmt.resource.subscriptions import SubscriptionClient
ca = os.environ["AZURE_CA_BUNDLE"]
credential = ClientSecretCredential(
    os.environ["AZURE_TENANT_ID"], os.environ["AZURE_CLIENT_ID"],
    os.environ["AZURE_CLIENT_SECRET"], authority=os.environ["AZURE_AUTHORITY_HOST"],
    connection_verify=ca, disable_instance_discovery=True)
arm = dict(base_url=os.environ["AZURE_ARM_ENDPOINT"], connection_verify=ca,
           credential_scopes=["https://management.azure.com/.default"])
subscription = next(iter(SubscriptionClient(credential, **arm).subscriptions.list()))
client = ResourceManagementClient(credential, subscription.subscription_id, **arm)
group = next(iter(client.resource_groups.list())).name
account = (f"/subscriptions/{subscription.subscription_id}/resourceGroups/{group}"
           "/providers/Microsoft.Storage/storageAccounts/sthellorealtime")
client.resources.begin_create_or_update_by_id(account, api_version="2023-01-01", parameters={
    "location": "westeurope", "kind": "StorageV2", "sku": {"name": "Standard_LRS"},
    "tags": {"hello": "real-time"}}).result()
print("created", account)
"""


def change_snippet(env_file: Path) -> str:
    """A copy-paste shell snippet that changes a resource through the real Azure SDK."""
    return f"\nset -a; . {env_file}; set +a\n{sys.executable} - <<'PY'\n{CHANGE_SCRIPT}PY\n"


def run_ui(env: DemoEnvironment, home: DemoHome, ui_port: int) -> int:
    from azure_port_pipeline.demo.environment import change_estate
    from azure_port_pipeline.emulators.azure import DEFAULT_CHANGE_DELAY

    # Like Azure, but in seconds: change rows show in Resource Graph a few seconds after the
    # write, and each change window ends a little earlier than that.
    env.azure.change_delay = DEFAULT_CHANGE_DELAY
    ui_env = {
        **os.environ,
        **env.variables(),
        "DAGSTER_HOME": str(home.path),
        "AZURE_PORT_PROFILE": "development",
        "AZURE_PORT_FULL_SYNC_CRON": "*/5 * * * *",
        "AZURE_PORT_DISCOVERY_SECONDS": "30",
        "AZURE_PORT_INCREMENTAL_MINUTES": "1",
        "AZURE_PORT_CHANGE_LAG_SECONDS": str(int(DEFAULT_CHANGE_DELAY) * 2),
        "AZURE_PORT_EVENTS_SECONDS": "5",
    }
    env_file = write_demo_env(home.path, env.variables())
    dagster = Path(sys.executable).with_name("dagster")
    # Run from DAGSTER_HOME with the workspace by absolute path: the instance is the one in
    # DAGSTER_HOME (not a dagster.yaml in the caller's folder), and no `.env` of the caller's
    # folder overrides the emulator wiring.
    command = [
        str(dagster if dagster.exists() else "dagster"),
        "dev",
        "-w",
        str(PROJECT_ROOT / "workspace.yaml"),
        "-h",
        UI_HOST,
        "-p",
        str(ui_port),
    ]
    if home.wiped:
        print(
            f"Clean start: wiped the previous demo's instance in {home.path} (runs, event logs, "
            "schedule and sensor state, partitions, snapshots); the emulators start empty too."
        )
    print(f"Azure emulator: {env.azure.base_url}   Port emulator: {env.port.base_url}")
    print(f"Dagster UI:     http://{UI_HOST}:{ui_port}  (DAGSTER_HOME={home.path})")
    print(f"Settings:       {env_file} (the AZURE_* and PORT_* variables of this demo)")
    if env.events_connection_string:
        print(
            "Real-time: every ARM write goes to Azurite's queue as an Event Grid event; the "
            "azure_events sensor syncs it within seconds. Try it (in another terminal):\n"
            + change_snippet(env_file)
        )
    print(
        "Discovery adds the subscriptions and syncs them within a minute; the estate changes "
        "every 30 s, a change window is read every minute (incremental runs for the "
        "subscriptions that changed) and a full resync runs every 5 minutes. Ctrl-C stops "
        "everything.",
        flush=True,
    )
    _stop_on_signals()
    stop = threading.Event()
    changer = threading.Thread(
        target=_keep_changing, args=(env.azure, stop, change_estate), daemon=True
    )
    # Dagster in a process group of its own: stopping the demo stops every process of it (the
    # webserver, the daemon, the code server and any run in flight), not only `dagster dev`.
    process = subprocess.Popen(
        command,
        cwd=home.path,
        env=ui_env,
        preexec_fn=_default_signals,
        start_new_session=True,
    )
    changer.start()
    interrupted = False
    try:
        os.waitid(os.P_PID, process.pid, os.WEXITED | os.WNOWAIT)  # exited, not reaped yet
    except KeyboardInterrupt:
        interrupted = True
        print("Stopping the Dagster UI and the emulators...", flush=True)
    finally:
        # A second Ctrl-C must not cut the (bounded) clean-up short and leave Dagster running.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        stop.set()
        returncode = _stop_process_group(process)
    return 0 if interrupted else returncode


def _stop_process_group(process: subprocess.Popen[bytes], grace: float = 30.0) -> int:
    """SIGTERM to the whole group, SIGKILL to whatever is left once its leader is gone.

    The leader is waited for without being reaped (WNOWAIT): until it is, its pid, the group
    id, cannot be given to another process, so the signals reach only this group.
    """
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while not _exited(process.pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    return process.wait()


def _exited(pid: int) -> bool:
    return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None


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


def _keep_changing(
    azure: AzureEmulator, stop: threading.Event, change_estate: Any, every: float = 30.0
) -> None:
    rng = random.Random(0)
    while not stop.wait(every):
        change_estate(azure, rng, count=3)
