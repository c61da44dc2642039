"""`azure-port-pipeline`: preview a mapping, run one sync, run the emulators, run the demo."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

_HELP = argparse.ArgumentDefaultsHelpFormatter


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    return int(args.handler(args) or 0)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="azure-port-pipeline",
        description="Keep a Port catalog in step with Azure (a Dagster project).",
        formatter_class=_HELP,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    _add_map(commands)
    _add_sync(commands)
    _add_emulate(commands)
    _add_demo(commands)
    _add_instance(commands)
    _add_doctor(commands)
    return parser


def _add_map(commands: argparse._SubParsersAction) -> None:
    preview = commands.add_parser(
        "map",
        help="map a JSON file of raw Azure objects and print the entities and report",
        description="Preview a mapping: entities as Port would receive them (identifiers as "
        "AZURE_PORT_IDENTIFIER_POLICY writes them) and the mapping report.",
        formatter_class=_HELP,
    )
    preview.add_argument("--mapping", default="mapping/azure.yaml", help="mapping YAML file")
    preview.add_argument(
        "--input", required=True, help="JSON list, or {'value': [...]} as ARM returns it"
    )
    preview.add_argument("--kind", help="use only the mapping entries of this kind (default: all)")
    preview.set_defaults(handler=_run_map)


def _add_sync(commands: argparse._SubParsersAction) -> None:
    sync = commands.add_parser(
        "sync",
        help="discover subscriptions and sync them now, on the instance in $DAGSTER_HOME",
        description="Discover the enabled subscriptions (adding their partitions), run the sync "
        "job for each on the Dagster instance in $DAGSTER_HOME (the runs show in the UI), print "
        "one line per subscription, and exit 1 if a run or a check failed (2: bad request).",
        formatter_class=_HELP,
    )
    sync.add_argument(
        "--subscription",
        action="append",
        default=[],
        metavar="ID",
        help="sync only this subscription (repeat for more; default: every enabled one)",
    )
    sync.add_argument(
        "--mode",
        choices=("full", "incremental"),
        default="full",
        help="full: list everything and reconcile; incremental: one change window from each "
        "subscription's watermark (a full sync where there is none)",
    )
    sync.add_argument(
        "--kind",
        action="append",
        default=[],
        metavar="K",
        help="sync only this mapping kind, by asset name (storage_accounts) or ARM type "
        "(repeat for more; default: every kind)",
    )
    sync.set_defaults(handler=_run_sync)


def _add_emulate(commands: argparse._SubParsersAction) -> None:
    emulate = commands.add_parser(
        "emulate", help="run a local emulator in the foreground", formatter_class=_HELP
    )
    services = emulate.add_subparsers(dest="service", required=True)
    port = services.add_parser(
        "port",
        help="Port API emulator (credentials from PORT_CLIENT_ID / PORT_CLIENT_SECRET)",
        formatter_class=_HELP,
    )
    port.add_argument("--port", type=int, default=5555, help="TCP port to listen on")
    port.add_argument("--host", default="127.0.0.1", help="address to listen on")
    port.add_argument(
        "--latency",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="seconds added to each request (Port: ~0.06)",
    )
    port.set_defaults(handler=_run_emulate_port)
    azure = services.add_parser(
        "azure",
        help="Azure emulator: Entra, ARM, Resource Graph "
        "(credentials from AZURE_TENANT_ID / AZURE_CLIENT_ID / AZURE_CLIENT_SECRET)",
        description="Prints the variables a client needs and the subscriptions it serves.",
        formatter_class=_HELP,
    )
    azure.add_argument("--port", type=int, default=5443, help="TCP port to listen on")
    azure.add_argument("--host", default="127.0.0.1", help="address to listen on")
    azure.add_argument("--ca-file", required=True, help="where to write the CA clients must trust")
    azure.add_argument("--seed", type=int, default=1, help="estate generator seed")
    azure.add_argument(
        "--subscriptions",
        type=int,
        default=3,
        help="enabled subscriptions (one more, disabled, is added to show discovery skip it)",
    )
    azure.add_argument("--resources", type=int, default=2000, help="top-level resources in all")
    azure.add_argument(
        "--change-delay",
        type=float,
        default=5.0,  # emulators.azure.DEFAULT_CHANGE_DELAY (not imported: --help stays fast)
        metavar="SECONDS",
        help="ingestion delay: seconds before a write's resourcechanges / "
        "resourcecontainerchanges row is visible to Resource Graph (Azure: up to ~5 minutes)",
    )
    azure.add_argument(
        "--arm-latency",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="seconds added to each ARM request: listing page, GET by id, write (Azure: ~0.15)",
    )
    azure.add_argument(
        "--graph-latency",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="seconds added to each Resource Graph query (Azure: ~0.3); Entra's token "
        "requests are never delayed",
    )
    events = azure.add_argument_group(
        "real-time events",
        "Publish an Event Grid event per ARM write to an Azure Storage Queue (Azurite works), "
        "base64-encoded JSON as Event Grid delivers them.",
    )
    events.add_argument(
        "--events-queue-connection-string",
        metavar="CS",
        help="the Storage account's connection string; default: the "
        "AZURE_EVENTS_QUEUE_CONNECTION_STRING environment variable (which keeps the key out "
        "of `ps`)",
    )
    events.add_argument(
        "--events-queue", metavar="NAME", help="the queue to publish to (created if missing)"
    )
    events.add_argument(
        "--events-schema",
        choices=("eventgrid", "cloudevents"),  # emulators.azure.events.EVENT_SCHEMAS
        default="eventgrid",
        help="the event schema: Event Grid's own or CloudEvents 1.0",
    )
    azure.set_defaults(handler=_run_emulate_azure)


def _add_demo(commands: argparse._SubParsersAction) -> None:
    demo = commands.add_parser(
        "demo",
        help="emulators + generated estate + Dagster UI (or --once: one headless sync)",
        formatter_class=_HELP,
    )
    demo.add_argument(
        "--once", action="store_true", help="sync every subscription, verify Port, exit"
    )
    demo.add_argument("--seed", type=int, default=7, help="estate generator seed")
    demo.add_argument(
        "--subscriptions",
        type=int,
        default=3,
        help="enabled subscriptions (one more, disabled, is added to show discovery skip it)",
    )
    demo.add_argument("--resources", type=int, default=2000, help="top-level resources in all")
    demo.add_argument(
        "--ui-port",
        type=int,
        default=3000,
        help="port of the Dagster UI on 127.0.0.1; must be free (make demo UI_PORT=...)",
    )
    demo.add_argument(
        "--home",
        default=".dagster_home",
        help="DAGSTER_HOME of the UI demo, owned by it: wiped at every start; only an empty "
        "directory or one the demo created is accepted",
    )
    demo.set_defaults(handler=_run_demo)


def _add_instance(commands: argparse._SubParsersAction) -> None:
    instance = commands.add_parser(
        "instance",
        help="write the Dagster instance settings (dagster.yaml) into DAGSTER_HOME",
        description="Write DIR/dagster.yaml: the project's instance settings with SQLite "
        "storage, or Postgres storage (runs, event logs, schedules) when DAGSTER_PG_URL, or "
        "DAGSTER_PG_HOST with DAGSTER_PG_PORT (default 5432), DAGSTER_PG_USERNAME, "
        "DAGSTER_PG_PASSWORD and DAGSTER_PG_DB, are set. The file refers to the variables "
        "(Dagster reads them at start), never holds their values; prints the storage chosen.",
        formatter_class=_HELP,
    )
    instance.add_argument(
        "--home", metavar="DIR", help="the DAGSTER_HOME to write to (default: $DAGSTER_HOME)"
    )
    instance.add_argument(
        "--force", action="store_true", help="replace a different dagster.yaml already there"
    )
    instance.set_defaults(handler=_run_instance)


def _add_doctor(commands: argparse._SubParsersAction) -> None:
    doctor = commands.add_parser(
        "doctor",
        help="check this deployment's configuration end to end",
        description="Check the settings, the mapping, Azure and Port credentials, the "
        "subscriptions, Port's blueprints, the Dagster instance in $DAGSTER_HOME, snapshot "
        "storage and the events queue: one line per check with a fix hint; exit 1 if a check "
        "failed (2: bad usage). It changes nothing in Azure or Port. What the first run "
        "would create anyway it may create: the instance's tables (opening a new instance "
        "creates them), the snapshot container; and a probe file written to snapshot storage "
        "and deleted.",
        formatter_class=_HELP,
    )
    doctor.add_argument(
        "--timeout",
        type=float,
        default=20.0,  # defs.doctor.findings.DEFAULT_SECONDS (not imported: --help stays fast)
        metavar="SECONDS",
        help="deadline of each check (a host that does not answer fails its check)",
    )
    doctor.set_defaults(handler=_run_doctor)


def _run_doctor(args: argparse.Namespace) -> int:
    if not 0 < args.timeout <= 3600:  # also refuses nan and inf
        print(
            "azure-port-pipeline doctor: error: --timeout must be 0 < SECONDS <= 3600",
            file=sys.stderr,
        )
        return 2
    import logging

    from azure_port_pipeline.defs.doctor import run_doctor

    # each check says what failed on its line; the SDKs' own warnings would say it twice
    logging.getLogger("azure").setLevel(logging.ERROR)
    report = run_doctor(seconds=args.timeout, on_result=lambda r: print(r.line(), flush=True))
    return report.exit_code


def _run_map(args: argparse.Namespace) -> int:
    from azure_port_pipeline.defs.settings import PipelineSettings, PipelineSettingsError
    from azure_port_pipeline.mapping import MappingConfigError
    from azure_port_pipeline.mapping.preview import PreviewError, preview

    try:
        policy = PipelineSettings.from_env().identifier_policy
        result = preview(args.mapping, args.input, kind=args.kind, policy=policy)
    except (MappingConfigError, PreviewError, PipelineSettingsError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    json.dump(result, sys.stdout, indent=2, sort_keys=False)
    sys.stdout.write("\n")
    return 0


def _run_sync(args: argparse.Namespace) -> int:
    from azure_port_pipeline.azure import AzureError
    from azure_port_pipeline.defs.profiles import ProfileError
    from azure_port_pipeline.defs.settings import PipelineSettingsError
    from azure_port_pipeline.defs.sync_command import SyncCommandError, report, run_sync
    from azure_port_pipeline.mapping import MappingConfigError
    from azure_port_pipeline.port import PortConfigError

    try:
        outcome = run_sync(args.subscription, args.mode, args.kind)
    except (
        SyncCommandError,
        AzureError,
        MappingConfigError,
        PipelineSettingsError,
        PortConfigError,
        ProfileError,
    ) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(report(outcome))
    return outcome.exit_code


def _run_emulate_port(args: argparse.Namespace) -> int:
    from azure_port_pipeline.emulators.port import serve

    serve(args.port, host=args.host, latency=args.latency)
    return 0


def _run_emulate_azure(args: argparse.Namespace) -> int:
    import os

    from azure_port_pipeline.emulators.azure import serve

    # the flag wins; the environment variable keeps the account key out of the process list
    connection_string = args.events_queue_connection_string or os.environ.get(
        "AZURE_EVENTS_QUEUE_CONNECTION_STRING"
    )
    usage_error = ""
    if args.events_queue and not connection_string:
        usage_error = (
            "--events-queue needs --events-queue-connection-string "
            "(or AZURE_EVENTS_QUEUE_CONNECTION_STRING)"
        )
    elif args.events_queue_connection_string and not args.events_queue:
        usage_error = "--events-queue-connection-string needs --events-queue NAME"
    if usage_error:  # exit 2 like argparse's own usage errors
        print(f"azure-port-pipeline emulate azure: error: {usage_error}", file=sys.stderr)
        return 2
    serve(
        args.port,
        args.ca_file,
        seed=args.seed,
        subscriptions=args.subscriptions,
        resources=args.resources,
        host=args.host,
        change_delay=args.change_delay,
        events_queue=(connection_string, args.events_queue) if args.events_queue else None,
        events_schema=args.events_schema,
        arm_latency=args.arm_latency,
        graph_latency=args.graph_latency,
    )
    return 0


def _run_demo(args: argparse.Namespace) -> int:
    from azure_port_pipeline.demo import run_demo

    return run_demo(args)


def _run_instance(args: argparse.Namespace) -> int:
    import os
    from pathlib import Path

    from azure_port_pipeline.defs.instance_config import (
        INSTANCE_FILE,
        InstanceConfigError,
        instance_yaml,
        write_instance,
    )

    home = args.home or os.environ.get("DAGSTER_HOME")
    try:
        if not home:
            raise InstanceConfigError("no --home DIR given and DAGSTER_HOME is not set")
        path = Path(home).expanduser().resolve() / INSTANCE_FILE
        if (
            not args.force
            and path.is_file()
            and path.read_text(encoding="utf-8") != instance_yaml(os.environ, path.parent)
        ):
            raise InstanceConfigError(
                f"{path} exists with other settings; --force replaces it (keep a copy of "
                "any change of your own)"
            )
        storage = write_instance(path.parent, os.environ)
    except (InstanceConfigError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"wrote {path}: runs, event logs and schedules in {storage.summary}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
