"""Roles and what each may do. Checked on every route and socket."""

from __future__ import annotations

import enum


class Role(enum.StrEnum):
    ADMIN = "admin"
    LEADER = "leader"
    STAFF = "staff"
    SECURITY = "security"
    OBSERVER = "observer"
    PETITIONER = "petitioner"


STAFF_ROLES = frozenset({Role.ADMIN, Role.LEADER, Role.STAFF, Role.SECURITY, Role.OBSERVER})
"""Roles a signed-in account can have. Petitioners never have accounts: they hold join tokens."""

ROOM_OPENERS = frozenset({Role.ADMIN, Role.LEADER, Role.STAFF})
"""May open a room that does not exist yet, create and close rooms, and invite people."""

ROOM_DIRECTORS = frozenset({Role.ADMIN, Role.LEADER, Role.STAFF})
"""May direct a room's program: its layout, who is shown, its caption."""

ROOM_PUBLISHERS = frozenset({Role.ADMIN, Role.LEADER, Role.STAFF, Role.PETITIONER})
"""May send camera and microphone into a room."""

ROOM_MEMBERS = frozenset({Role.ADMIN, Role.LEADER, Role.STAFF, Role.OBSERVER, Role.PETITIONER})
"""May be in a room at all (watch and listen). Security staff watch cameras, not receptions."""

ROOM_READERS = frozenset({Role.ADMIN, Role.LEADER, Role.STAFF, Role.OBSERVER})
"""May list rooms and read rosters through the API."""

CAMERA_VIEWERS = frozenset({Role.ADMIN, Role.STAFF, Role.SECURITY})
"""May see cameras: the wall, live view, snapshots, motion events, and move them (PTZ, presets)."""

CAMERA_KEEPERS = frozenset({Role.ADMIN, Role.SECURITY})
"""May add, change and remove cameras, and look for new ones on the network."""

SCHEDULE_KEEPERS = frozenset({Role.ADMIN, Role.STAFF})
"""May add leaders, open reception days, book, confirm, cancel and reschedule, and read the SMS outbox."""

RECEPTION_HOSTS = frozenset({Role.ADMIN, Role.LEADER, Role.STAFF})
"""May see the schedule and receive petitioners: join, admit and end receptions (a leader only their own)."""

FIGURE_READERS = frozenset({Role.ADMIN, Role.LEADER, Role.STAFF, Role.OBSERVER})
"""May read the reception figures (held, no-shows, wait, satisfaction)."""


def parse_role(value: str) -> Role:
    try:
        return Role(value)
    except ValueError:
        raise ValueError(f"unknown role '{value}'; roles are {', '.join(r.value for r in Role)}") from None
