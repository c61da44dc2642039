"""`azure-port-pipeline`: preview a mapping, run the emulators, run the demo."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    return int(args.handler(args) or 0)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="azure-port-pipeline",
        description="Keep a Port catalog in step with Azure (a Dagster project).",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    preview = commands.add_parser(
        "map", help="map a JSON file of raw Azure objects and print the entities and report"
    )
    preview.add_argument("--mapping", default="mapping/azure.yaml", help="mapping YAML file")
    preview.add_argument("--input", required=True, help="JSON list or {'value': [...]} of objects")
    preview.add_argument("--kind", help="use only the mapping entries of this kind")
    preview.set_defaults(handler=_run_map)

    emulate = commands.add_parser("emulate", help="run a local emulator in the foreground")
    services = emulate.add_subparsers(dest="service", required=True)
    port = services.add_parser("port", help="Port API emulator (PORT_CLIENT_ID/SECRET)")
    port.add_argument("--port", type=int, default=5555)
    port.add_argument("--host", default="127.0.0.1")
    port.set_defaults(handler=_run_emulate_port)
    azure = services.add_parser(
        "azure",
        help="Azure emulator: Entra, ARM, Resource Graph (AZURE_TENANT_ID/CLIENT_ID/SECRET)",
    )
    azure.add_argument("--port", type=int, default=5443)
    azure.add_argument("--host", default="127.0.0.1")
    azure.add_argument("--ca-file", required=True, help="where to write the CA clients must trust")
    azure.add_argument("--seed", type=int, default=1)
    azure.add_argument("--subscriptions", type=int, default=3)
    azure.add_argument("--resources", type=int, default=2000)
    azure.set_defaults(handler=_run_emulate_azure)

    demo = commands.add_parser(
        "demo", help="emulators + generated estate + Dagster UI (or --once: one headless sync)"
    )
    demo.add_argument("--once", action="store_true", help="sync every subscription, verify, exit")
    demo.add_argument("--seed", type=int, default=7)
    demo.add_argument("--subscriptions", type=int, default=3)
    demo.add_argument("--resources", type=int, default=2000)
    demo.add_argument("--ui-port", type=int, default=3000)
    demo.add_argument("--home", default=".dagster_home", help="DAGSTER_HOME for the UI demo")
    demo.set_defaults(handler=_run_demo)
    return parser


def _run_map(args: argparse.Namespace) -> int:
    from azure_port_pipeline.mapping import MappingConfigError
    from azure_port_pipeline.mapping.preview import PreviewError, preview

    try:
        result = preview(args.mapping, args.input, kind=args.kind)
    except (MappingConfigError, PreviewError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    json.dump(result, sys.stdout, indent=2, sort_keys=False)
    sys.stdout.write("\n")
    return 0


def _run_emulate_port(args: argparse.Namespace) -> int:
    from azure_port_pipeline.emulators.port import serve

    serve(args.port, host=args.host)
    return 0


def _run_emulate_azure(args: argparse.Namespace) -> int:
    from azure_port_pipeline.emulators.azure import serve

    serve(
        args.port,
        args.ca_file,
        seed=args.seed,
        subscriptions=args.subscriptions,
        resources=args.resources,
        host=args.host,
    )
    return 0


def _run_demo(args: argparse.Namespace) -> int:
    from azure_port_pipeline.demo import run_demo

    return run_demo(args)


if __name__ == "__main__":
    raise SystemExit(main())
