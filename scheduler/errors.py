"""What the scheduler refuses, and why. Each error has a stable `code`; its message is safe to show."""

from __future__ import annotations


class SchedulerError(Exception):
    code = "scheduler_error"


class NotFound(SchedulerError):
    code = "not_found"


class LeaderNotFound(NotFound):
    code = "leader_not_found"


class DayNotFound(NotFound):
    code = "reception_day_not_found"


class SlotNotFound(NotFound):
    code = "slot_not_found"


class AppointmentNotFound(NotFound):
    code = "appointment_not_found"


class InvalidRequest(SchedulerError):
    """The request itself is malformed: a bad phone or ID number, an impossible time range."""

    code = "invalid_request"


class InvalidPhone(InvalidRequest):
    code = "invalid_phone"


class InvalidIdNumber(InvalidRequest):
    code = "invalid_id_number"


class Refused(SchedulerError):
    """A well-formed request the rules refuse: nothing was changed."""

    code = "refused"


class DayOverlaps(Refused):
    code = "reception_day_overlaps"


class LeaderExists(Refused):
    code = "leader_exists"


class SlotTaken(Refused):
    code = "slot_taken"


class SlotInPast(Refused):
    code = "slot_in_past"


class SlotTooFarAhead(Refused):
    code = "slot_too_far_ahead"


class SlotClosed(Refused):
    code = "slot_closed"


class PublicBookingClosed(Refused):
    code = "public_booking_closed"


class TooManyOpenAppointments(Refused):
    code = "too_many_open_appointments"


class PetitionerBusy(Refused):
    """The petitioner already has an appointment at that time (with any leader)."""

    code = "petitioner_busy"


class InvalidTransition(Refused):
    code = "invalid_transition"


class NotYourReception(Refused):
    """A leader acting on another leader's reception."""

    code = "not_your_reception"


class TicketRefused(SchedulerError):
    """A petitioner's link or ticket cannot be used now: too early, too late, already used, or forged."""

    code = "ticket_refused"


class TooEarly(TicketRefused):
    code = "room_not_open_yet"


class TooLate(TicketRefused):
    code = "link_expired"


class TicketUsed(TicketRefused):
    code = "ticket_used"


class LinkInUse(TicketRefused):
    """The link was opened on another device first."""

    code = "link_in_use"


class UnknownLink(TicketRefused):
    code = "unknown_link"


class AlreadyRated(Refused):
    code = "already_rated"
