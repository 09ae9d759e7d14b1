"""The figures the annual evaluations ask for, counted from the hall's own records: receptions held, the no-show
rate, the average wait, and the satisfaction rate, per leader and per month (in the hall's time zone)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from zoneinfo import ZoneInfo

from sqlalchemy import select

from scheduler.clock import as_utc
from scheduler.states import State
from scheduler.store import SessionSource
from scheduler.tables import AppointmentRow, LeaderRow, RatingRow

SATISFIED = 4  # 4 满意 and 5 非常满意 count as satisfied


@dataclasses.dataclass(frozen=True, slots=True)
class Figures:
    leader_id: int | None  # None: the whole hall
    leader_name: str
    month: str  # 2026-11; "" for the whole period
    held: int  # receptions completed
    no_shows: int
    cancelled: int
    no_show_rate: float | None  # no-shows / (held + no-shows)
    average_wait_seconds: float | None  # from the later of arrival and the slot's start, to admission
    rated: int
    satisfied: int
    satisfaction_rate: float | None  # satisfied / rated


@dataclasses.dataclass
class _Tally:
    held: int = 0
    no_shows: int = 0
    cancelled: int = 0
    waits: list[float] = dataclasses.field(default_factory=list)
    rated: int = 0
    satisfied: int = 0

    def add(self, state: str, wait: float | None, score: int | None) -> None:
        if state == State.COMPLETED.value:
            self.held += 1
        elif state == State.NO_SHOW.value:
            self.no_shows += 1
        elif state == State.CANCELLED.value:
            self.cancelled += 1
        if wait is not None:
            self.waits.append(wait)
        if score is not None:
            self.rated += 1
            self.satisfied += score >= SATISFIED

    def figures(self, leader_id: int | None, leader_name: str, month: str) -> Figures:
        attended = self.held + self.no_shows
        return Figures(
            leader_id=leader_id,
            leader_name=leader_name,
            month=month,
            held=self.held,
            no_shows=self.no_shows,
            cancelled=self.cancelled,
            no_show_rate=self.no_shows / attended if attended else None,
            average_wait_seconds=sum(self.waits) / len(self.waits) if self.waits else None,
            rated=self.rated,
            satisfied=self.satisfied,
            satisfaction_rate=self.satisfied / self.rated if self.rated else None,
        )


async def count_figures(
    db: SessionSource, zone: ZoneInfo, first: dt.date, last: dt.date
) -> tuple[Figures, list[Figures]]:
    """The whole hall's figures over [first, last], and one row per leader and month."""
    start = dt.datetime.combine(first, dt.time(0), zone).astimezone(dt.UTC)
    end = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(0), zone).astimezone(dt.UTC)
    async with db.session() as session:
        rows = await session.execute(
            select(
                AppointmentRow.leader_id,
                LeaderRow.name,
                AppointmentRow.state,
                AppointmentRow.starts_at,
                AppointmentRow.arrived_at,
                AppointmentRow.admitted_at,
                RatingRow.score,
            )
            .join(LeaderRow, LeaderRow.id == AppointmentRow.leader_id)
            .outerjoin(RatingRow, RatingRow.appointment_id == AppointmentRow.id)
            .where(
                AppointmentRow.starts_at >= start,
                AppointmentRow.starts_at < end,
                AppointmentRow.state != State.RESCHEDULED.value,
            )
        )
        total = _Tally()
        groups: dict[tuple[int, str, str], _Tally] = {}
        for leader_id, leader_name, state, starts_at, arrived_at, admitted_at, score in rows:
            starts_at = as_utc(starts_at)
            wait = None
            if arrived_at is not None and admitted_at is not None:
                wait = max(0.0, (as_utc(admitted_at) - max(as_utc(arrived_at), starts_at)).total_seconds())
            month = f"{starts_at.astimezone(zone):%Y-%m}"
            total.add(state, wait, score)
            groups.setdefault((leader_id, leader_name, month), _Tally()).add(state, wait, score)
    rows_out = [tally.figures(lid, name, month) for (lid, name, month), tally in sorted(groups.items(), key=_order)]
    return total.figures(None, "", ""), rows_out


def _order(item: tuple[tuple[int, str, str], _Tally]) -> tuple[str, int]:
    (leader_id, _name, month), _tally = item
    return month, leader_id
