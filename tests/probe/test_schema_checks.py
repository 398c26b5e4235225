"""The prober's verdict on a tool's schemas is the same the first time and every time after
(verdicts are kept by the schema's canonical form, which a change of the schema changes)."""

from __future__ import annotations

from typing import Any

from mcpfleet.probe.checks import tool_problems


def tool(schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": "t", "description": "d", "inputSchema": schema}


def test_a_schema_is_judged_alike_every_time() -> None:
    good = {"type": "object", "properties": {"n": {"type": "integer"}}}
    bad = {"type": "object", "properties": {"n": {"type": "integr", "minimum": "x"}}}
    for _ in range(3):
        assert tool_problems([tool(good)]) == []
        problems = tool_problems([tool(bad)])
        assert len(problems) == 1
        assert "not valid JSON Schema 2020-12" in problems[0]
    # The same keys in another order are the same schema; a changed schema is judged anew.
    reordered = {"properties": {"n": {"minimum": "x", "type": "integr"}}, "type": "object"}
    assert tool_problems([tool(reordered)]) == problems
    fixed = {"type": "object", "properties": {"n": {"type": "integer", "minimum": 1}}}
    assert tool_problems([tool(fixed)]) == []
