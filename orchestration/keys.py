"""Operator commands of the B2B API: `museed orgs create|add-member|list` and `museed keys create|list|rotate|revoke`.

They call the B2B service over one DB transaction, like a request does; a key's secret is printed once, at
creation or rotation, and never stored."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

import typer
from rich.console import Console

from api.b2b.plans import PLANS, SCOPES  # plain data: the options' help text names them
from museed.settings import get_settings

if TYPE_CHECKING:
    from api.b2b.schemas import ApiKeyCreated, ApiKeyOut
    from api.b2b.service import B2BService

console = Console()
T = TypeVar("T")

keys_app = typer.Typer(help="B2B API keys: create, list, rotate, revoke.", no_args_is_help=True)
orgs_app = typer.Typer(help="B2B organisations and their members.", no_args_is_help=True)


def _run(work: Callable[[B2BService], T]) -> T:
    """`work` on a B2B service in one committed transaction; domain errors end the command with their detail."""
    # the service stack (SQLAlchemy models, the API's errors) loads when a command runs, not for `museed --help`
    from api.b2b.service import b2b_service_for
    from api.db.session import session_factory, transaction
    from api.errors import MuseedError

    try:
        with transaction(session_factory(get_settings().sqlalchemy_url)) as session:
            return work(b2b_service_for(session))
    except MuseedError as exc:
        console.print(f"[red]error:[/red] {exc.detail}")
        raise typer.Exit(1) from exc


def _print_key(created: ApiKeyCreated) -> None:
    console.print(
        f"key {created.prefix} for organisation {created.org_id} (plan {created.plan}, scopes {created.scopes})"
    )
    console.print("the key, shown this once (only its hash is stored):")
    typer.echo(created.key)


@orgs_app.command("create")
def org_create(name: str = typer.Argument(..., help="the organisation's unique name")) -> None:
    """Create an organisation."""
    org_id = _run(lambda b2b: b2b.create_org(name).id)
    console.print(f"organisation {name!r}: {org_id}")


@orgs_app.command("add-member")
def org_add_member(
    org: str = typer.Argument(..., help="organisation name or id"),
    email: str = typer.Argument(..., help="the listener account's email"),
    role: str = typer.Option("member", help="admin (manages the organisation's keys) or member"),
) -> None:
    """Add a listener account to an organisation (or change its role)."""
    _run(lambda b2b: b2b.add_member(org, email, role).role)
    console.print(f"{email} is {role} of {org}")


@orgs_app.command("list")
def org_list() -> None:
    """Every organisation."""
    for org_id, name in _run(lambda b2b: [(o.id, o.name) for o in b2b.repo.orgs()]):
        console.print(f"{org_id}  {name}")


@keys_app.command("create")
def key_create(
    org: str = typer.Argument(..., help="organisation name or id"),
    plan: str = typer.Option("free", help=f"one of {sorted(PLANS)}"),
    scope: list[str] = typer.Option(["recommend"], "--scope", help=f"repeatable; of {SCOPES}"),
    name: str = typer.Option("", help="a label for the key"),
) -> None:
    """Create a key; its secret is printed once."""
    _print_key(_run(lambda b2b: b2b.create_key(org, plan, scope, name)))


@keys_app.command("list")
def key_list(org: str | None = typer.Argument(None, help="organisation name or id (default: all)")) -> None:
    """Keys by prefix, state, plan, scopes, organisation, creation time and name; never secrets."""
    keys: list[ApiKeyOut] = _run(lambda b2b: b2b.list_keys(org))
    for k in keys:  # one line per key (tab-separated: scripts read it)
        state = "rotated" if k.rotated_at else "revoked" if k.revoked_at else "active"
        typer.echo("\t".join([k.prefix, state, k.plan, ",".join(k.scopes), k.org_id, k.created_at.isoformat(), k.name]))


@keys_app.command("rotate")
def key_rotate(prefix: str = typer.Argument(..., help="the key's public prefix, msk_...")) -> None:
    """Replace a key (same organisation, plan, scopes); the old one is refused at once."""
    _print_key(_run(lambda b2b: b2b.rotate_key(prefix)))


@keys_app.command("revoke")
def key_revoke(prefix: str = typer.Argument(..., help="the key's public prefix, msk_...")) -> None:
    """Revoke a key: every API process refuses it from the next request."""
    out = _run(lambda b2b: b2b.revoke_key(prefix))
    console.print(f"revoked {out.prefix} at {out.revoked_at}")
