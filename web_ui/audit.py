"""The append-only audit log: sign-ins, room actions, and later who watched and who exported what."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any, cast

from sqlalchemy import Table, insert, select

from web_ui.db import Database
from web_ui.models import AuditRow

logger = logging.getLogger(__name__)

_APPEND = insert(cast(Table, AuditRow.__table__))


class AuditLog:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def record(
        self,
        *,
        actor: str,
        role: str,
        action: str,
        target: str | None = None,
        outcome: str = "ok",
        client: str | None = None,
        detail: dict[str, Any] | None = None,
    ) -> None:
        row = {
            "at": dt.datetime.now(dt.UTC),
            "actor": actor[:96],
            "role": role,
            "action": action,
            "target": target,
            "outcome": outcome,
            "client": client,
            "detail": detail,
        }
        async with self._db.transaction() as session:
            await session.execute(_APPEND, row)  # a plain INSERT, built once: no unit of work for one row
        logger.info("audit %s: %s %s %s (%s)", action, actor, target or "-", outcome, role)

    async def recent(self, limit: int = 100, action: str | None = None) -> list[dict[str, Any]]:
        query = select(AuditRow).order_by(AuditRow.id.desc()).limit(limit)
        if action is not None:
            query = query.where(AuditRow.action == action)
        async with self._db.session() as session:
            rows = (await session.execute(query)).scalars()
            return [
                {
                    "id": r.id,
                    "at": _aware(r.at).isoformat(),
                    "actor": r.actor,
                    "role": r.role,
                    "action": r.action,
                    "target": r.target,
                    "outcome": r.outcome,
                    "client": r.client,
                    "detail": r.detail,
                }
                for r in rows
            ]


def _aware(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)
