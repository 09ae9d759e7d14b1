"""The appointment's state machine: which transitions exist. Plain data, so tests read it directly."""

from __future__ import annotations

import enum

from scheduler.errors import InvalidTransition


class State(enum.StrEnum):
    REQUESTED = "requested"  # booked by the petitioner on the phone page; staff confirm it
    CONFIRMED = "confirmed"
    WAITING = "waiting"  # the petitioner has arrived in the waiting room
    IN_SESSION = "in_session"
    COMPLETED = "completed"
    NO_SHOW = "no_show"
    CANCELLED = "cancelled"
    RESCHEDULED = "rescheduled"  # moved: a new appointment carries on, this one keeps the history


TRANSITIONS: dict[State, frozenset[State]] = {
    State.REQUESTED: frozenset({State.CONFIRMED, State.CANCELLED, State.RESCHEDULED}),
    State.CONFIRMED: frozenset({State.WAITING, State.NO_SHOW, State.CANCELLED, State.RESCHEDULED}),
    # Admitted; or the slot ran out before anyone received them (cancelled, with that reason).
    State.WAITING: frozenset({State.IN_SESSION, State.CANCELLED}),
    State.IN_SESSION: frozenset({State.COMPLETED}),
    # Late but within the slot: still received.
    State.NO_SHOW: frozenset({State.WAITING}),
    State.COMPLETED: frozenset(),
    State.CANCELLED: frozenset(),
    State.RESCHEDULED: frozenset(),
}

OPEN_STATES = frozenset({State.REQUESTED, State.CONFIRMED, State.WAITING, State.IN_SESSION})
"""An appointment in one of these holds its place in the slot."""


def check_transition(current: State, wanted: State) -> None:
    if wanted not in TRANSITIONS[current]:
        raise InvalidTransition(f"an appointment that is {current.value} cannot become {wanted.value}")
