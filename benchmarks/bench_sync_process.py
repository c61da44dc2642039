"""Benchmark: the whole `azure-port-pipeline sync` process, from start to exit, as a user runs it.

bench_full_sync.py times the runs inside one Python process; this times what a user waits
for: interpreter start, imports, loading the code location, discovery, every run and the report,
on a fresh on-disk DAGSTER_HOME with the project's dagster.yaml. A first sync, then a second
one with nothing changed in Azure, which must leave the same catalog in Port and write nothing.

The emulators serve the demo's estate from a child process, so their work does not compete
with the measured process for this one's interpreter; their request counters cover exactly
one sync each (reset after every read).

    .venv/bin/python benchmarks/bench_sync_process.py
    .venv/bin/python benchmarks/bench_sync_process.py --repeat 3 --resources 5000
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import multiprocessing
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CLI = Path(sys.executable).with_name("azure-port-pipeline")
WRITE_ROUTES = ("/entities/bulk", "/bulk/entities/delete")
SYNC_TIMEOUT_SECONDS = 1800
STOP_TIMEOUT_SECONDS = 30


def serve_emulators(args: argparse.Namespace, pipe: Any) -> None:
    """Child process: both emulators; answers "counters" (then resets them) and "stop"."""
    from azure_port_pipeline.demo.environment import demo_environment

    with demo_environment(args.seed, args.subscriptions + 1, args.resources) as env:
        env.azure.graph_quota.quota = None  # no Resource Graph throttling: time the pipeline
        pipe.send(env.variables())
        while pipe.recv() != "stop":
            pipe.send(
                {
                    "azure": dict(env.azure.counters),
                    "port": dict(env.port.counters),
                    "entities": env.port.entity_count(),
                    "catalog": _catalog_digest(env.port.entities()),
                    "cpu": time.process_time(),  # every thread of both emulators
                }
            )
            env.azure.reset_counters()
            env.port.reset_counters()


def _catalog_digest(entities: list[dict[str, Any]]) -> str:
    """What Port holds, as one digest: equal digests, same catalog (ignoring timestamps)."""
    kept = ("blueprint", "identifier", "title", "properties", "relations")
    rows = sorted(json.dumps({k: e.get(k) for k in kept}, sort_keys=True) for e in entities)
    return hashlib.sha256("\n".join(rows).encode()).hexdigest()[:16]


@dataclass
class SyncTiming:
    label: str
    seconds: float
    exit_code: int
    counts: dict[str, Any]
    output: str
    cpu: float
    """CPU seconds (user + system) of the sync process and every process it started."""
    emulator_cpu: float
    """CPU seconds of the emulators while they served this sync."""

    @property
    def port_writes(self) -> int:
        return sum(n for route, n in self.counts["port"].items() if route.endswith(WRITE_ROUTES))

    def describe(self) -> str:
        azure = sum(self.counts["azure"].values())
        port = sum(self.counts["port"].values())
        return (
            f"  {self.label:<28} {self.seconds:7.1f} s   exit {self.exit_code}   "
            f"entities {self.counts['entities']:,}   Azure requests {azure:,}   "
            f"Port requests {port:,} (writes {self.port_writes:,})\n"
            f"  {'':<28} CPU: pipeline {self.cpu:.1f} s, emulators {self.emulator_cpu:.1f} s "
            f"(on {os.cpu_count()} cores: at least "
            f"{(self.cpu + self.emulator_cpu) / (os.cpu_count() or 1):.1f} s of wall time)"
        )


@contextlib.contextmanager
def running_emulators(args: argparse.Namespace) -> Iterator[tuple[Any, dict[str, str]]]:
    """The emulator process and the variables wiring a process to it; stopped on exit."""
    parent, child = multiprocessing.Pipe()
    process = multiprocessing.get_context("spawn").Process(
        target=serve_emulators, args=(args, child), daemon=True
    )
    process.start()
    try:
        if not parent.poll(300):
            raise RuntimeError("the emulators did not start within 300 s")
        yield parent, parent.recv()
    finally:
        with contextlib.suppress(OSError):
            parent.send("stop")
        process.join(STOP_TIMEOUT_SECONDS)
        if process.is_alive():
            process.kill()
            process.join()


@contextlib.contextmanager
def fresh_dagster_home(postgres: bool = False) -> Iterator[tuple[Path, dict[str, str]]]:
    """A DAGSTER_HOME as the README sets one up (`azure-port-pipeline instance`), and the
    variables its instance needs: SQLite, or with `postgres` a throwaway Postgres server (the
    tests' own, stopped on exit) selected by DAGSTER_PG_URL."""
    from azure_port_pipeline.defs.instance_config import write_instance

    with tempfile.TemporaryDirectory(prefix="bench-sync-home-") as home:
        if not postgres:
            write_instance(Path(home), {})
            yield Path(home), {}
            return
        sys.path.insert(0, str(ROOT))  # the tests' package is not installed, only importable
        from azure_port_pipeline_tests.postgres import running_postgres

        with running_postgres(Path(home) / "postgres") as server:
            write_instance(Path(home), server.env())
            yield Path(home), server.env()


def sync_environment(variables: dict[str, str], home: Path) -> dict[str, str]:
    """This environment without the machine's Azure or Port wiring (AZURE_PORT_* settings
    stay, to compare e.g. AZURE_PORT_HEADLESS_CONCURRENCY), wired to the emulators."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key.startswith("AZURE_PORT_") or not key.startswith(("AZURE_", "PORT_"))
    }
    return {**env, **variables, "DAGSTER_HOME": str(home)}


def timed_sync(label: str, env: dict[str, str], pipe: Any, emulator_cpu: float) -> SyncTiming:
    """One `azure-port-pipeline sync` from start to exit; its session (the run workers it
    starts included) is killed if it overruns or this benchmark is interrupted.

    Its CPU is sampled from /proc for every process of its session (run workers forked by a
    fork server are nobody's waited-for children); `emulator_cpu` is the emulators' CPU clock
    before it started."""
    started = time.monotonic()
    process = subprocess.Popen(
        [str(CLI), "sync"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    sampler = SessionCpu(process.pid)
    try:
        output, _ = process.communicate(timeout=SYNC_TIMEOUT_SECONDS)
    finally:
        sampler.stop()
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    seconds = time.monotonic() - started
    pipe.send("counters")
    counts = pipe.recv()
    return SyncTiming(
        label,
        seconds,
        process.returncode,
        counts,
        output,
        sampler.seconds,
        counts["cpu"] - emulator_cpu,
    )


class SessionCpu:
    """CPU seconds of every process in a session, sampled every 50 ms from /proc (each
    process's own user + system time at its last sample: a process that exits between two
    samples loses at most 50 ms)."""

    def __init__(self, session: int) -> None:
        self._session = session
        self._seen: dict[int, float] = {}
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample_until_done, daemon=True)
        self._thread.start()

    @property
    def seconds(self) -> float:
        return sum(self._seen.values())

    def stop(self) -> None:
        self._done.set()
        self._thread.join()

    def _sample_until_done(self) -> None:
        tick = os.sysconf("SC_CLK_TCK")
        while not self._done.wait(0.05):
            for entry in os.scandir("/proc"):
                if not entry.name.isdigit():
                    continue
                try:
                    stat = Path(entry.path, "stat").read_text()
                except OSError:
                    continue
                fields = stat[stat.rindex(")") + 2 :].split()
                if int(fields[3]) == self._session:  # field 6 of stat: the session id
                    pid = int(entry.name)
                    self._seen[pid] = (int(fields[11]) + int(fields[12])) / tick


def one_round(args: argparse.Namespace) -> tuple[SyncTiming, SyncTiming]:
    """Fresh emulators and a fresh instance; a first sync, then one with nothing changed."""
    with (
        running_emulators(args) as (pipe, variables),
        fresh_dagster_home(getattr(args, "postgres", False)) as (home, storage),
    ):
        pipe.send("counters")  # start from zero: nothing of the emulators' own start-up
        start = pipe.recv()
        env = {**sync_environment(variables, home), **storage}
        first = timed_sync("first sync", env, pipe, start["cpu"])
        second = timed_sync("second sync (no change)", env, pipe, first.counts["cpu"])
    return first, second


def report(round_number: int, first: SyncTiming, second: SyncTiming, verbose: bool) -> None:
    print(f"\nround {round_number}:")
    print(first.describe())
    print(second.describe())
    same = first.counts["catalog"] == second.counts["catalog"]
    print(f"  same catalog after both: {'yes' if same else 'NO'}")
    for timing in (first, second):
        if verbose or timing.exit_code != 0:
            print(f"  {timing.label} output (last 3000 characters):\n{timing.output[-3000:]}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1, help="rounds, each from scratch")
    parser.add_argument("--subscriptions", type=int, default=3, help="enabled subscriptions")
    parser.add_argument("--resources", type=int, default=2000, help="top-level resources")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--verbose", action="store_true", help="print each sync's output too")
    parser.add_argument(
        "--postgres",
        action="store_true",
        help="the instance on a throwaway Postgres server (DAGSTER_PG_URL) instead of SQLite",
    )
    args = parser.parse_args()
    print(
        f"`azure-port-pipeline sync` on the demo estate: {args.resources:,} resources over "
        f"{args.subscriptions} enabled subscriptions (+1 disabled), seed {args.seed}, "
        f"instance on {'Postgres' if args.postgres else 'SQLite'}",
        flush=True,
    )
    rounds = []
    for number in range(1, args.repeat + 1):
        first, second = one_round(args)
        report(number, first, second, args.verbose)
        rounds.append((first, second))
    if args.repeat > 1:
        print(f"\nbest of {args.repeat}:")
        print(f"  first sync                   {min(f.seconds for f, _ in rounds):7.1f} s")
        print(f"  second sync (no change)      {min(s.seconds for _, s in rounds):7.1f} s")
    failed = any(t.exit_code != 0 for pair in rounds for t in pair)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
