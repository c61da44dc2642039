"""The Dagster UI as a user sees it: pages, what they render, screenshots of each.

Reads the DOM (and the GraphQL answers the page itself fetched), never Dagster's internals. The
asset graph is an SVG: each node a `foreignObject` box, each edge a `path` with an arrow
marker, drawn from the right side of its source box to the left side of its target box. An
edge is attributed to the boxes its two ends touch, which is what a reader of the graph does.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from playwright.sync_api import Locator, Page, Response, expect

from azure_port_pipeline_tests.demo.running_demo import CODE_LOCATION

UI_TIMEOUT_MS = 90_000  # one page load or action on a loaded machine
SETTLE_TIMEOUT_MS = 300_000  # a full resync in flight (every 5 min in the demo) settles
WORKSPACE_ASSETS_QUERY = "op=LocationWorkspaceAssetsQuery"

_READ_GRAPH = """
() => {
  const svg = [...document.querySelectorAll('svg')]
    .find(s => s.querySelector(':scope > foreignObject'));
  if (!svg) return null;
  const nodes = [...svg.querySelectorAll(':scope > foreignObject')].map(box => {
    const label = box.querySelector('[class*="assetName"] [data-tooltip]');
    return {
      name: label ? label.getAttribute('data-tooltip') : null,
      text: (box.firstElementChild || box).innerText || box.textContent || '',
      x: +box.getAttribute('x'), y: +box.getAttribute('y'),
      width: +box.getAttribute('width'), height: +box.getAttribute('height'),
    };
  });
  const edges = [...svg.querySelectorAll(':scope > path[marker-end]')]
    .map(path => path.getAttribute('d'));
  return {nodes, edges};
}
"""

# Pixels of a plotted series: saturated colour, unlike the grey axes, grid and labels.
_COLOURED_PIXELS = """
canvas => {
  const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
  let coloured = 0;
  for (let i = 0; i < data.length; i += 4) {
    const [r, g, b, a] = [data[i], data[i + 1], data[i + 2], data[i + 3]];
    if (a > 128 && Math.max(r, g, b) - Math.min(r, g, b) > 80) coloured++;
  }
  return coloured;
}
"""


@dataclass
class AssetGraph:
    """One group's lineage as drawn: node texts by asset name, edges by (source, target)."""

    nodes: dict[str, str]
    edges: set[tuple[str, str]]
    dependencies: dict[str, set[str]] = field(default_factory=dict)  # from the page's GraphQL


class DagsterUI:
    def __init__(self, page: Page, base_url: str, screenshots: Path, *, show_nux: bool) -> None:
        self.page = page
        self.base_url = base_url
        self.screenshots = screenshots
        self.shots: list[Path] = []
        self._nux_pending = show_nux
        self._workspace_assets: list[dict[str, Any]] = []
        page.set_default_timeout(UI_TIMEOUT_MS)
        page.set_default_navigation_timeout(UI_TIMEOUT_MS)
        # Playwright's assertions wait 5 s by default: too short for a loaded machine. (A
        # process-wide option; nothing else in the suite drives a browser.)
        expect.set_options(timeout=UI_TIMEOUT_MS)
        page.on("response", self._record_workspace_assets)

    def open(self, path: str) -> None:
        self.page.goto(self.base_url + path, wait_until="domcontentloaded")
        if self._nux_pending:
            # A fresh instance greets its first visitor with "Join the Dagster community";
            # dismiss it as a user does, once (Dagster remembers it in DAGSTER_HOME/.nux).
            self.page.get_by_role("button", name="Skip").click()
            expect(self.page.get_by_text("Join the Dagster community")).to_be_hidden()
            self._nux_pending = False

    def screenshot(self, name: str, of: Locator | None = None) -> Path:
        """The page as shown (its scrolling panes where they are), or one element of it."""
        path = self.screenshots / f"{len(self.shots) + 1:02d}-{name}.png"
        if of is None:
            self.page.screenshot(path=path, full_page=True)
        else:
            of.screenshot(path=path)
        self.shots.append(path)
        return path

    # -- lineage ------------------------------------------------------------------------------

    def asset_graph(self, group: str, names: list[str]) -> AssetGraph:
        """The group's lineage page once every named node is drawn with its live data."""
        self.open(f"/locations/{CODE_LOCATION}/asset-groups/{group}")
        for name in names:
            node = self.graph_node(name)
            expect(node).to_be_visible()
            expect(node).not_to_contain_text("Loading")
        drawn = self.page.evaluate(_READ_GRAPH)
        assert drawn, "no asset graph on the page"
        boxes = drawn["nodes"]
        edges = set()
        for d in drawn["edges"]:
            numbers = [float(n) for n in re.findall(r"-?\d+(?:\.\d+)?", d)]
            source = _box_at(boxes, numbers[0], numbers[1])
            target = _box_at(boxes, numbers[-2], numbers[-1])
            if source and target:
                edges.add((_label(source), _label(target)))
        return AssetGraph(
            nodes={box["name"]: box["text"] for box in boxes if box["name"]},
            edges=edges,
            dependencies=self._dependencies(),
        )

    def graph_node(self, name: str) -> Locator:
        return self.page.locator("foreignObject").filter(
            has=self.page.locator(f'[class*="assetName"] [data-tooltip="{name}"]')
        )

    def _record_workspace_assets(self, response: Response) -> None:
        if WORKSPACE_ASSETS_QUERY in response.url and response.ok:
            # A response the page itself could not use either is not recorded.
            with contextlib.suppress(Exception):
                self._workspace_assets.append(response.json())

    def _dependencies(self) -> dict[str, set[str]]:
        """Asset key -> upstream keys, from the workspace query the UI ran on its first load.

        The UI fetches the code location's assets once per browser profile and caches them
        (IndexedDB): open a lineage page first in a session to see that answer.
        """
        assert self._workspace_assets, "the UI fetched no LocationWorkspaceAssetsQuery"
        body = self._workspace_assets[-1]
        location = body["data"]["workspaceLocationEntryOrError"]["locationOrLoadError"]
        return {
            "/".join(node["assetKey"]["path"]): {
                "/".join(dep["path"]) for dep in node["dependencyKeys"]
            }
            for repository in location["repositories"]
            for node in repository["assetNodes"]
        }

    # -- asset pages --------------------------------------------------------------------------

    def partition_counts(self) -> dict[str, int]:
        """The status filters of an asset's Partitions tab: {'Materialized': 3, ...}."""
        counts = {}
        for status in ("Failed", "Materialized", "Materializing", "Missing"):
            label = self.page.locator("label").filter(has_text=re.compile(rf"^{status} \(\d+\)$"))
            text = label.inner_text().strip()
            counts[status] = int(re.search(r"\((\d+)\)", text).group(1))
        return counts

    def plot(self, key: str) -> Locator:
        """The metadata plot titled `key`, title and chart (Overview > Metadata > Plots)."""
        return self.page.locator(
            f"xpath=//span[normalize-space()='{key}']/ancestor::div[.//canvas][1]"
        ).first

    def coloured_pixels(self, canvas: Locator) -> int:
        canvas.scroll_into_view_if_needed()
        return canvas.evaluate(_COLOURED_PIXELS)

    def check_row(self, check: str) -> Locator:
        """A row of an asset's Checks tab: the check's name and its latest status."""
        return self.page.locator('[class*="checkRow"]').filter(
            has=self.page.locator(f'[title="{check}"]')
        )

    # -- automation ---------------------------------------------------------------------------

    def automation_switch(self, kind: str, name: str) -> Locator:
        """The on/off switch of a sensor or schedule row on the Automation page."""
        row = self.page.locator("[data-index]").filter(
            has=self.page.locator(f'a[href$="/{kind}/{name}"]')
        )
        return row.locator('label[class*="Switch"] input[type="checkbox"]')


def _box_at(boxes: list[dict[str, Any]], x: float, y: float, margin: float = 12.0) -> Any:
    for box in boxes:
        if (
            box["x"] - margin <= x <= box["x"] + box["width"] + margin
            and box["y"] - margin <= y <= box["y"] + box["height"] + margin
        ):
            return box
    return None


def _label(box: dict[str, Any]) -> str:
    # Boxes without an asset name are links to assets of other groups ("↗ subscription").
    return box["name"] or f"other group: {box['text'].strip()}"
