"""Dagster's default run launcher, able to tell run monitoring whether a run's worker is alive.

Set in `dagster.yaml` (`run_launcher: module: azure_port_pipeline.defs.run_launcher, class:
LocalRunLauncher`). With `run_monitoring` enabled, the daemon then fails a run whose worker
process died without reporting (SIGKILL, OOM) and the run-retry daemon launches it again, instead
of the run holding its pool slots forever. Deployments on Kubernetes use the K8s launcher, which
checks its pods itself.
"""

from __future__ import annotations

from dagster import DefaultRunLauncher
from dagster._core.launcher.base import CheckRunHealthResult, LaunchRunContext, WorkerStatus
from dagster._core.storage.dagster_run import DagsterRun

from azure_port_pipeline.defs.run_health import HOST_TAG, is_alive, this_host, worker_of


class LocalRunLauncher(DefaultRunLauncher):
    def launch_run(self, context: LaunchRunContext) -> None:
        # The code server that starts the worker runs on this host (DefaultRunLauncher).
        self._instance.add_run_tags(context.dagster_run.run_id, {HOST_TAG: this_host()})
        super().launch_run(context)

    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run: DagsterRun) -> CheckRunHealthResult:
        worker = worker_of(self._instance, run)
        if worker is None:  # not started yet (start timeout covers it) or another host's
            return CheckRunHealthResult(WorkerStatus.RUNNING, "worker not known on this host")
        if is_alive(worker):
            return CheckRunHealthResult(WorkerStatus.RUNNING, f"pid {worker.pid} is alive")
        return CheckRunHealthResult(
            WorkerStatus.FAILED,
            f"the run's worker (pid {worker.pid} on {worker.host}) is gone: it was killed or "
            "crashed without reporting",
        )
