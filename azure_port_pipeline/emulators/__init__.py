"""Emulators of the services the pipeline talks to, so everything runs offline.

- `azure`: Entra, ARM reads, Resource Graph, change feed and Event Grid over HTTPS, on a
  generated estate;
- `kql`: the KQL subset Resource Graph queries are written in;
- `port`: the Port API;
- `server` (+ `tls`): the HTTP(S) core both emulators run on.

Production code never imports this package (an import-linter contract says so).
"""
