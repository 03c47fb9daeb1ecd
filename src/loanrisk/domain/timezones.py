"""Known time zones (DESIGN.md §4 v2, time zone): a borrower_timezone is taken only when it is a
zone of the IANA database, spelled exactly as the database spells it.

The names are those of the ``tzdata`` package (the IANA database for Python), the same on every
host: never the host's own zoneinfo folder, which also holds files such as ``localtime``, and
never a lookup by a path built from feed text.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

# Zones of the database that name no place's clock: "Factory" is the zone of a machine whose
# time zone was never set.
NOT_A_CLOCK = frozenset({"Factory"})


@cache
def known_timezones() -> frozenset[str]:
    """Every IANA zone name (``Asia/Shanghai``, ``UTC``, links such as ``PRC`` included)."""
    names = resources.files("tzdata").joinpath("zones").read_text(encoding="utf-8").split()
    return frozenset(names) - NOT_A_CLOCK


def is_known_timezone(name: str | None) -> bool:
    return name is not None and name in known_timezones()
