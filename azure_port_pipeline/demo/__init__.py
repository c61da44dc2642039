"""`azure-port-pipeline demo`: the pipeline on an embedded default, no Azure or Port account.

`environment` starts the Azure emulator (Entra, ARM, Resource Graph over HTTPS) with a
generated estate and the Port API emulator; `ui` runs the Dagster UI with sensors and
schedules on them; `once` syncs every subscription headless, verifies Port against Azure and
exits non-zero on any difference.
"""

from __future__ import annotations

import argparse


def run_demo(args: argparse.Namespace) -> int:
    from azure_port_pipeline.demo.environment import demo_environment

    # One more subscription than asked for: the estate's last one is disabled, which shows
    # discovery skipping it while the asked-for number are synced.
    with demo_environment(args.seed, args.subscriptions + 1, args.resources) as env:
        if args.once:
            from azure_port_pipeline.demo.once import run_once

            return run_once(env)
        from azure_port_pipeline.demo.ui import run_ui

        return run_ui(env, args.home, args.ui_port)
