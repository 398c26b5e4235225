"""Shared Hypothesis strategies and settings for the protocol-core tests."""

from __future__ import annotations

from hypothesis import settings
from hypothesis import strategies as st

# No example database (nothing written outside tests/), no deadline (CI noise),
# and few enough examples that the whole directory stays fast.
FAST = settings(max_examples=150, deadline=None, database=None)

# Text that UTF-8 can encode: lone surrogates are not Unicode scalar values.
texts = st.text(st.characters(exclude_categories=("Cs",)), max_size=40)

# JSON-RPC ids: integers orjson writes as integers, and strings.
request_ids = st.integers(min_value=-(2**63), max_value=2**63 - 1) | texts

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | texts
)

json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(texts, children, max_size=4),
    max_leaves=12,
)

json_objects = st.dictionaries(texts, json_values, max_size=4)
