"""User/password sign-in on each database: Argon2id hashes, one answer for every failure, the durable lockout
(raced by real threads), sessions ended by a password change or disabling, and `stockpilot user add`."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from datetime import timedelta

import pytest
from sqlalchemy import select

from stockpilot.adapters.db.tables import dashboard_users, signin_failures
from stockpilot.domain.errors import Conflict, ValidationFailed
from stockpilot.domain.signin_throttle import FREE_FAILURES
from stockpilot.services.users import WRONG
from tests.integration.web_helpers import (  # noqa: F401 (fixtures by name: app, web)
    app_fixture,
    csrf_of,
    sign_in_user,
    web_fixture,
)

PASSWORD = "correct horse battery"


def _error_after(web, response) -> str:
    assert response.status_code == 303 and "sp_session" not in response.headers.get("set-cookie", "")
    page = web.get(response.headers["location"]).text
    return page


def test_a_user_signs_in_with_a_password_stored_only_as_argon2id(app, web):
    app.users.add("Alice", PASSWORD)
    with app.db.read() as conn:
        stored = conn.execute(select(dashboard_users.c.name, dashboard_users.c.password_hash)).one()
    assert stored.name == "alice" and stored.password_hash.startswith("$argon2id$") and PASSWORD not in stored[1]
    with pytest.raises(Conflict):
        app.users.add("ALICE", "another password")
    with pytest.raises(ValidationFailed):
        app.users.add("bob", "short")

    wrong = _error_after(web, sign_in_user(web, "alice", "not the password"))
    unknown = _error_after(web, sign_in_user(web, "mallory", "not the password"))
    assert WRONG in wrong and WRONG in unknown  # the same words: the page does not say which names exist
    assert web.get("/").status_code == 303

    done = sign_in_user(web, " ALICE ", PASSWORD, "/suppliers")
    assert done.status_code == 303 and done.headers["location"] == "/suppliers"
    page = web.get("/suppliers")
    assert page.status_code == 200 and "alice" in page.text  # who is signed in, in the top bar


def test_a_password_change_or_disabling_ends_open_sessions(app, web):
    app.users.add("alice", PASSWORD)
    sign_in_user(web, "alice", PASSWORD)
    assert web.get("/").status_code == 200
    app.users.set_password("alice", "a new long password")
    assert web.get("/").status_code == 303  # the old session's version is stale
    assert WRONG in _error_after(web, sign_in_user(web, "alice", PASSWORD))
    sign_in_user(web, "alice", "a new long password")
    assert web.get("/").status_code == 200
    app.users.disable("alice")
    assert web.get("/").status_code == 303
    assert WRONG in _error_after(web, sign_in_user(web, "alice", "a new long password"))


def test_repeated_failures_lock_the_name_durably_and_the_lock_ends(app, web, clock):
    app.users.add("alice", PASSWORD)
    for _ in range(FREE_FAILURES - 1):
        assert WRONG in _error_after(web, sign_in_user(web, "alice", "guess"))
    locked = _error_after(web, sign_in_user(web, "alice", "guess"))
    assert "try again in 15 minutes" in locked
    # Locked: even the right password is refused, and attempts while locked do not push the lock out.
    assert "Too many failed sign-ins" in _error_after(web, sign_in_user(web, "alice", PASSWORD))
    with app.db.read() as conn:
        assert conn.execute(select(signin_failures.c.failures)).scalar_one() == FREE_FAILURES
    # An unknown name locks the same way: the lockout does not reveal which names are real.
    for _ in range(FREE_FAILURES):
        page = _error_after(web, sign_in_user(web, "nobody", "guess"))
    assert "Too many failed sign-ins" in page
    clock.advance(seconds=timedelta(minutes=15, seconds=1).total_seconds())
    assert sign_in_user(web, "alice", PASSWORD).headers["location"] == "/"
    with app.db.read() as conn:  # a success forgets alice's failures
        assert [r.name for r in conn.execute(select(signin_failures.c.name))] == ["nobody"]
    app.users.authenticate("guesser-1", "x")
    clock.advance(hours=25)
    app.users.authenticate("guesser-2", "x")  # a failure a day later sweeps counters nobody needs any more
    with app.db.read() as conn:
        assert [r.name for r in conn.execute(select(signin_failures.c.name))] == ["guesser-2"]


def test_failures_racing_in_threads_are_each_counted_once(app):
    app.users.add("alice", PASSWORD)

    def race(n: int) -> list[str]:
        barrier, errors = threading.Barrier(n), []

        def attempt() -> None:
            barrier.wait()
            errors.append(app.users.authenticate("alice", "guess").error)

        threads = [threading.Thread(target=attempt) for _ in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return errors

    assert race(FREE_FAILURES - 1) == [WRONG] * (FREE_FAILURES - 1)
    with app.db.read() as conn:  # no lost update: every racing failure counted
        assert conn.execute(select(signin_failures.c.failures)).scalar_one() == FREE_FAILURES - 1
    race(4)
    with app.db.read() as conn:  # exactly one more counted (it locked); the others met the lock
        row = conn.execute(select(signin_failures)).one()
    assert row.failures == FREE_FAILURES and row.locked_until is not None
    assert app.users.authenticate("alice", PASSWORD).user_id is None


def test_the_cli_adds_a_user_from_stdin_without_echoing_it(db_url, app, web):
    env = {**os.environ, "STOCKPILOT_DATABASE_URL": db_url}
    cli = [sys.executable, "-m", "stockpilot.entrypoints.cli.main", "user"]
    added = subprocess.run([*cli, "add", "ops.lead", "--password-stdin"], input=PASSWORD + "\n", env=env,
                           capture_output=True, text=True, timeout=60)
    assert added.returncode == 0, added.stderr
    assert PASSWORD not in added.stdout + added.stderr and "ops.lead" in added.stdout
    again = subprocess.run([*cli, "add", "ops.lead", "--password-stdin"], input=PASSWORD + "\n", env=env,
                           capture_output=True, text=True, timeout=60)
    assert again.returncode == 1 and "already exists" in again.stderr
    no_tty = subprocess.run([*cli, "add", "someone"], input="", env=env, capture_output=True, text=True, timeout=60)
    assert no_tty.returncode == 2 and "--password-stdin" in no_tty.stderr
    assert sign_in_user(web, "ops.lead", PASSWORD).headers["location"] == "/"
    listed = subprocess.run([*cli, "list"], env=env, capture_output=True, text=True, timeout=60)
    assert "ops.lead" in listed.stdout and "active" in listed.stdout
