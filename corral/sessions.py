"""Saved chat sessions: one SQLite file under the corral home, shared by the REPL and the TUI.

A session is a model, a system message, the options set during it and the
ordered messages (each with its thinking, images and the timings of the answer).
Full-text search over every message uses SQLite FTS5. The schema is built by an
ordered list of migrations; `PRAGMA user_version` records how many have run, so
opening an older file upgrades it and opening a newer one is refused.

Plain stdlib `sqlite3`, blocking: async callers wrap calls in `asyncio.to_thread`
(the connection is opened with `check_same_thread=False` for that).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from corral import envconfig
from corral.errors import ConfigError, InvalidRequest, NotFound

__all__ = [
    "MIGRATIONS",
    "SearchHit",
    "Session",
    "SessionStore",
    "SessionSummary",
    "StoredMessage",
    "default_path",
]

MIGRATIONS: Sequence[str] = (
    """
    CREATE TABLE sessions (
        id INTEGER PRIMARY KEY,
        model TEXT NOT NULL,
        system TEXT,
        options TEXT NOT NULL DEFAULT '{}',
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE TABLE messages (
        id INTEGER PRIMARY KEY,
        session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
        role TEXT NOT NULL,
        content TEXT NOT NULL,
        thinking TEXT,
        images TEXT,
        metrics TEXT,
        created_at TEXT NOT NULL
    );
    CREATE INDEX messages_by_session ON messages(session_id, id);
    CREATE VIRTUAL TABLE messages_fts USING fts5(
        content, content='messages', content_rowid='id'
    );
    CREATE TRIGGER messages_ai AFTER INSERT ON messages BEGIN
        INSERT INTO messages_fts(rowid, content) VALUES (new.id, new.content);
    END;
    CREATE TRIGGER messages_ad AFTER DELETE ON messages BEGIN
        INSERT INTO messages_fts(messages_fts, rowid, content)
            VALUES ('delete', old.id, old.content);
    END;
    """,
)
"""Schema steps in order; step N runs when `user_version` < N + 1. Append, never edit."""


def default_path() -> Path:
    """`<CORRAL_HOME>/sessions.db`."""
    return envconfig.home() / "sessions.db"


@dataclass(frozen=True, slots=True)
class StoredMessage:
    """One message as sent to `/api/chat`, plus what the answer cost."""

    role: str
    content: str
    thinking: str | None = None
    images: list[str] | None = None
    """Base64 images attached to a user message."""
    metrics: dict[str, Any] | None = None
    """The final chunk's timings of an assistant answer (`eval_count`, `total_duration`...)."""

    def to_chat(self) -> dict[str, Any]:
        """The message for a chat request (thinking is not sent back, as in Ollama)."""
        message: dict[str, Any] = {"role": self.role, "content": self.content}
        if self.images:
            message["images"] = list(self.images)
        return message


@dataclass(frozen=True, slots=True)
class Session:
    """A stored session with all its messages."""

    id: int
    model: str
    system: str | None
    options: dict[str, Any]
    created_at: str
    updated_at: str
    messages: list[StoredMessage] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class SessionSummary:
    """A line of `/sessions`: id, model, size, last change and the first user message."""

    id: int
    model: str
    message_count: int
    updated_at: str
    title: str


@dataclass(frozen=True, slots=True)
class SearchHit:
    """A message matching a search, with a snippet around the match (`[` `]` mark it)."""

    session_id: int
    model: str
    role: str
    snippet: str
    created_at: str


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _fts_query(text: str) -> str:
    """Each word of `text` as a quoted FTS5 string, so user input is never FTS syntax."""
    words = text.split()
    if not words:
        raise InvalidRequest("search text is empty; give at least one word")
    return " ".join('"' + word.replace('"', '""') + '"' for word in words)


class SessionStore:
    """The sessions database; use as a context manager or call `close()`."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or default_path()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise ConfigError(f"cannot open the sessions database {self.path}: {exc}") from exc
        self._lock = threading.Lock()
        self._db.execute("PRAGMA foreign_keys = ON")
        self._migrate()

    def _migrate(self) -> None:
        version = int(self._db.execute("PRAGMA user_version").fetchone()[0])
        if version > len(MIGRATIONS):
            self._db.close()
            raise ConfigError(
                f"the sessions database {self.path} has schema version {version}, newer than "
                f"this corral knows ({len(MIGRATIONS)}); upgrade corral"
            )
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            self._db.executescript(f"BEGIN; {script}; PRAGMA user_version = {number}; COMMIT;")

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> SessionStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- writing ------------------------------------------------------------------

    def create(
        self, model: str, *, system: str | None = None, options: Mapping[str, Any] | None = None
    ) -> int:
        """A new, empty session; returns its id."""
        now = _now()
        with self._lock:
            cursor = self._db.execute(
                "INSERT INTO sessions (model, system, options, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (model, system, json.dumps(dict(options or {})), now, now),
            )
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    def update(
        self,
        session_id: int,
        *,
        model: str,
        system: str | None,
        options: Mapping[str, Any],
    ) -> None:
        """Record the session's current model, system message and options."""
        with self._lock:
            self._db.execute(
                "UPDATE sessions SET model = ?, system = ?, options = ?, updated_at = ?"
                " WHERE id = ?",
                (model, system, json.dumps(dict(options)), _now(), session_id),
            )

    def append(self, session_id: int, messages: Sequence[StoredMessage]) -> None:
        """Add messages at the end of a session, all or none."""
        now = _now()
        rows = [
            (
                session_id,
                m.role,
                m.content,
                m.thinking,
                json.dumps(m.images) if m.images else None,
                json.dumps(m.metrics) if m.metrics else None,
                now,
            )
            for m in messages
        ]
        with self._lock:
            self._db.execute("BEGIN")
            try:
                self._db.executemany(
                    "INSERT INTO messages (session_id, role, content, thinking, images, metrics,"
                    " created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    rows,
                )
                self._db.execute(
                    "UPDATE sessions SET updated_at = ? WHERE id = ?", (now, session_id)
                )
            except sqlite3.Error:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def drop_last(self, session_id: int, count: int) -> None:
        """Remove the last `count` messages of a session (regenerate, edit the last prompt)."""
        with self._lock:
            self._db.execute(
                "DELETE FROM messages WHERE id IN (SELECT id FROM messages WHERE session_id = ?"
                " ORDER BY id DESC LIMIT ?)",
                (session_id, count),
            )

    # -- reading ------------------------------------------------------------------

    def get(self, session_id: int) -> Session:
        """A session and its messages.

        Raises:
            NotFound: there is no session `session_id`.
        """
        with self._lock:
            row = self._db.execute(
                "SELECT id, model, system, options, created_at, updated_at FROM sessions"
                " WHERE id = ?",
                (session_id,),
            ).fetchone()
            if row is None:
                raise NotFound(f"no saved session {session_id}; see /sessions for the list")
            rows = self._db.execute(
                "SELECT role, content, thinking, images, metrics FROM messages"
                " WHERE session_id = ? ORDER BY id",
                (session_id,),
            ).fetchall()
        messages = [
            StoredMessage(
                role,
                content,
                thinking,
                json.loads(images) if images else None,
                json.loads(metrics) if metrics else None,
            )
            for role, content, thinking, images, metrics in rows
        ]
        return Session(row[0], row[1], row[2], json.loads(row[3]), row[4], row[5], messages)

    def latest(self, model: str | None = None) -> Session | None:
        """The most recently changed session (of `model`, when given) that has messages."""
        query = (
            "SELECT s.id FROM sessions s WHERE EXISTS"
            " (SELECT 1 FROM messages m WHERE m.session_id = s.id)"
        )
        args: tuple[str, ...] = ()
        if model is not None:
            query += " AND s.model = ?"
            args = (model,)
        with self._lock:
            query += " ORDER BY s.updated_at DESC, s.id DESC"
            row = self._db.execute(query, args).fetchone()
        return None if row is None else self.get(int(row[0]))

    def recent(self, limit: int = 20) -> list[SessionSummary]:
        """Sessions with at least one message, most recent first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT s.id, s.model, COUNT(m.id), s.updated_at,"
                " (SELECT content FROM messages u WHERE u.session_id = s.id AND u.role = 'user'"
                "  ORDER BY u.id LIMIT 1)"
                " FROM sessions s JOIN messages m ON m.session_id = s.id"
                " GROUP BY s.id ORDER BY s.updated_at DESC, s.id DESC LIMIT ?",
                (limit,),
            ).fetchall()
        return [
            SessionSummary(sid, model, count, updated, " ".join((title or "").split())[:60])
            for sid, model, count, updated, title in rows
        ]

    def search(self, text: str, limit: int = 20) -> list[SearchHit]:
        """Messages containing every word of `text` (FTS5, best match first).

        Raises:
            InvalidRequest: `text` has no words.
        """
        query = _fts_query(text)
        with self._lock:
            rows = self._db.execute(
                "SELECT m.session_id, s.model, m.role,"
                " snippet(messages_fts, 0, '[', ']', '…', 12), m.created_at"
                " FROM messages_fts JOIN messages m ON m.id = messages_fts.rowid"
                " JOIN sessions s ON s.id = m.session_id"
                " WHERE messages_fts MATCH ? ORDER BY rank LIMIT ?",
                (query, limit),
            ).fetchall()
        return [SearchHit(*row) for row in rows]
