"""Seeded generators of bad requests of both protocol eras, for ``test_fuzz``.

Everything here is pure: a ``random.Random`` and the ``Targets`` a live server
offered (its tools, some open sessions, real event ids and a real
``requestState``) go in, ``Case`` values (an HTTP method, raw headers, raw body
bytes) come out. The same seed gives the same cases, so a failure replays.

Each family starts from a valid request of one era and breaks it: fields dropped
or given values of other types, deep nesting and huge numbers written as text (an
encoder cannot write them), invalid UTF-8, truncation, batches, odd header values
(latin-1 bytes, long values, duplicates), wrong content types, headers that
disagree with the body, garbage session ids, event ids and ``requestState``.

A few tools of the behaviours app sleep or wait for the client when called
correctly (``slow``, ``nap``, ``ticker``, and in the 2025 era ``ping_client``
and ``ask_name``): those are only ever sent with arguments that cannot validate,
so that no case waits on purpose.
"""

from __future__ import annotations

import base64
import copy
import gzip
import random
import string
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from tests.wire import LEGACY, NAME_KEY, VERSION, headers_for, legacy_headers, meta

Headers = list[tuple[bytes, bytes]]

PATH = "/mcp"
BROKEN = "behaviours://broken"  # a resource that raises on purpose: its 500 is deliberate
# Tools that sleep or wait for the client when their arguments are valid.
SLEEPERS = frozenset(("slow", "nap", "ticker"))
LEGACY_WAITERS = frozenset(("ping_client", "ask_name"))
# Tools that change the server when called correctly (a new tool per name).
NEVER_VALID = frozenset(("add_tool",))


@dataclass(slots=True)
class Case:
    """One request to send: everything as raw bytes, exactly as it goes on the wire."""

    family: str
    method: str
    headers: Headers
    body: bytes = b""
    path: str = PATH
    deliberate_500: bool = False  # reaches a handler that fails on purpose
    chunked: bool = False  # send the body in chunks, without a Content-Length

    def describe(self, limit: int = 600) -> str:
        """The request, printable, for a failure message."""
        body = self.body if len(self.body) <= limit else self.body[:limit] + b"..."
        return (
            f"[{self.family}] {self.method} {self.path} chunked={self.chunked}\n"
            f"  headers={self.headers!r}\n  body({len(self.body)} bytes)={body!r}"
        )


@dataclass(slots=True)
class Targets:
    """What the live server offered, for the generators to aim at."""

    tools: dict[str, dict[str, Any]]  # name -> inputSchema
    sessions: list[str]  # open 2025-era sessions (declared no capabilities)
    event_ids: list[str] = field(default_factory=list)  # real SSE event ids
    request_state: str = ""  # a real sealed requestState (ask_name's)


# -- raw pieces -------------------------------------------------------------------------

# The pools are tables, laid out by hand: no formatter until "fmt: on".
# fmt: off
HUGE_NUMBERS = [
    b"1e400", b"-1e400", b"1E-400", b"123456789012345678901234567890", b"18446744073709551616",
    b"9223372036854775808", b"-9223372036854775809", b"0.1e99999", b"1" + b"0" * 4000, b"-0",
    b"NaN", b"Infinity", b"-Infinity", b"0x10", b"01", b".5", b"1.", b"+1",
]

BAD_STRINGS = [
    b'"\xff\xfe"', b'"\xc3"', b'"\xed\xa0\x80"', b'"\xc0\xaf"', b'"\\ud800"', b'"\\udc00x"',
    b'"\\ud800\\ud800"', b'"\\u00"', b'"\\x41"', b"'single'", b'"a\x00b"', b'"tab\tin"',
    b'"\xf4\x90\x80\x80"', b'"\xe2\x82"',
]

DEPTHS = [10, 63, 64, 65, 100, 255, 300, 1100, 20000]


def deep_text(depth: int, rng: random.Random) -> bytes:
    """JSON nested ``depth`` levels deep, written as text (no encoder writes it)."""
    kind = rng.randrange(3)
    if kind == 0:
        return b"[" * depth + b"1" + b"]" * depth
    if kind == 1:
        return b'{"a":' * depth + b"1" + b"}" * depth
    return b'[{"a":' * (depth // 2) + b"[]" + b"}]" * (depth // 2)


def latin1_junk(rng: random.Random) -> bytes:
    """Header bytes that are legal on the wire (obs-text) but not ASCII."""
    return bytes(rng.choice(range(0x80, 0x100)) for _ in range(rng.randint(1, 12)))


def visible(rng: random.Random, size: int) -> bytes:
    return "".join(
        rng.choice(string.ascii_letters + string.digits + "-_.~!$&'()*+,;=:@/?")
        for _ in range(size)
    ).encode()


def header_junk(rng: random.Random) -> bytes:
    """An odd header value: empty, long, latin-1, a list, an encoded word."""
    pick = rng.randrange(11)
    if pick == 0:
        return b""
    if pick == 1:
        return b"x" * rng.choice([257, 1000, 4000, 7000])
    if pick == 2:
        return latin1_junk(rng)
    if pick == 3:
        return "\u00e9t\u00e9 \U0001f600".encode()  # UTF-8 bytes, read by the server as latin-1
    if pick == 4:
        return b"a, b, c"
    if pick == 5:
        return b"=?base64?" + visible(rng, rng.randint(0, 12)) + b"?="
    if pick == 6:
        raw = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
        return b"=?base64?" + base64.b64encode(raw) + b"?="
    if pick == 7:
        return b"null"
    if pick == 8:
        return b"a\tb  c"
    if pick == 9:
        return visible(rng, rng.randint(1, 40))
    return b"0" * rng.randint(1, 30)


def as_headers(mapping: dict[str, str]) -> Headers:
    return [(name.encode(), value.encode("latin-1", "replace")) for name, value in mapping.items()]


def set_header(headers: Headers, name: bytes, value: bytes | None) -> Headers:
    """``headers`` with every ``name`` replaced by one ``value`` (or dropped for None)."""
    kept = [(n, v) for n, v in headers if n.lower() != name]
    if value is not None:
        kept.append((name, value))
    return kept


CONTENT_TYPES = [
    b"text/plain", b"application/json; charset=utf-16", b"application/json;charset=latin-1",
    b"APPLICATION/JSON", b"application/jsonx", b"", b"multipart/form-data; boundary=x",
    b"application/json, text/plain", b"*/*", b"application/x-www-form-urlencoded",
    b"application/json; charset=\xe9", b"application/json ; q=1", b"application/",
]
ACCEPTS = [
    None, b"", b"*/*", b"text/event-stream", b"application/json", b"application/*, text/*",
    b"application/json;q=0, text/event-stream;q=0", b"text/html", b"\xe9/\xe9",
    b"application/json,text/event-stream," * 60, b",,,", b"application/json;;;, text/event-stream",
]
VERSIONS = [
    b"2026-07-28", b"2025-11-25", b"2025-06-18", b"2025-03-26", b"2024-11-05", b"",
    b"2026-07-28, 2025-11-25", b"9999-99-99", b"\xe9", b"2026-07-28\xa0", b"latest",
]
ORIGINS = [
    b"http://evil.example", b"null", b"http://localhost:5173", b"", b"\xe9\xe9",
    b"http://127.0.0.1", b"file://", b"http://[::1]:80", b"http://localhost.evil.example",
]
HOSTS = [
    b"evil.example", b"localhost", b"127.0.0.1:1", b"", b"\xe9", b"[::1]", b"localhost:99999",
    b"127.0.0.1.nip.io",
]
ENCODINGS = [b"gzip", b"br", b"deflate", b"identity", b"gzip, gzip", b"x-junk"]
# fmt: on


# -- server bugs found by this fuzz and not fixed yet ------------------------------------


def _json(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return None


# -- the generator ------------------------------------------------------------------------


class CaseFactory:
    """Makes bad requests of both eras from one seeded ``random.Random``."""

    def __init__(self, rng: random.Random, targets: Targets) -> None:
        self.rng = rng
        self.targets = targets
        self.ids = 0
        self.families: list[tuple[int, Callable[[], Case]]] = [
            (14, self.modern_mutated),
            (8, self.modern_wrong_arguments),
            (5, self.modern_header_mismatch),
            (4, self.request_state),
            (10, self.legacy_mutated),
            (6, self.legacy_wrong_arguments),
            (4, self.legacy_initialize),
            (4, self.legacy_reply),
            (5, self.legacy_get),
            (3, self.legacy_delete),
            (5, self.garbage_sessions),
            (8, self.raw_bodies),
            (4, self.batches),
            (8, self.odd_headers),
            (2, self.other_methods),
        ]
        self._weights = [weight for weight, _ in self.families]

    def cases(self, count: int) -> list[Case]:
        return [self.case() for _ in range(count)]

    def case(self) -> Case:
        (make,) = self.rng.choices([make for _, make in self.families], self._weights)
        return make()

    # -- valid starting points ------------------------------------------------------------

    def next_id(self) -> int | str:
        self.ids += 1
        return self.ids if self.rng.random() < 0.7 else f"f-{self.ids}"

    def valid_arguments(self, tool: str) -> dict[str, Any]:
        pick = self.rng.choice
        return {
            "echo": {"text": pick(["ok", "", "\u00e9\U0001f600", "x" * 300])},
            "add": {"a": self.rng.randint(-5, 5), "b": self.rng.randint(-5, 5)},
            "weather": {"city": pick(["Oslo", ""])},
            "blocking_sum": {"values": [1, 2, 3]},
            "event_of": {"tag": "fuzz"},
            "regional": {"region": pick(["eu-west-1", "\u00e9u"]), "size": 2},
            "touch": {"uri": pick(["behaviours://note", "x"])},
            "remember": {"value": "v"},
            "recall": {"handle": pick(["h", "", "x" * 80])},
        }.get(tool, {})

    def quick_tool(self, era: str) -> str:
        """A tool that answers at once when called correctly."""
        avoid = SLEEPERS | NEVER_VALID | (LEGACY_WAITERS if era == "legacy" else frozenset())
        return self.rng.choice(sorted(set(self.targets.tools) - avoid))

    def modern_params(self, method: str) -> tuple[dict[str, Any], bool]:
        """Valid params for a modern method; whether they reach a deliberate failure."""
        pick = self.rng.choice
        if method == "tools/call":
            tool = self.quick_tool("modern")
            return {"name": tool, "arguments": self.valid_arguments(tool)}, False
        if method == "resources/read":
            uri = pick(
                [
                    "behaviours://note",
                    "behaviours://items/7",
                    "behaviours://items/x",
                    BROKEN,
                    "behaviours://missing",
                    "",
                    "file:///etc/passwd",
                ]
            )
            return {"uri": uri}, uri == BROKEN
        if method == "prompts/get":
            return {"name": pick(["greet", "nope"]), "arguments": {"name": "x"}}, False
        if method in ("tools/list", "resources/list", "prompts/list", "resources/templates/list"):
            return ({"cursor": pick(["Mw==", "x", ""])} if self.rng.random() < 0.3 else {}), False
        if method == "completion/complete":
            return {
                "ref": {"type": "ref/prompt", "name": "greet"},
                "argument": {"name": "name", "value": "a"},
            }, False
        if method.startswith("tasks/"):
            task_id = pick(["t_unknown", "t_" + "a" * 32, "", 7, None, ["t_x"], "x" * 70])
            params: dict[str, Any] = {"taskId": task_id} if task_id is not None else {}
            if method == "tasks/update":
                params["inputResponses"] = pick([{}, {"q0": {"action": "accept"}}, [], "x"])
            return params, False
        if method == "subscriptions/listen":
            return {
                "notifications": {
                    "toolsListChanged": True,
                    "resourceSubscriptions": ["behaviours://note"],
                }
            }, False
        return {}, False

    MODERN_METHODS = (
        "server/discover",
        "tools/list",
        "tools/call",
        "tools/call",
        "tools/call",
        "resources/list",
        "resources/templates/list",
        "resources/read",
        "resources/read",
        "prompts/list",
        "prompts/get",
        "completion/complete",
        "subscriptions/listen",
        "tasks/get",
        "tasks/update",
        "tasks/cancel",
        "tasks/list",
        "initialize",
        "ping",
        "no/such/method",
        "notifications/initialized",
    )

    def modern_message(self) -> tuple[dict[str, Any], bool]:
        method = self.rng.choice(self.MODERN_METHODS)
        params, deliberate = self.modern_params(method)
        extra: dict[str, Any] = {}
        if self.rng.random() < 0.3:
            extra["io.modelcontextprotocol/logLevel"] = self.rng.choice(["debug", "error"])
        if self.rng.random() < 0.3:  # some declare the tasks extension: tools become tasks
            extra["capabilities"] = self.rng.choice(
                [{"elicitation": {}}, {"extensions": {"io.modelcontextprotocol/tasks": {}}}]
            )
        if self.rng.random() < 0.1:
            extra["progressToken"] = self.next_id()
        params["_meta"] = meta(**extra)
        message = {"jsonrpc": "2.0", "id": self.next_id(), "method": method, "params": params}
        if method.startswith("notifications/"):
            del message["id"]
        return message, deliberate

    def modern_headers(self, message: dict[str, Any]) -> Headers:
        headers = headers_for(message)
        params = message.get("params") or {}
        arguments = params.get("arguments")
        if params.get("name") == "regional" and isinstance(arguments, dict):
            headers["mcp-param-region"] = str(arguments.get("region", ""))
        return [(n.encode(), v.encode("utf-8")) for n, v in headers.items()]

    def legacy_message(self) -> tuple[dict[str, Any], bool]:
        pick = self.rng.choice
        method = pick(
            [
                "tools/call",
                "tools/call",
                "tools/list",
                "ping",
                "logging/setLevel",
                "resources/read",
                "resources/subscribe",
                "prompts/get",
                "no/such/method",
                "completion/complete",
                "notifications/initialized",
                "notifications/cancelled",
                "notifications/progress",
            ]
        )
        deliberate = False
        if method == "tools/call":
            tool = self.quick_tool("legacy")
            params: dict[str, Any] = {"name": tool, "arguments": self.valid_arguments(tool)}
        elif method == "logging/setLevel":
            params = {"level": pick(["debug", "info", "loud"])}
        elif method in ("resources/read", "resources/subscribe"):
            uri = pick(["behaviours://note", BROKEN, "behaviours://missing"])
            params, deliberate = {"uri": uri}, uri == BROKEN and method == "resources/read"
        elif method == "notifications/cancelled":
            params = {"requestId": pick([1, "x", None, [], 1.5, "@@HUGE4@@"])}
        else:
            params, _ = self.modern_params(method)
        message = {"jsonrpc": "2.0", "id": self.next_id(), "method": method, "params": params}
        if method.startswith("notifications/"):
            del message["id"]
        return message, deliberate

    def session(self) -> str:
        return self.rng.choice(self.targets.sessions)

    def legacy_base_headers(self, session_id: str | None) -> Headers:
        version = self.rng.choice([LEGACY, LEGACY, "2025-06-18", "2025-03-26", None])
        return as_headers(legacy_headers(session_id, version))

    # -- mutation of JSON values -------------------------------------------------------------

    def other_value(self) -> Any:
        pick = self.rng.randrange(20)
        if pick < 14:
            return [
                None,
                True,
                False,
                0,
                -1,
                1.5,
                2**63 - 1,
                "",
                "x",
                "\u00e9",
                [],
                {},
                [1, "a"],
                {"a": None},
            ][pick]
        if pick == 14:
            return "x" * self.rng.choice([300, 5000])
        if pick == 15:
            return f"@@DEEP{self.rng.choice(DEPTHS)}@@"
        if pick == 16:
            return f"@@HUGE{self.rng.randrange(len(HUGE_NUMBERS))}@@"
        if pick == 17:
            return f"@@BAD{self.rng.randrange(len(BAD_STRINGS))}@@"
        if pick == 18:
            return {"_meta": {"io.modelcontextprotocol/protocolVersion": 1}}
        return "\u0000\u001f\ud7ff\ufffd"

    def mutate_tree(self, value: Any) -> Any:
        """One random change somewhere in a decoded JSON value."""
        slots: list[tuple[Any, Any]] = []
        stack = [value]
        while stack:
            node = stack.pop()
            if isinstance(node, dict):
                for key, child in node.items():
                    slots.append((node, key))
                    stack.append(child)
            elif isinstance(node, list):
                for index, child in enumerate(node):
                    slots.append((node, index))
                    stack.append(child)
        if not slots or self.rng.random() < 0.05:
            return self.rng.choice([[value], self.other_value(), [value, value]])
        parent, key = self.rng.choice(slots)
        op = self.rng.randrange(6)
        if op == 0 and isinstance(parent, dict):
            del parent[key]
        elif op == 1 and isinstance(parent, dict):
            parent[self.rng.choice(["", "ID", "\u00e9", key + " ", "__proto__"])] = parent.pop(key)
        elif op == 2:
            parent[key] = [parent[key]]
        else:
            parent[key] = self.other_value()
        return value

    def encode(self, value: Any) -> bytes:
        """JSON text of ``value`` with the raw-text placeholders spliced in."""
        text = orjson.dumps(value)
        while b'"@@' in text:
            start = text.index(b'"@@')
            end = text.index(b'@@"', start + 3)
            token = text[start + 3 : end].decode()
            if token.startswith("DEEP"):
                raw = deep_text(int(token[4:]), self.rng)
            elif token.startswith("HUGE"):
                raw = HUGE_NUMBERS[int(token[4:])]
            else:
                raw = BAD_STRINGS[int(token[3:])]
            text = text[:start] + raw + text[end + 3 :]
        return text

    def mangle_text(self, body: bytes) -> bytes:
        """A change to the bytes themselves."""
        op = self.rng.randrange(10)
        if op == 0 and body:
            return body[: self.rng.randrange(len(body))]
        if op == 1:
            at = self.rng.randrange(len(body) + 1)
            return body[:at] + bytes([self.rng.randrange(256)]) + body[at:]
        if op == 2 and body:
            at = self.rng.randrange(len(body))
            return body[:at] + bytes([body[at] ^ (1 << self.rng.randrange(8))]) + body[at + 1 :]
        if op == 3:
            return b"\xef\xbb\xbf" + body
        if op == 4:
            return body.decode("utf-8", "replace").encode(self.rng.choice(["utf-16", "utf-32"]))
        if op == 5:
            return body + self.rng.choice([b"{}", b"\x00", b" garbage", b"]", b"\n\n\n"])
        if op == 6 and body.startswith(b"{"):
            return b'{"id":' + self.rng.choice([b"[1]", b"1", b'"dup"', b"null"]) + b"," + body[1:]
        if op == 7:
            return b" \t\r\n" * self.rng.randint(1, 500) + body
        if op == 8:
            return body.replace(b'"', b"'", 1)
        return body.replace(b":", b": ", self.rng.randint(1, 5))

    def mutate_body(self, message: Any, rounds: int | None = None) -> bytes:
        value = copy.deepcopy(message)
        for _ in range(rounds if rounds is not None else self.rng.randint(1, 3)):
            value = self.mutate_tree(value)
        body = self.encode(value)
        if self.rng.random() < 0.25:
            body = self.mangle_text(body)
        return body

    # -- mutation of headers -------------------------------------------------------------------

    def mutate_headers(self, headers: Headers) -> Headers:
        """One odd change: a header dropped, replaced or duplicated, the names in upper
        case, or one header set to an odd value."""
        rng = self.rng
        op = rng.randrange(14)
        headers = list(headers)
        if op == 0 and headers:
            del headers[rng.randrange(len(headers))]
            return headers
        if op in (1, 2) and headers:
            name, _ = rng.choice(headers)
            if op == 1:
                return set_header(headers, name, header_junk(rng))
            return [*headers, (name, header_junk(rng))]  # a duplicate, with another value
        if op == 3:
            return [(name.upper(), value) for name, value in headers]
        odd_values: dict[bytes, Callable[[], bytes]] = {
            b"content-type": lambda: rng.choice(CONTENT_TYPES),
            b"accept": lambda: rng.choice(ACCEPTS) or b"",
            b"mcp-protocol-version": lambda: rng.choice(VERSIONS),
            b"origin": lambda: rng.choice(ORIGINS),
            b"host": lambda: rng.choice(HOSTS),
            b"mcp-session-id": self.garbage_session_id,
            b"x-user": lambda: header_junk(rng),
            b"authorization": lambda: rng.choice(
                [
                    b"Bearer",
                    b"Bearer x y",
                    b"Basic Zm9v",
                    b"Bearer " + b"a" * 3000,
                    latin1_junk(rng),
                ]
            ),
            b"mcp-name": lambda: header_junk(rng),
            b"mcp-method": lambda: header_junk(rng),
        }
        name = rng.choice(sorted(odd_values))
        if name == b"accept" and rng.random() < 0.2:
            return set_header(headers, name, None)  # no Accept at all
        return set_header(headers, name, odd_values[name]())

    def garbage_session_id(self) -> bytes:
        real = self.session().encode()
        return self.rng.choice(
            [
                b"",
                b"x" * 256,
                b"x" * 257,
                b"x" * 5000,
                latin1_junk(self.rng),
                b"../../",
                b"null",
                real + b"x",
                real.upper(),
                real[:-1],
                b"12345",
                real + b" " + real,
                b"a\tb",
                b"%00",
                b"\\u0041",
                real.replace(b"-", b"_"),
            ]
        )

    def garbage_event_id(self) -> bytes:
        real = self.rng.choice(self.targets.event_ids or ["g1_1"]).encode()
        stream, _, number = real.rpartition(b"_")
        return self.rng.choice(
            [
                b"",
                b"_",
                b"_1",
                stream + b"_",
                stream + b"_" + b"9" * 20,
                stream + b"_-1",
                stream + b"_1.5",
                stream + b"_0",
                b"x" * 300 + b"_1",
                b"\xb2",
                stream + b"_\xb2",
                real + b"0",
                real[:-1],
                b"g" + number,
                stream,
                real + b"_1",
                b"p_" + number,
                stream + b"_" + number + b"\xa0",
                b"g\xe9_1",
                real,
            ]
        )

    # -- the families ------------------------------------------------------------------------

    def modern_mutated(self) -> Case:
        """A valid modern request, broken in its body, its headers, or both."""
        message, deliberate = self.modern_message()
        headers = self.modern_headers(message)
        roll = self.rng.random()
        body = self.mutate_body(message) if roll < 0.7 else self.encode(message)
        if roll > 0.5:
            headers = self.mutate_headers(headers)
        return Case("modern-mutated", "POST", headers, body, deliberate_500=deliberate)

    def wrong_value(self, schema: dict[str, Any]) -> Any:
        """A value that cannot validate against a parameter's schema."""
        kind = schema.get("type")
        choices: list[Any] = [None, [], {}, {"a": 1}, [1, 2]]
        if kind in ("integer", "number"):
            choices += ["abc", "", "1 1", "@@BAD0@@"]
            if kind == "integer":
                choices += [1.5, "1.5"]
        elif kind == "string":
            choices += [1, -1, 1.5, True, "@@HUGE3@@"]
        elif kind == "array":
            choices += ["abc", 1, {"0": 1}, ["a", "b"] if schema.get("items") else None]
        return self.rng.choice(choices)

    def wrong_arguments(self, tool: str) -> Any:
        schema = self.targets.tools[tool]
        properties = schema.get("properties", {})
        if not properties or self.rng.random() < 0.15:
            return self.rng.choice([[], "x", 1, ["a"], True])  # not an object at all
        arguments = {name: self.valid_arguments(tool).get(name, 1) for name in properties}
        spoiled = self.rng.sample(sorted(properties), self.rng.randint(1, len(properties)))
        for name in spoiled:
            if self.rng.random() < 0.2 and name in schema.get("required", []):
                del arguments[name]
            else:
                arguments[name] = self.wrong_value(properties[name])
        return arguments

    def modern_wrong_arguments(self) -> Case:
        """Every tool of the app, called with arguments of the wrong types."""
        tool = self.rng.choice(sorted(self.targets.tools))
        params = {"name": tool, "arguments": self.wrong_arguments(tool), "_meta": meta()}
        message = {"jsonrpc": "2.0", "id": self.next_id(), "method": "tools/call", "params": params}
        headers = self.modern_headers(message)
        return Case("modern-wrong-arguments", "POST", headers, self.encode(message))

    def modern_header_mismatch(self) -> Case:
        """Routing headers that disagree with the body, or versions that disagree."""
        message, deliberate = self.modern_message()
        headers = self.modern_headers(message)
        op = self.rng.randrange(6)
        if op == 0:
            headers = set_header(
                headers,
                b"mcp-method",
                self.rng.choice([b"tools/list", b"TOOLS/CALL", b"tools/call\xa0", b"", b"\xe9"]),
            )
        elif op == 1:
            name = str(message["params"].get(NAME_KEY.get(message["method"], "name"), "echo"))
            encoded = base64.b64encode(name.encode()).decode()
            headers = set_header(
                headers,
                b"mcp-name",
                self.rng.choice(
                    [
                        f"=?base64?{encoded}?=".encode(),
                        f"=?base64?{encoded[:-1]}?=".encode(),
                        f"=?BASE64?{encoded}?=".encode(),
                        b"=?base64?/w==?=",
                        b"=?base64??=",
                        name.encode() + b"\xa0",
                        b"\xa0" + name.encode(),
                        name.upper().encode(),
                    ]
                ),
            )
        elif op == 2:
            meta_value = message["params"]["_meta"]
            meta_value["io.modelcontextprotocol/protocolVersion"] = self.rng.choice(
                ["2025-11-25", "2099-01-01", "", 20260728]
            )
        elif op == 3:
            headers.append((b"mcp-session-id", self.session().encode()))
        elif op == 4:
            headers = set_header(
                headers,
                b"mcp-param-region",
                self.rng.choice(
                    [b"=?base64?ZXUtd2VzdC0x?=", b"", b"\xe9", b"eu-west-1, eu-west-1"]
                ),
            )
        else:
            headers = set_header(headers, b"mcp-protocol-version", self.rng.choice(VERSIONS))
        return Case(
            "modern-header-mismatch",
            "POST",
            headers,
            self.encode(message),
            deliberate_500=deliberate,
        )

    def request_state(self) -> Case:
        """MRTR retries carrying a forged, truncated, foreign or mistyped requestState."""
        real = self.targets.request_state
        forged: Any = self.rng.choice(
            [
                real,
                real[: self.rng.randrange(max(1, len(real)))],
                real[::-1],
                real + "A",
                real[:-2] + ("AA" if not real.endswith("AA") else "BB"),
                "",
                "x",
                None,
                1,
                [],
                {},
                {"answers": {}},
                "x" * 100_000,
                base64.urlsafe_b64encode(b"\x00" * 64).decode(),
                real.replace(".", ""),
                "@@BAD1@@",
                "@@DEEP300@@",
            ]
        )
        target = self.rng.choice(["tools/call", "tools/call", "prompts/get", "resources/read"])
        params: dict[str, Any] = {"requestState": forged}
        if target == "tools/call":
            params.update(name=self.rng.choice(["ask_name", "echo", "nope"]), arguments={})
        elif target == "prompts/get":
            params.update(name="greet", arguments={"name": "x"})
        else:
            params.update(uri="behaviours://note")
        if self.rng.random() < 0.7:
            params["inputResponses"] = self.rng.choice(
                [
                    {"q": {"action": "accept", "content": {"name": "Ada"}}},
                    {"q": "accept"},
                    [],
                    {"": None},
                    {"q": {"action": []}},
                    "x",
                    {"q": {"action": "accept", "content": 1}},
                ]
            )
        capabilities = {"elicitation": {}} if self.rng.random() < 0.8 else {}
        params["_meta"] = meta(capabilities=capabilities)
        message = {"jsonrpc": "2.0", "id": self.next_id(), "method": target, "params": params}
        headers = self.modern_headers(message)
        body = self.encode(message) if self.rng.random() < 0.8 else self.mutate_body(message, 1)
        return Case("request-state", "POST", headers, body)

    def legacy_mutated(self) -> Case:
        """A request, notification or call of an open session, broken somewhere."""
        message, deliberate = self.legacy_message()
        headers = self.legacy_base_headers(self.session())
        roll = self.rng.random()
        body = self.mutate_body(message) if roll < 0.7 else self.encode(message)
        if roll > 0.5:
            headers = self.mutate_headers(headers)
        return Case("legacy-mutated", "POST", headers, body, deliberate_500=deliberate)

    def legacy_wrong_arguments(self) -> Case:
        """Every tool, called in a session with arguments of the wrong types."""
        tool = self.rng.choice(sorted(self.targets.tools))
        arguments = self.wrong_arguments(tool)
        if tool in LEGACY_WAITERS:  # valid calls wait for the client: never an object here
            arguments = self.rng.choice([[], "x", 1, ["a"]])
        message = {
            "jsonrpc": "2.0",
            "id": self.next_id(),
            "method": "tools/call",
            "params": {"name": tool, "arguments": arguments},
        }
        headers = self.legacy_base_headers(self.session())
        return Case("legacy-wrong-arguments", "POST", headers, self.encode(message))

    def legacy_initialize(self) -> Case:
        """initialize with broken params or headers (no session kept from it)."""
        message = {
            "jsonrpc": "2.0",
            "id": self.next_id(),
            "method": "initialize",
            "params": {
                "protocolVersion": self.rng.choice([LEGACY, "2025-03-26", VERSION, "1999-01-01"]),
                "capabilities": {},
                "clientInfo": {"name": "fuzz", "version": "1"},
            },
        }
        headers = self.legacy_base_headers(None)
        if self.rng.random() < 0.5:
            headers = self.mutate_headers(headers)
        body = self.mutate_body(message) if self.rng.random() < 0.8 else self.encode(message)
        return Case("legacy-initialize", "POST", headers, body)

    def legacy_reply(self) -> Case:
        """A client's reply to a server request that was never sent, or a malformed one."""
        reply: dict[str, Any] = {
            "jsonrpc": "2.0",
            "id": self.rng.choice(["s-" + visible(self.rng, 12).decode(), "s-", 5, "x" * 300, ""]),
        }
        if self.rng.random() < 0.6:
            reply["result"] = self.rng.choice([{}, {"action": "accept"}, None, [], "@@DEEP100@@"])
        else:
            reply["error"] = self.rng.choice([{"code": -1, "message": "no"}, {"code": "x"}, {}, 1])
        headers = self.legacy_base_headers(self.session())
        body = self.mutate_body(reply, 1) if self.rng.random() < 0.5 else self.encode(reply)
        if self.rng.random() < 0.3:
            headers = self.mutate_headers(headers)
        return Case("legacy-reply", "POST", headers, body)

    def legacy_get(self) -> Case:
        """GET streams with odd Accept values, session ids and Last-Event-IDs."""
        headers = self.legacy_base_headers(self.session())
        headers = set_header(headers, b"content-type", None)
        headers = set_header(headers, b"accept", b"text/event-stream")
        if self.rng.random() < 0.7:
            headers.append((b"last-event-id", self.garbage_event_id()))
        if self.rng.random() < 0.5:
            headers = self.mutate_headers(headers)
        body = b"" if self.rng.random() < 0.9 else self.encode({"jsonrpc": "2.0"})
        return Case("legacy-get", "GET", headers, body)

    def legacy_delete(self) -> Case:
        """DELETE of sessions that do not exist (the open ones stay open)."""
        headers = self.legacy_base_headers(None)
        headers.append((b"mcp-session-id", self.garbage_session_id()))
        if self.rng.random() < 0.4:
            headers = self.mutate_headers(headers)
        real = {s.encode() for s in self.targets.sessions}
        headers = [(n, v) for n, v in headers if n.lower() != b"mcp-session-id" or v not in real]
        return Case("legacy-delete", "DELETE", headers)

    def garbage_sessions(self) -> Case:
        """A valid session request under a session id the server never minted."""
        message, _ = self.legacy_message()
        headers = self.legacy_base_headers(None)
        headers.append((b"mcp-session-id", self.garbage_session_id()))
        real = {s.encode() for s in self.targets.sessions}
        headers = [(n, v) for n, v in headers if n.lower() != b"mcp-session-id" or v not in real]
        return Case("garbage-session", "POST", headers, self.encode(message))

    def raw_bodies(self) -> Case:
        """Bodies that are not JSON-RPC: malformed, truncated, deep, huge, invalid UTF-8."""
        legacy = self.rng.random() < 0.4
        if legacy:
            message, deliberate = self.legacy_message()
            headers = self.legacy_base_headers(self.session())
        else:
            message, deliberate = self.modern_message()
            headers = self.modern_headers(message)
        valid = self.encode(message)
        pick = self.rng.randrange(12)
        if pick in (8, 9):  # a body said to be compressed: gzipped, or not at all
            headers.append((b"content-encoding", self.rng.choice(ENCODINGS)))
        body = self.raw_body(pick, valid)
        chunked = self.rng.random() < 0.2
        return Case(
            "raw-body-" + ("legacy" if legacy else "modern"),
            "POST",
            headers,
            body,
            deliberate_500=deliberate,
            chunked=chunked,
        )

    def raw_body(self, pick: int, valid: bytes) -> bytes:
        """A body made from a valid one: empty, cut, deep, not JSON, huge, compressed."""
        rng = self.rng
        makers: list[Callable[[], bytes]] = [
            lambda: b"",
            lambda: valid[: rng.randrange(max(1, len(valid)))],
            lambda: deep_text(rng.choice(DEPTHS), rng),
            lambda: rng.choice(BAD_STRINGS + HUGE_NUMBERS),
            lambda: bytes(rng.randrange(256) for _ in range(rng.randint(1, 200))),
            lambda: valid.replace(b'"2.0"', rng.choice(BAD_STRINGS), 1),
            lambda: rng.choice([b"null", b"true", b"1", b'"x"', b"{}", b"[]", b"{,}", b"{"]),
            lambda: (
                b'{"jsonrpc":"2.0","id":1,"params":{"a":"' + b"x" * (5 << 20) + b'"}}'
                if rng.random() < 0.05
                else valid
            ),  # over the 4 MiB limit, rarely: it is slow
            lambda: gzip.compress(valid),
            lambda: valid,
            lambda: self.mangle_text(valid),
            lambda: valid.replace(b"{", b'{"a":' + deep_text(rng.choice(DEPTHS), rng) + b",", 1),
        ]
        return makers[pick]()

    def batches(self) -> Case:
        """JSON arrays of messages (batches), of either era."""
        legacy = self.rng.random() < 0.4
        make = self.legacy_message if legacy else self.modern_message
        size = self.rng.choice([0, 1, 2, 5, 50])
        batch: Any = [make()[0] for _ in range(size)]
        if self.rng.random() < 0.2:
            batch = [batch]
        if legacy:
            headers = self.legacy_base_headers(self.session() if self.rng.random() < 0.8 else None)
        else:
            headers = self.modern_headers(batch[0] if batch and isinstance(batch[0], dict) else {})
        return Case("batch", "POST", headers, self.encode(batch))

    def odd_headers(self) -> Case:
        """A valid request of either era under one to four odd header changes."""
        legacy = self.rng.random() < 0.4
        if legacy:
            message, deliberate = self.legacy_message()
            headers = self.legacy_base_headers(self.session())
        else:
            message, deliberate = self.modern_message()
            headers = self.modern_headers(message)
        for _ in range(self.rng.randint(1, 4)):
            headers = self.mutate_headers(headers)
        return Case(
            "odd-headers",
            "POST",
            headers,
            self.encode(message),
            deliberate_500=deliberate,
            chunked=self.rng.random() < 0.1,
        )

    def other_methods(self) -> Case:
        """HTTP methods and paths the endpoint does not serve."""
        legacy = self.rng.random() < 0.5
        if legacy:
            headers = self.legacy_base_headers(self.session())
        else:
            headers = as_headers({"mcp-protocol-version": VERSION, "accept": "*/*"})
        method = self.rng.choice(["PUT", "PATCH", "OPTIONS", "HEAD", "GET", "DELETE", "TRACE"])
        if legacy and method in ("GET", "DELETE"):
            method = "PATCH"  # a real session's GET or DELETE is not bad input
        path = self.rng.choice(
            [
                PATH,
                PATH,
                PATH + "/",
                PATH + "?x=1",
                PATH + "/x",
                "/",
                "/MCP",
                "/healthz",
                "/readyz",
                "/metrics",
                "/.well-known/oauth-x",
            ]
        )
        body = self.encode({"jsonrpc": "2.0"}) if self.rng.random() < 0.3 else b""
        if method in ("HEAD", "TRACE", "GET"):
            body = b""
        return Case("other-methods", method, headers, body, path=path)
