"""Sync profiles: the cadence Port's docs recommend per environment, overridable one by one.

Port recommends incremental windows of 15-30 minutes in production, 30-60 in staging and 1-2
hours in development; a full resync daily catches anything the change feed missed.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta

from azure_port_pipeline.defs.settings import PipelineSettings


@dataclass(frozen=True, slots=True)
class SyncProfile:
    """`incremental_minutes`: how often the change-window sensor runs; each window reads
    (watermark - `change_overlap_minutes`, now - `change_lag_seconds`], so a window covers
    about `incremental_minutes + change_overlap_minutes` of changes (Port's "change window")."""

    name: str
    full_sync_cron: str
    incremental_minutes: int
    freshness: timedelta
    discovery_interval_seconds: int
    change_overlap_minutes: int = 15
    change_lag_seconds: int = 60


PROFILES: dict[str, SyncProfile] = {
    "production": SyncProfile("production", "0 2 * * *", 15, timedelta(hours=26), 300, 15, 60),
    "staging": SyncProfile("staging", "0 3 * * *", 30, timedelta(hours=26), 600, 30, 60),
    "development": SyncProfile("development", "0 4 * * *", 120, timedelta(hours=50), 900, 30, 60),
}


class ProfileError(ValueError):
    pass


def active_profile(settings: PipelineSettings) -> SyncProfile:
    """The profile named by AZURE_PORT_PROFILE, with its per-setting overrides applied."""
    name = settings.profile.strip().lower()
    if name not in PROFILES:
        raise ProfileError(
            f"AZURE_PORT_PROFILE={name!r} is not a profile; choose one of {sorted(PROFILES)}"
        )
    profile = PROFILES[name]
    if settings.full_sync_cron:
        profile = replace(profile, full_sync_cron=settings.full_sync_cron)
    if settings.incremental_minutes:
        profile = replace(profile, incremental_minutes=settings.incremental_minutes)
    if settings.change_overlap_minutes is not None:
        profile = replace(profile, change_overlap_minutes=settings.change_overlap_minutes)
    if settings.change_lag_seconds is not None:
        profile = replace(profile, change_lag_seconds=settings.change_lag_seconds)
    if settings.freshness_hours:
        profile = replace(profile, freshness=timedelta(hours=settings.freshness_hours))
    if settings.discovery_seconds:
        profile = replace(profile, discovery_interval_seconds=settings.discovery_seconds)
    return profile
