"""The code location Dagster loads (`dagster dev -w workspace.yaml`).

A `@definitions` loader: importing this module builds nothing; Dagster calls `defs()` when it
loads the code location, so a bad mapping or setting is reported there, named.
"""

import dagster as dg

from azure_port_pipeline.defs.factory import build_definitions


@dg.definitions
def defs() -> dg.Definitions:
    return build_definitions()
