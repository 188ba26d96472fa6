"""The saved-sessions store: migrations, append, resume lookups and FTS5 search."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from corral.errors import ConfigError, InvalidRequest, NotFound
from corral.sessions import MIGRATIONS, SessionStore, StoredMessage, default_path


def _exchange(question: str, answer: str) -> list[StoredMessage]:
    return [
        StoredMessage("user", question),
        StoredMessage("assistant", answer, thinking="hmm", metrics={"eval_count": 3}),
    ]


def test_default_path_is_under_the_corral_home(tmp_path: Path) -> None:
    assert default_path() == tmp_path / "corral-home" / "sessions.db"


def test_store_and_read_back(tmp_path: Path) -> None:
    with SessionStore(tmp_path / "s.db") as store:
        sid = store.create("smollm2:135m", system="Be brief.", options={"temperature": 0})
        store.append(sid, _exchange("Why is the sky blue?", "Rayleigh scattering."))
        store.append(sid, [StoredMessage("user", "look", images=["aGVsbG8="])])
        session = store.get(sid)
    assert session.model == "smollm2:135m" and session.system == "Be brief."
    assert session.options == {"temperature": 0}
    assert [m.role for m in session.messages] == ["user", "assistant", "user"]
    assert session.messages[1].thinking == "hmm"
    assert session.messages[1].metrics == {"eval_count": 3}
    assert session.messages[2].to_chat() == {
        "role": "user",
        "content": "look",
        "images": ["aGVsbG8="],
    }
    # Thinking is not sent back to the model.
    assert session.messages[1].to_chat() == {"role": "assistant", "content": "Rayleigh scattering."}


def test_latest_and_recent_skip_empty_sessions(tmp_path: Path) -> None:
    with SessionStore(tmp_path / "s.db") as store:
        first = store.create("a")
        store.append(first, _exchange("one", "1"))
        second = store.create("b")
        store.append(second, _exchange("two", "2"))
        store.create("a")  # empty: never listed or resumed
        assert store.latest().id == second  # type: ignore[union-attr]
        assert store.latest("a").id == first  # type: ignore[union-attr]
        assert store.latest("c") is None
        recent = store.recent()
    assert [s.id for s in recent] == [second, first]
    assert recent[0].title == "two" and recent[0].message_count == 2


def test_update_records_model_and_options(tmp_path: Path) -> None:
    with SessionStore(tmp_path / "s.db") as store:
        sid = store.create("a")
        store.update(sid, model="b", system=None, options={"seed": 1})
        assert store.get(sid).model == "b"
        assert store.get(sid).options == {"seed": 1}


def test_get_unknown_session_is_not_found(tmp_path: Path) -> None:
    with (
        SessionStore(tmp_path / "s.db") as store,
        pytest.raises(NotFound, match="no saved session 42"),
    ):
        store.get(42)


def test_search_finds_words_anywhere_and_ignores_fts_syntax(tmp_path: Path) -> None:
    with SessionStore(tmp_path / "s.db") as store:
        sid = store.create("m")
        store.append(sid, _exchange("Tell me about the blue sky", "The sky looks blue because..."))
        other = store.create("m")
        store.append(other, _exchange("Bake bread", "Use flour AND water"))
        hits = store.search("sky blue")
        assert {h.session_id for h in hits} == {sid}
        assert "[" in hits[0].snippet
        assert store.search('flour" OR "x') == []  # quotes are literal, not FTS syntax
        assert [h.session_id for h in store.search("AND")] == [other]
        assert store.search("nothing-like-this") == []
        with pytest.raises(InvalidRequest, match="search text is empty"):
            store.search("   ")


def test_migrations_run_once_and_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    SessionStore(path).close()
    SessionStore(path).close()  # reopening does not re-run the migrations
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    db.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    db.commit()
    db.close()
    with pytest.raises(ConfigError, match="newer than this corral knows"):
        SessionStore(path)


def test_unopenable_path_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(ConfigError, match="cannot open the sessions database"):
        SessionStore(tmp_path / "file" / "s.db")


def test_drop_last_removes_the_last_messages_and_their_search_rows(tmp_path: Path) -> None:
    with SessionStore(tmp_path / "s.db") as store:
        sid = store.create("m")
        store.append(
            sid,
            [
                StoredMessage("user", "first"),
                StoredMessage("user", "second quokka"),
                StoredMessage("assistant", "third"),
            ],
        )
        store.drop_last(sid, 2)
        assert [m.content for m in store.get(sid).messages] == ["first"]
        assert store.search("quokka") == []
        store.drop_last(sid, 5)
        assert store.get(sid).messages == []
