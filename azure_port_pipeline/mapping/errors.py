"""The one exception a bad mapping raises.

A mapping is user-written YAML + jq; when it is wrong the user needs to know *where* (file,
entry of the YAML's `resources:`, field) and *what* (the YAML, schema or jq message) without
reading a stack trace. The location names the YAML key `resources`, as in the user's file.
"""

from __future__ import annotations


class MappingConfigError(ValueError):
    """A mapping file that cannot be loaded: YAML syntax, schema, or jq compile error."""

    def __init__(
        self,
        detail: str,
        *,
        source: str = "<string>",
        index: int | None = None,
        kind: str | None = None,
        field: str | None = None,
    ) -> None:
        self.source = source
        self.index = index
        self.kind = kind
        self.field = field
        self.detail = detail
        super().__init__(self._render())

    def _render(self) -> str:
        where = [self.source]
        if self.index is not None:
            where.append(f"resources[{self.index}] (kind {self.kind!r})")
        if self.field:
            where.append(self.field)
        return f"{': '.join(where)}: {self.detail}"
