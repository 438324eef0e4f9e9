"""`stockpilot user add|passwd|disable|list`: the people who sign in to the dashboard with a password.

A password is read from the terminal without echo (asked twice), or from the first line of standard input with
--password-stdin (scripts); it is never taken as an argument, where it would land in shell history and `ps`.
"""

from __future__ import annotations

import getpass
import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from stockpilot.bootstrap import build
from stockpilot.domain.errors import StockpilotError

user_app = typer.Typer(help="Dashboard users (user name + password sign-in).", no_args_is_help=True)
console = Console()
err = Console(stderr=True)
StdinOption = Annotated[bool, typer.Option("--password-stdin", help="Read the password from the first line of stdin.")]


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if not sys.stdin.isatty():
        err.print("error: no terminal to ask for the password; pipe it with --password-stdin")
        raise typer.Exit(2)
    first = getpass.getpass("Password: ")
    if getpass.getpass("Again: ") != first:
        err.print("error: the two passwords differ; nothing changed")
        raise typer.Exit(1)
    return first


def _run(action: str, name: str, password: str | None = None) -> None:
    sp = build()
    try:
        if password is None:
            getattr(sp.users, action)(name)
        else:
            getattr(sp.users, action)(name, password)
    except StockpilotError as exc:
        err.print(f"error: {exc.detail}")
        raise typer.Exit(1) from None
    finally:
        sp.close()


@user_app.command("add")
def add(name: str, password_stdin: StdinOption = False) -> None:
    """Add a user who signs in to the dashboard with NAME and a password (at least 10 characters)."""
    _run("add", name, _read_password(password_stdin))
    console.print(f"user {name.strip().lower()!r} added; sign in at /signin")


@user_app.command("passwd")
def passwd(name: str, password_stdin: StdinOption = False) -> None:
    """Set a new password (re-enables the user, lifts a lockout, ends the user's open sessions)."""
    _run("set_password", name, _read_password(password_stdin))
    console.print(f"password of {name.strip().lower()!r} changed; its sessions have ended")


@user_app.command("disable")
def disable(name: str) -> None:
    """Stop a user signing in; open sessions end at once (`user passwd` enables again)."""
    _run("disable", name)
    console.print(f"user {name.strip().lower()!r} disabled")


@user_app.command("list")
def list_users() -> None:
    """Users, when they last signed in, and whether they are disabled."""
    sp = build()
    try:
        rows = sp.users.list()
    finally:
        sp.close()
    table = Table()
    for column in ("name", "created", "last sign-in", "status"):
        table.add_column(column)
    for r in rows:
        table.add_row(r["name"], f"{r['created_at']:%Y-%m-%d %H:%M}",
                      f"{r['last_signin_at']:%Y-%m-%d %H:%M}" if r["last_signin_at"] else "never",
                      "disabled" if r["disabled_at"] else "active")
    console.print(table)
