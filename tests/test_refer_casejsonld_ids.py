"""CASE node ids: the fast name-based UUID is exactly uuid5 in Threadline's namespace (ids must not change)."""

from __future__ import annotations

import uuid

from hypothesis import given
from hypothesis import strategies as st

from threadline.refer.casejsonld import _NAMESPACE, name_uuid


@given(st.text(max_size=100))
def test_name_uuid_is_uuid5(name: str) -> None:
    assert name_uuid(name) == str(uuid.uuid5(_NAMESPACE, name))
