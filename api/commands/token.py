"""``dangjian token``: access tokens of a dataset's store (create, list, revoke).

A token is printed once, when it is created; the store keeps only its salted
scrypt hash.  The service takes it as ``Authorization: Bearer <token>``.
"""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import Annotated

import typer

from api.cli_errors import friendly_errors
from api.commands.console import err, notice, out
from api.dataset_store import open_dataset_store
from api.settings import Settings
from layers.store import Role, Store, parse_role
from layers.store.tokens import split_token

DatasetOpt = Annotated[
    Path | None,
    typer.Argument(help="Dataset GeoPackage (default: the served one, DANGJIAN_DATASET); with DANGJIAN_DATABASE_URL its PostGIS schema"),
]


def cli_actor() -> str:
    """Who writes from the command line, for the audit log: ``cli:<user>``."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli:unknown"


def dataset_store(dataset: Path | None) -> Store:
    """The store of ``dataset`` (default: the served one), the same one ``dangjian serve`` serves.

    Tokens live in the dataset's own store, so a token created before the
    first ``serve`` works once it runs, and one revoked here stops working on
    the next request to every worker.
    """
    return open_dataset_store(dataset, Settings(), actor=cli_actor(), notice=notice)


@friendly_errors
def create(
    dataset: DatasetOpt = None,
    role: Annotated[str, typer.Option("--role", help="viewer, planner, editor or admin")] = Role.viewer.value,
    name: Annotated[str, typer.Option("--name", help="Who or what the token is for (shown in `token list`)")] = "",
) -> None:
    """Create a token and print it once (only its hash is stored)."""
    chosen = parse_role(role)
    with dataset_store(dataset) as store:
        with store.transaction(actor=cli_actor()) as tx:
            new = tx.create_token(chosen, name=name)
        where = store.location
    out.print(new.token, highlight=False, markup=False, soft_wrap=True)
    err.print(
        f"token {new.info.id} ({new.info.role.value}) for {where}: shown only now, keep it safe",
        highlight=False,
        markup=False,
        soft_wrap=True,
    )

@friendly_errors
def list_(dataset: DatasetOpt = None) -> None:
    """List the tokens (id, role, name, created, by whom, revoked): never the tokens themselves."""
    with dataset_store(dataset) as store, store.snapshot() as snap:
        infos = snap.list_tokens()
    for t in infos:
        status = f"revoked {t.revoked_at}" if t.revoked_at else "active"
        line = f"{t.id}  {t.role.value:<7}  {status:<8}  {t.created_at}  {t.created_by}  {t.name}"
        out.print(line.rstrip(), highlight=False, markup=False, soft_wrap=True)
    if not infos:
        err.print("no tokens yet: dangjian token create --role editor", highlight=False, markup=False)

@friendly_errors
def revoke(
    token_id: Annotated[str, typer.Argument(help="The token's id (first column of `token list`, or dj_<id>_... )")],
    dataset: DatasetOpt = None,
) -> None:
    """Revoke a token: it stops working at once, on the next request to every server worker."""
    parts = split_token(token_id)
    tid = parts[0] if parts else token_id.strip()
    with dataset_store(dataset) as store, store.transaction(actor=cli_actor()) as tx:
        tx.revoke_token(tid)
    out.print(f"revoked {tid}", highlight=False, markup=False)


def register(app: typer.Typer) -> None:
    """Add the ``token`` command group (create, list, revoke) to the ``dangjian`` app."""
    tokens = typer.Typer(
        name="token",
        help="Access tokens: create (printed once), list, revoke. Roles: viewer < planner < editor < admin.",
        no_args_is_help=True,
    )
    tokens.command("create")(create)
    tokens.command("list")(list_)
    tokens.command("revoke")(revoke)
    app.add_typer(tokens, name="token")
