"""A settings dataclass from a config section: the one place a section's keys meet the
class that holds their defaults (the schema checks types and ranges only). No torch."""

from __future__ import annotations

from dataclasses import fields


def settings_from(cls, section: dict, name: str):
    """A settings dataclass from a config section; an unknown key is an error naming it."""
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(section) - known)
    if unknown:
        raise ValueError(f"{name}: unknown settings {unknown}; known: {sorted(known)}")
    return cls(**section)
