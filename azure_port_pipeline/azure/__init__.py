"""Azure reads for the pipeline: credentials, ARM listing by kind, Resource Graph changes.

Never imports Dagster, the Port client or the emulators.
"""

from .arm import ArmRequestError
from .changes import change_query, parse_resets_after
from .counters import AzureCounters
from .errors import (
    AzureAuthError,
    AzureConfigError,
    AzureError,
    AzureListingError,
    AzureQueryError,
    AzureRequestError,
)
from .filters import ResourceGroupTagFilter
from .models import (
    ChangeWindow,
    CurrentResources,
    GraphQueryResult,
    Listing,
    ResourceChange,
    SubscriptionListing,
)
from .policies import AzureDeadlineError
from .reader import AzureReader, subscription_record
from .settings import AzureSettings

__all__ = [
    "ArmRequestError",
    "AzureAuthError",
    "AzureConfigError",
    "AzureCounters",
    "AzureDeadlineError",
    "AzureError",
    "AzureListingError",
    "AzureQueryError",
    "AzureReader",
    "AzureRequestError",
    "AzureSettings",
    "ChangeWindow",
    "CurrentResources",
    "GraphQueryResult",
    "Listing",
    "ResourceChange",
    "ResourceGroupTagFilter",
    "SubscriptionListing",
    "change_query",
    "parse_resets_after",
    "subscription_record",
]
