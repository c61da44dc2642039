"""The KQL subset Resource Graph queries are written in: lexer, parser, evaluator.

    from azure_port_pipeline.emulators.kql import KqlError, execute

Modules: `engine` (the `execute` / `execute_result` entry points), `lexer`, `parser`,
`evaluate`, `functions` (scalar functions and aggregates), `values` (KQL's value semantics).
"""

from azure_port_pipeline.emulators.kql.engine import execute, execute_result
from azure_port_pipeline.emulators.kql.evaluate import Result
from azure_port_pipeline.emulators.kql.lexer import KqlError
from azure_port_pipeline.emulators.kql.values import to_json_value

__all__ = ["KqlError", "Result", "execute", "execute_result", "to_json_value"]
