"""The appointment's state machine as data: every pair of states is either a transition or refused with a
message naming both."""

from __future__ import annotations

import itertools

import pytest

from scheduler import TRANSITIONS, State
from scheduler.errors import InvalidTransition
from scheduler.states import OPEN_STATES, check_transition

EXPECTED = {
    (State.REQUESTED, State.CONFIRMED),  # staff confirm a phone booking
    (State.REQUESTED, State.CANCELLED),
    (State.REQUESTED, State.RESCHEDULED),
    (State.CONFIRMED, State.WAITING),  # the petitioner arrives
    (State.CONFIRMED, State.NO_SHOW),
    (State.CONFIRMED, State.CANCELLED),
    (State.CONFIRMED, State.RESCHEDULED),
    (State.WAITING, State.IN_SESSION),  # admitted
    (State.WAITING, State.CANCELLED),  # the slot ended before anyone received them
    (State.IN_SESSION, State.COMPLETED),
    (State.NO_SHOW, State.WAITING),  # late, but within the slot
}


@pytest.mark.parametrize(("current", "wanted"), list(itertools.product(State, State)))
def test_every_pair_of_states_is_a_transition_or_refused_with_its_reason(current, wanted):
    if (current, wanted) in EXPECTED:
        check_transition(current, wanted)
    else:
        with pytest.raises(InvalidTransition, match=f"{current.value} cannot become {wanted.value}"):
            check_transition(current, wanted)


def test_the_table_is_the_one_tested_and_final_states_are_final():
    assert {(a, b) for a, targets in TRANSITIONS.items() for b in targets} == EXPECTED
    assert all(not TRANSITIONS[s] for s in (State.COMPLETED, State.CANCELLED, State.RESCHEDULED))
    assert {State.REQUESTED, State.CONFIRMED, State.WAITING, State.IN_SESSION} == OPEN_STATES
