"""An OCSF event checked against the OCSF 1.7.0 schema, as the pydantic-ocsf package models it.

The package validates types, enums, the captions beside them (`activity_name`, `severity`...),
`class_uid` and `type_uid`. It keeps an attribute the schema does not define as an extra,
silently: `conform` fails on those too, everywhere but in `unmapped`, where OCSF puts what it
has no attribute for.
"""

from __future__ import annotations

import copy
from typing import Any

from ocsf.v1_7_0.events import AccountChange, Authentication
from pydantic import BaseModel

OCSF_CLASSES: dict[int, type[BaseModel]] = {3001: AccountChange, 3002: Authentication}


def conform(event: dict[str, Any]) -> BaseModel:
    """The event as the package reads it; fails unless it conforms to its class's schema."""
    model = OCSF_CLASSES[event["class_uid"]].model_validate(copy.deepcopy(event))
    assert unknown_attributes(model) == [], event
    # Nothing the package would read differently, or fill in: what we wrote is what it means.
    assert model.model_dump(mode="json", exclude_none=True, by_alias=True) == event
    return model


def unknown_attributes(value: Any, path: str = "") -> list[str]:
    if isinstance(value, list):
        return [found for i, item in enumerate(value) for found in unknown_attributes(item, path)]
    if not isinstance(value, BaseModel):
        return []
    unknown = [f"{path}.{name}" for name in value.model_extra or {}]
    for name in type(value).model_fields:
        if name != "unmapped":
            unknown += unknown_attributes(getattr(value, name), f"{path}.{name}")
    return unknown
