"""What the client of a 2026-07-28 request may be asked, and whether its answers have the
shape of what was asked: for MRTR retries and for tasks alike."""

from __future__ import annotations

from typing import Any

from mcpfleet.errors import InvalidParams, MissingClientCapability

# The capability each kind of input request needs the client to have declared.
INPUT_CAPABILITY = {
    "elicitation/create": "elicitation",
    "sampling/createMessage": "sampling",
    "roots/list": "roots",
}

ELICIT_ACTIONS = frozenset(("accept", "decline", "cancel"))


def check_capabilities(requests: dict[str, dict[str, Any]], capabilities: dict[str, Any]) -> None:
    """Each question needs a client capability: ``MissingClientCapability`` naming those
    the client did not declare."""
    missing_caps: dict[str, Any] = {}
    for request in requests.values():
        capability = INPUT_CAPABILITY.get(request["method"])
        if capability is None:
            raise ValueError(f"cannot ask the client for {request['method']}")
        if capability not in capabilities:
            missing_caps[capability] = {}
    if missing_caps:
        raise MissingClientCapability(missing_caps)


def check_input_response(key: str, method: str, answer: Any) -> None:
    """An answer must have the shape of the result its question asked for."""
    valid = isinstance(answer, dict) and (
        (method == "elicitation/create" and _valid_elicit_answer(answer))
        or (
            method == "sampling/createMessage"
            and isinstance(answer.get("role"), str)
            and isinstance(answer.get("content"), dict | list)
        )
        or (
            method == "roots/list"
            and isinstance(answer.get("roots"), list)
            and all(isinstance(root, dict) for root in answer["roots"])
        )
    )
    if not valid:
        raise InvalidParams(
            f"Invalid params: inputResponses[{key!r}] is not a valid {method} result"
        )


def _valid_elicit_answer(answer: dict[str, Any]) -> bool:
    action = answer.get("action")
    content = answer.get("content")
    return (
        isinstance(action, str)
        and action in ELICIT_ACTIONS
        and (content is None or isinstance(content, dict))
    )
