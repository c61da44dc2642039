"""Port writes: auth, bulk upsert, search, delete, blueprints, and sync planning.

```python
settings = PortSettings.from_env()
with PortClient(settings) as client:
    client.ensure_blueprints(blueprints)
    owned = client.search_owned("azureResourceGroup", scope)
    plan = plan_sync(entities, owned, listing_complete=True, deletion_threshold=0.9)
    report = apply_plan(client, plan, scope=scope)
```
"""

from azure_port_pipeline.port.client import PortClient
from azure_port_pipeline.port.errors import (
    PortApiError,
    PortAuthError,
    PortDeadlineError,
    PortResponseError,
)
from azure_port_pipeline.port.metrics import PortMetrics
from azure_port_pipeline.port.models import (
    BlueprintSetupReport,
    EntityKey,
    EntityOutcome,
    SyncPlan,
    SyncReport,
)
from azure_port_pipeline.port.planner import DeletionTotals, plan_sync
from azure_port_pipeline.port.settings import PortConfigError, PortSettings
from azure_port_pipeline.port.sync import apply_plan
from azure_port_pipeline.port.transport import PortTokenCache

__all__ = [
    "BlueprintSetupReport",
    "DeletionTotals",
    "EntityKey",
    "EntityOutcome",
    "PortApiError",
    "PortAuthError",
    "PortClient",
    "PortConfigError",
    "PortDeadlineError",
    "PortMetrics",
    "PortResponseError",
    "PortSettings",
    "PortTokenCache",
    "SyncPlan",
    "SyncReport",
    "apply_plan",
    "plan_sync",
]
