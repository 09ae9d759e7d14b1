"""The same schema, accounts and audit log on a real PostgreSQL server (the production database)."""

from __future__ import annotations

import pytest
import sqlalchemy
from hall_tools import running_hall

from web_ui.audit import AuditLog
from web_ui.db import Database
from web_ui.identity.users import InvalidCredentials, UserExists, UserStore


async def test_migrations_accounts_and_append_only_audit_on_postgres(postgres_url):
    db = Database(postgres_url)
    try:
        await db.upgrade()
        await db.upgrade()  # a second start finds the schema current
        users = UserStore(db)
        await users.add("wang", "correct-horse-9", "leader", "王局长")
        with pytest.raises(UserExists):
            await users.add("wang", "another-pass-9", "staff")
        assert (await users.authenticate("wang", "correct-horse-9")).display_name == "王局长"
        with pytest.raises(InvalidCredentials):
            await users.authenticate("wang", "wrong-password")
        audit = AuditLog(db)
        await audit.record(actor="王局长", role="leader", action="room_opened", target="desk-1", detail={"k": "值"})
        for statement in ("UPDATE audit_log SET actor = 'x'", "DELETE FROM audit_log", "TRUNCATE audit_log"):
            async with db.engine.begin() as connection:
                with pytest.raises(sqlalchemy.exc.DBAPIError, match="append-only"):
                    await connection.execute(sqlalchemy.text(statement))
        entry = (await audit.recent(1))[0]
        assert (entry["actor"], entry["detail"]) == ("王局长", {"k": "值"})
        assert entry["at"].endswith("+00:00")  # stored in UTC
    finally:
        await db.dispose()


async def test_the_hall_runs_on_postgres(tmp_path, postgres_url):
    async with running_hall(tmp_path, database={"url": postgres_url}) as hall:
        assert hall.services.db.engine.dialect.name == "postgresql"
        headers = await hall.bearer("boss", "admin")
        created = await hall.client.post("/api/rooms", json={"id": "pg-room"}, headers=headers)
        assert created.status_code == 201
        actions = [entry["action"] for entry in (await hall.client.get("/api/audit", headers=headers)).json()]
        assert actions[:2] == ["room_opened", "sign_in"]
