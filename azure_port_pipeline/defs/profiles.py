"""Sync profiles: the cadence Port's docs recommend per environment, overridable one by one.

Port recommends incremental windows of 15-30 minutes in production, 30-60 in staging and 1-2
hours in development; a full resync daily catches anything the change feed missed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta


@dataclass(frozen=True, slots=True)
class SyncProfile:
    name: str
    full_sync_cron: str
    incremental_minutes: int
    freshness: timedelta
    discovery_interval_seconds: int


PROFILES: dict[str, SyncProfile] = {
    "production": SyncProfile("production", "0 2 * * *", 15, timedelta(hours=26), 300),
    "staging": SyncProfile("staging", "0 3 * * *", 30, timedelta(hours=26), 600),
    "development": SyncProfile("development", "0 4 * * *", 120, timedelta(hours=50), 900),
}


class ProfileError(ValueError):
    pass


def active_profile(environ: dict[str, str] | None = None) -> SyncProfile:
    """The profile named by AZURE_PORT_PROFILE, with per-setting environment overrides."""
    env = os.environ if environ is None else environ
    name = env.get("AZURE_PORT_PROFILE", "production").strip().lower()
    if name not in PROFILES:
        raise ProfileError(
            f"AZURE_PORT_PROFILE={name!r} is not a profile; choose one of {sorted(PROFILES)}"
        )
    base = PROFILES[name]
    try:
        return SyncProfile(
            name=name,
            full_sync_cron=env.get("AZURE_PORT_FULL_SYNC_CRON", base.full_sync_cron),
            incremental_minutes=int(
                env.get("AZURE_PORT_INCREMENTAL_MINUTES", base.incremental_minutes)
            ),
            freshness=timedelta(
                hours=float(
                    env.get("AZURE_PORT_FRESHNESS_HOURS", base.freshness / timedelta(hours=1))
                )
            ),
            discovery_interval_seconds=int(
                env.get("AZURE_PORT_DISCOVERY_SECONDS", base.discovery_interval_seconds)
            ),
        )
    except ValueError as error:
        raise ProfileError(f"invalid sync profile override in the environment: {error}") from error
