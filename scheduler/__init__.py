"""Appointments, leaders' reception days, reminders and SMS, and the reception session's lifecycle.

The web edge builds one `Scheduler` and reaches everything through it: `bookings` (leaders, reception days,
booking with its rules), `reception` (the petitioner's link and ticket, admission, outcome, rating), the
loop (`lifecycle`), the `notifier` and its outbox, and `figures()`.
"""

from scheduler.clock import Clock, SystemClock
from scheduler.errors import (
    NotFound,
    Refused,
    SchedulerError,
    TicketRefused,
)
from scheduler.figures import Figures
from scheduler.lifecycle import DeskCamera, Pass, RoomHost
from scheduler.notifier import LogSms
from scheduler.reception import RESULTS
from scheduler.records import (
    AppointmentRecord,
    Booking,
    DayRecord,
    HostPass,
    LeaderRecord,
    NotificationRecord,
    PetitionerDetails,
    SlotRecord,
    Ticket,
)
from scheduler.service import Scheduler
from scheduler.settings import SchedulerSettings, SmsSettings
from scheduler.states import OPEN_STATES, TRANSITIONS, State
from scheduler.store import RECEPTION_ROOM_PREFIX

__all__ = [
    "OPEN_STATES",
    "RECEPTION_ROOM_PREFIX",
    "RESULTS",
    "TRANSITIONS",
    "AppointmentRecord",
    "Booking",
    "Clock",
    "DayRecord",
    "DeskCamera",
    "Figures",
    "HostPass",
    "LeaderRecord",
    "LogSms",
    "NotFound",
    "NotificationRecord",
    "Pass",
    "PetitionerDetails",
    "Refused",
    "RoomHost",
    "Scheduler",
    "SchedulerError",
    "SchedulerSettings",
    "SlotRecord",
    "SmsSettings",
    "State",
    "SystemClock",
    "Ticket",
    "TicketRefused",
]
