"""`azure-port-pipeline demo`: the pipeline on an embedded default, no Azure or Port account.

`environment` starts the Azure emulator (Entra, ARM, Resource Graph over HTTPS) with a
generated estate and the Port API emulator; `ui` runs the Dagster UI with sensors and
schedules on them; `once` syncs every subscription headless, verifies Port against Azure and
exits non-zero on any difference.
"""

from __future__ import annotations

import argparse
import sys


def run_demo(args: argparse.Namespace) -> int:
    home = None
    if not args.once:
        # Before anything starts: a busy UI port or a home the demo may not wipe fails here,
        # with exit code 2 and what to change, instead of a demo running without a UI.
        from azure_port_pipeline.demo.ui import DemoStartError, check_ui_port, claim_home

        try:
            check_ui_port(args.ui_port)
            home = claim_home(args.home)
        except DemoStartError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2

    from azure_port_pipeline.demo.environment import demo_environment

    # One more subscription than asked for: the estate's last one is disabled, which shows
    # discovery skipping it while the asked-for number are synced.
    try:
        with demo_environment(
            args.seed, args.subscriptions + 1, args.resources, events=True
        ) as env:
            if home is None:
                from azure_port_pipeline.demo.once import run_once

                return run_once(env)
            from azure_port_pipeline.demo.ui import run_ui

            return run_ui(env, home, args.ui_port)
    finally:
        if home is not None:
            home.close()
