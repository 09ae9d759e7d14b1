"""Sends the outbox: due messages go to the configured backend, with retries and backoff, never twice.

A message is claimed (`pending` -> `sending`) by a conditional UPDATE before it is sent, so two scheduler
processes never both send it. A process that dies mid-send leaves it `sending`; on the next start such a
message is marked failed rather than sent again: a reminder lost is better than one received twice.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging

from sqlalchemy import bindparam, select, update

from scheduler.clock import as_utc
from scheduler.personal import PersonalData, mask_phone
from scheduler.records import NotificationRecord
from scheduler.settings import SmsSettings
from scheduler.sms import AliyunSms, DeliveryFailed, SendReceipt, SmsBackend, SmsMessage, TencentSms, WebhookSms
from scheduler.store import SessionSource, table_of
from scheduler.tables import AppointmentRow, NotificationRow, PetitionerRow

logger = logging.getLogger(__name__)

BATCH = 50  # messages claimed per pass

# A delivery's statements, built once (a booking's confirmation is sent right after it).
_OUTBOX = table_of(NotificationRow)
_CLAIM = (
    update(_OUTBOX)
    .where(_OUTBOX.c.id == bindparam("notification_id"), _OUTBOX.c.state == "pending")
    .values(state="sending", attempts=_OUTBOX.c.attempts + 1)
    .returning(
        _OUTBOX.c.petitioner_id,
        _OUTBOX.c.kind,
        _OUTBOX.c.params,
        _OUTBOX.c.text,
        _OUTBOX.c.expires_at,
        _OUTBOX.c.attempts,
    )
)
_PHONE = select(PetitionerRow.phone_secret).where(PetitionerRow.id == bindparam("petitioner_id"))
_SENT = (
    update(_OUTBOX)
    .where(_OUTBOX.c.id == bindparam("notification_id"))
    .values(state="sent", sent_at=bindparam("at"), backend=bindparam("via"), provider_id=bindparam("provider"))
)


class LogSms:
    """The default backend: the outbox (shown on the schedule page) and one log line per message."""

    name = "log"

    async def send(self, message: SmsMessage) -> SendReceipt:
        # The text carries the petitioner's link, a credential: the log names the message, not its text.
        logger.info("%s: SMS '%s' to %s (log only)", message.reference, message.template, mask_phone(message.to))
        return SendReceipt(provider_id=None, backend=self.name)

    async def close(self) -> None:
        return None


def sms_backend(settings: SmsSettings) -> SmsBackend:
    if settings.backend == "aliyun":
        return AliyunSms.from_settings(settings.aliyun)
    if settings.backend == "tencent":
        return TencentSms.from_settings(settings.tencent)
    if settings.backend == "webhook":
        return WebhookSms.from_settings(settings.webhook)
    return LogSms()


@dataclasses.dataclass
class Delivery:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    dropped: int = 0


class Notifier:
    def __init__(self, db: SessionSource, backend: SmsBackend, personal: PersonalData, settings: SmsSettings) -> None:
        self.db = db
        self.backend = backend
        self.personal = personal
        self.settings = settings

    async def recover(self, now: dt.datetime) -> int:
        """After a restart: a message left `sending` may have gone out. It is not sent again."""
        async with self.db.transaction() as session:
            result = await session.execute(
                update(NotificationRow)
                .where(NotificationRow.state == "sending")
                .values(state="failed", last_error="interrupted while sending; not sent again, to avoid a duplicate")
                .execution_options(synchronize_session=False)
            )
        count = int(getattr(result, "rowcount", 0) or 0)
        if count:
            logger.warning("%d message(s) were interrupted while sending; marked failed, not resent", count)
        return count

    async def deliver_due(self, now: dt.datetime) -> Delivery:
        delivery = Delivery()
        async with self.db.session() as session:
            due = list(
                await session.scalars(
                    select(NotificationRow.id)
                    .where(NotificationRow.state == "pending", NotificationRow.next_attempt_at <= now)
                    .order_by(NotificationRow.next_attempt_at, NotificationRow.id)
                    .limit(BATCH)
                )
            )
        for notification_id in due:
            await self._deliver(notification_id, now, delivery)
        return delivery

    async def _deliver(self, notification_id: int, now: dt.datetime, delivery: Delivery) -> None:
        async with self.db.transaction() as session:
            claimed = (await session.execute(_CLAIM, {"notification_id": notification_id})).one_or_none()
            if claimed is None:
                return  # another process took it
            if now >= as_utc(claimed.expires_at):
                await session.execute(
                    update(_OUTBOX)
                    .where(_OUTBOX.c.id == notification_id)
                    .values(state="dropped", last_error="its time had passed before it could be sent")
                )
                delivery.dropped += 1
                return
            phone_secret = (await session.execute(_PHONE, {"petitioner_id": claimed.petitioner_id})).scalar_one()
            message = SmsMessage(
                to=self.personal.decrypt_phone(phone_secret),
                template=claimed.kind,
                params=json.loads(claimed.params),
                text=claimed.text,
                reference=f"n-{notification_id}",
            )
            attempts = claimed.attempts
        # The send happens outside the transaction: a slow carrier must not hold a database lock.
        try:
            receipt = await self.backend.send(message)
        except DeliveryFailed as exc:
            await self._failed(notification_id, exc, attempts, now, delivery)
            return
        except Exception as exc:  # a backend's own bug: this message fails (not resent), the others go on
            logger.exception("n-%d: the SMS backend failed unexpectedly", notification_id)
            failure = DeliveryFailed(
                type(exc).__name__, code="backend_error", retryable=False, backend=self.backend.name
            )
            await self._failed(notification_id, failure, attempts, now, delivery)
            return
        async with self.db.transaction() as session:
            await session.execute(
                _SENT,
                {
                    "notification_id": notification_id,
                    "at": now,
                    "via": receipt.backend,
                    "provider": receipt.provider_id,
                },
            )
        delivery.sent += 1

    async def _failed(
        self, notification_id: int, exc: DeliveryFailed, attempts: int, now: dt.datetime, delivery: Delivery
    ) -> None:
        retry = exc.retryable and attempts < self.settings.max_attempts
        delay = min(self.settings.retry_base_seconds * 2 ** (attempts - 1), self.settings.retry_max_seconds)
        values: dict[str, object] = {"last_error": f"{exc.code}: {exc}"[:200], "backend": self.backend.name}
        if retry:
            values.update(state="pending", next_attempt_at=now + dt.timedelta(seconds=delay))
            delivery.retried += 1
            logger.warning("n-%d: %s; retrying in %.0f s", notification_id, exc.code, delay)
        else:
            values.update(state="failed")
            delivery.failed += 1
            logger.error("n-%d: %s; given up after %d attempt(s)", notification_id, exc.code, attempts)
        async with self.db.transaction() as session:
            await session.execute(update(NotificationRow).where(NotificationRow.id == notification_id).values(**values))

    async def outbox(self, *, limit: int = 200) -> list[NotificationRecord]:
        """The newest messages, as the schedule page shows them (masked phone numbers)."""
        async with self.db.session() as session:
            rows = await session.execute(
                select(NotificationRow, AppointmentRow.number, PetitionerRow.phone_masked)
                .join(AppointmentRow, AppointmentRow.id == NotificationRow.appointment_id)
                .join(PetitionerRow, PetitionerRow.id == NotificationRow.petitioner_id)
                .order_by(NotificationRow.due_at.desc(), NotificationRow.id.desc())
                .limit(limit)
            )
            return [
                NotificationRecord(
                    id=n.id,
                    appointment_id=n.appointment_id,
                    appointment_number=number,
                    kind=n.kind,
                    phone_masked=masked,
                    text=n.text,
                    state=n.state,
                    attempts=n.attempts,
                    due_at=as_utc(n.due_at),
                    sent_at=as_utc(n.sent_at) if n.sent_at else None,
                    backend=n.backend,
                    last_error=n.last_error,
                )
                for n, number, masked in rows
            ]

    async def close(self) -> None:
        await self.backend.close()
