"""`flero-ledger`: the command line over the security ledger.

A thin layer: each command parses its options, calls one function in `commands/` (to change
something) or reads a projection (to show something), and prints JSON or a table. Refusals from
the ledger exit 1; bad input exits 2 and records nothing.
"""

from __future__ import annotations

import functools
import json
import os
import sqlite3
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TextIO, TypeVar, cast

import click

if TYPE_CHECKING:
    from datetime import datetime

    from commands.inputs import CommandInput
    from commands.services import Services
    from ledger.sign_in import NewSession
    from ledger.store import LedgerStore
    from projections.compliance import ComplianceReport

F = TypeVar("F", bound=Callable[..., Any])

EXIT_REFUSED = 1
EXIT_BAD_INPUT = 2
READS_ONLY = "flero_reads_only"


def reads_only(command: F) -> F:
    """Mark a command that only reads the ledger, or acts only on what it already holds (a
    session check, a checkpoint); put it just above the function. It never creates a store:
    where there is none it is refused with `store_not_found`, naming the path, so a mistyped
    address is never answered as an empty ledger. Every other command creates an SQLite store
    on first use."""
    setattr(command, READS_ONLY, True)
    return command


class Runtime:
    """Per-invocation state: where the store is, which clock, whether output is JSON."""

    def __init__(self, db: str | None = None, now: str | None = None) -> None:
        self.db = db
        self.now = now
        self.read_db: str | None = None
        self.after: int | None = None
        self.json = False
        self._services: Services | None = None

    def location(self) -> Any:
        from ledger.store_location import DB_ENV, StoreLocation, default_sqlite_path

        if self.db is None and os.environ.get(DB_ENV) == "":  # click takes it for unset
            message = "set but empty: give a store address, or unset it for the default store"
            raise click.BadParameter(f"{message} ({default_sqlite_path()})", param_hint=DB_ENV)
        try:
            return StoreLocation.parse(self.db)
        except ValueError as error:
            raise click.BadParameter(str(error), param_hint="--db") from None

    def replica_location(self) -> Any:
        from ledger.store_location import StoreLocation

        assert self.read_db is not None
        try:
            location = StoreLocation.parse(self.read_db)
        except ValueError as error:
            raise click.BadParameter(str(error), param_hint="--read-db") from None
        if location.kind != "postgresql" or self.location().kind != "postgresql":
            message = "a replica is a PostgreSQL standby of a PostgreSQL store"
            raise click.BadParameter(message, param_hint="--read-db")
        return location

    @staticmethod
    def command_reads_only() -> bool:
        """Whether the command running was marked `@reads_only`."""
        ctx = click.get_current_context(silent=True)
        command = ctx.command.callback if ctx is not None else None
        return bool(getattr(command, READS_ONLY, False))

    def clock(self) -> Any:
        from ledger.clock import FixedClock, SystemClock, parse_instant

        if not self.now:
            return SystemClock()
        try:
            return FixedClock(parse_instant(self.now))
        except ValueError as error:
            raise click.BadParameter(str(error), param_hint="--now") from None

    def services(self) -> Services:
        if self._services is None:
            from commands.services import Services
            from ledger.store import LedgerStore

            clock = self.clock()
            store = LedgerStore(self.location(), create=not self.command_reads_only())
            if self.read_db and self.command_reads_only():  # a command reads what it decides on
                store.read_from_replica(self.replica_location(), self.after)
            self._services = Services(store=store, clock=clock)
        return self._services

    @property
    def store(self) -> LedgerStore:
        return self.services().store

    def close(self) -> None:
        if self._services is not None:
            self._services.store.close()


class LedgerGroup(click.Group):
    """Maps the ledger's refusals to exit 1 and invalid input to exit 2, in text or JSON."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        # Known before any parsing, so that even a usage error answers in JSON.
        options = args[: args.index("--")] if "--" in args else args
        ctx.ensure_object(Runtime).json = "--json" in options
        # Bytes a shell passed that are not UTF-8 arrive as surrogates: read them as U+FFFD.
        args = [as_text(arg) for arg in args]
        try:
            return super().parse_args(ctx, args)
        except click.UsageError as error:
            usage_error(ctx, error)

    def invoke(self, ctx: click.Context) -> Any:
        from eventsourcing.persistence import OperationalError, RecordConflictError
        from pydantic import ValidationError

        from ledger.errors import LedgerError, LoginDenied
        from ledger.keyring import MasterKeyError
        from ledger.signing import SigningKeyError

        try:
            return super().invoke(ctx)
        except LoginDenied as denied:
            if runtime().json:
                error = {"code": denied.reason, "message": denied.message}
                answer = {"outcome": "failed", "reason": denied.reason, "error": error}
                click.echo(json.dumps(answer))
            click.echo(f"Sign-in failed ({denied.reason}): {denied.message}", err=True)
            ctx.exit(EXIT_REFUSED)
        except LedgerError as error:
            remedy = REMEDIES.get(error.code)
            message = f"{error.message}; {remedy}" if remedy else error.message
            fail(ctx, error.code, message, EXIT_REFUSED)
        except RecordConflictError:
            message = "the account changed while this command ran; nothing was recorded, retry"
            fail(ctx, "concurrent_change", message, EXIT_REFUSED)
        except (OperationalError, sqlite3.DatabaseError) as error:
            store_unavailable(ctx, error)
        except ValidationError as error:
            from commands.inputs import validation_message  # only now: it loads phonenumbers

            fail(ctx, "invalid_input", validation_message(error), EXIT_BAD_INPUT)
        except click.UsageError as error:  # includes BadParameter
            usage_error(ctx, error)
        except (MasterKeyError, SigningKeyError) as error:
            fail(ctx, "key_unavailable", str(error), EXIT_REFUSED)
        except Exception as error:
            psycopg = sys.modules.get("psycopg")  # only ever loaded for PostgreSQL
            if psycopg is not None and isinstance(error, psycopg.OperationalError):
                store_unavailable(ctx, error)
            raise


# How to put right what the ledger refused, from the command line, where its own words do not
# say (the web shows the same refusals with remedies of its own).
REMEDIES = {
    "unknown_user": "check the address (`flero-ledger user create EMAIL --org SLUG` adds one)",
    "unknown_org": "check the slug (`flero-ledger org create SLUG` creates one)",
    "account_exists": "it is there already: act on it, or create another address",
    "org_exists": "it is there already: act on it, or choose another slug",
    "not_in_org": "add the admin from among the organisation's own members",
    "clock_behind": "give a later --now, or none to record at the current time",
    "unknown_session": "`flero-ledger sessions list EMAIL` shows the active sessions",
    "session_expired": "sign in again for a new session",
    "unknown_api_key": "`flero-ledger api-keys list EMAIL` shows the account's keys",
    "admin_required": "act as an admin of the organisation with --actor ADMIN_EMAIL "
    "(`flero-ledger org admin add SLUG EMAIL` appoints one)",
    "factor_not_enabled": "`flero-ledger mfa status EMAIL` shows which factors are on",
    "factor_already_enabled": "`flero-ledger mfa status EMAIL` shows which factors are on",
    "invalid_mfa_code": "type the code the app or the text shows now",
    "mfa_code_reused": "wait for the app's next code (a new one every 30 seconds)",
    "invalid_recovery_code": "each recovery code works once; try another, or regenerate them "
    "once signed in",
    "not_yet_created": "give a later --as-of",
    "sms_delivery_failed": "check the SMS gateway (FLERO_LEDGER_SMS_GATEWAY) and try again",
}


class FileNotThere(click.BadParameter):
    """A file to read that does not exist: bad input, with the contract's `not_found` code."""

    code = "not_found"


class ReadableFile(click.File):
    """A file to read (`-` is stdin); one that is not there is exit 2 `not_found`."""

    def __init__(self) -> None:
        super().__init__("r", encoding="utf-8")

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, str) and value != "-" and not os.path.lexists(value):
            raise FileNotThere(
                f"{value}: no such file; give the path of one that exists", ctx, param
            )
        return super().convert(value, param, ctx)


def usage_error(ctx: click.Context, error: click.UsageError) -> NoReturn:
    """Misuse: exit 2 `invalid_input` (`not_found` for a missing file), pointing to the
    command's help."""
    code = error.code if isinstance(error, FileNotThere) else "invalid_input"
    message = error.format_message().rstrip(".")
    fail(ctx, code, f"{message}. See `{help_command(error.ctx or ctx)}`", EXIT_BAD_INPUT)


def help_command(ctx: click.Context) -> str:
    """`flero-ledger mfa sms enrol --help`, whatever name the program was started by."""
    names: list[str] = []
    while ctx.parent is not None:
        names.insert(0, ctx.info_name or "")
        ctx = ctx.parent
    return " ".join(["flero-ledger", *names, "--help"])


def as_text(argument: str) -> str:
    """Valid text is unchanged; undecodable bytes (surrogate escapes) become U+FFFD."""
    return argument.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def store_unavailable(ctx: click.Context, error: Exception) -> NoReturn:
    message = f"the store is unavailable: {str(error).strip().splitlines()[0]}"
    fail(ctx, "store_unavailable", message, EXIT_REFUSED)


def fail(ctx: click.Context, code: str, message: str, exit_code: int) -> NoReturn:
    runtime = ctx.find_object(Runtime)
    if runtime is not None and runtime.json:
        click.echo(json.dumps({"error": {"code": code, "message": message}}))
    click.echo(f"Error: {message}", err=True)
    ctx.exit(exit_code)
    raise AssertionError("unreachable")


def runtime() -> Runtime:
    return click.get_current_context().ensure_object(Runtime)


def set_json(ctx: click.Context, _: click.Parameter, value: bool) -> bool:
    """--json before the command or after it: either one asks for JSON. Once the command's
    own options are parsed this replaces the guess `parse_args` made (an option's value may
    be the text "--json")."""
    if ctx.parent is None:
        ctx.meta["flero_ledger.json"] = value
        if value:
            ctx.ensure_object(Runtime).json = True
    else:
        ctx.ensure_object(Runtime).json = ctx.meta.get("flero_ledger.json", False) or value
    return value


def set_global(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    """--db, --now, --read-db or --after given after the command: it counts as if given
    before it."""
    if value is not None and param.name in ("db", "now", "read_db", "after"):
        setattr(ctx.ensure_object(Runtime), param.name, value)


def accept_global_options(group: click.Group) -> None:
    """Let every command take --db, --now and --json after its name too (`flero-ledger info
    --db URL`), parsed by click as that command's own options (hidden from its help: the
    top-level help describes them)."""
    for command in group.commands.values():
        if isinstance(command, click.Group):
            accept_global_options(command)
            continue
        taken = {opt for param in command.params for opt in getattr(param, "opts", ())}
        for name in ("--db", "--now", "--read-db"):
            if name not in taken:
                command.params.append(
                    click.Option([name], expose_value=False, hidden=True, callback=set_global)
                )
        if "--after" not in taken:
            command.params.append(
                click.Option(
                    ["--after"],
                    type=click.IntRange(min=0),
                    expose_value=False,
                    hidden=True,
                    callback=set_global,
                )
            )
        if "--json" not in taken:
            command.params.append(
                click.Option(
                    ["--json"], is_flag=True, expose_value=False, hidden=True, callback=set_json
                )
            )


json_option = click.option(
    "--json",
    "as_json",
    is_flag=True,
    expose_value=True,
    is_eager=True,
    callback=set_json,
    help="Print exactly one JSON document on stdout.",
)


def actor_options(func: F) -> F:
    """--actor, --ip and --user-agent: who acts and from where, recorded on the events."""
    func = click.option("--user-agent", help="User-Agent of the client acting.")(func)
    func = click.option("--ip", help="IP address the action came from.")(func)
    func = click.option(
        "--actor", metavar="EMAIL", help="Account performing the action (default: itself)."
    )(func)
    return func


def build(model: type[CommandInput], **fields: Any) -> Any:
    """Validate a command's input; a ValidationError becomes exit 2 with nothing recorded."""
    return model(**fields)


def emit(data: Any, human: Callable[[], None] | None = None) -> None:
    services = runtime()._services
    if isinstance(data, dict) and runtime().read_db and services and services.position:
        data = {**data, "position": services.position}  # with a replica: for a later --after
    if runtime().json or human is None:
        click.echo(json.dumps(data, ensure_ascii=False))
    else:
        human()


def read_secret_line(what: str) -> str:
    raw = sys.stdin.buffer.readline()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise click.BadParameter(f"the {what} on stdin is not valid UTF-8") from None
    return text.rstrip("\r\n")


def console() -> Any:
    """A terminal's own width (or COLUMNS); 160 columns when piped, so lines stay whole."""
    from rich.console import Console

    sized = sys.stdout.isatty() or os.environ.get("COLUMNS", "").isdigit()
    return Console(file=sys.stdout, width=None if sized else 160)


# ---- the group ---------------------------------------------------------------------------


@click.group(cls=LedgerGroup)
@click.option(
    "--db",
    envvar="FLERO_LEDGER_DB",
    show_envvar=True,
    metavar="URL",
    help="sqlite:////ABSOLUTE/PATH (sqlite:///./RELATIVE) or postgresql://USER@HOST:PORT/DB "
    "(default: an SQLite file in your data directory; `info` prints where). Commands that only "
    "read never create a store; `init` does.",
)
@click.option(
    "--now",
    envvar="FLERO_LEDGER_NOW",
    show_envvar=True,
    metavar="TIMESTAMP",
    help="Evaluate and record as of this UTC instant (ISO 8601). Refused if earlier than "
    "what is already recorded for what the command touches.",
)
@click.option(
    "--read-db",
    envvar="FLERO_LEDGER_READ_DB",
    show_envvar=True,
    metavar="URL",
    help="A streaming replica of the PostgreSQL store (postgresql://...): queries read the "
    "read models there, and the primary when the replica has not reached --after.",
)
@click.option(
    "--after",
    type=click.IntRange(min=0),
    metavar="POSITION",
    help="Read-your-writes with --read-db: the query waits (up to 2 s) for the replica to "
    "reach this log position, the `position` a command answered; else it reads the primary.",
)
@click.option(
    "--json",
    is_flag=True,
    expose_value=False,
    callback=set_json,
    help="Print exactly one JSON document on stdout (every command takes it, before or after "
    "its name).",
)
@click.version_option("0.1.0", prog_name="flero-ledger")
@click.pass_context
def main(
    ctx: click.Context, db: str | None, now: str | None, read_db: str | None, after: int | None
) -> None:
    """The Flero security ledger: every security action on an account, as an immutable event.

    The store is --db URL or FLERO_LEDGER_DB (default: an SQLite file in your data directory;
    `flero-ledger info` prints where). --db, --now and --json may come before the command's
    name or after it. `flero-ledger COMMAND --help` shows each command with an example.

    \b
    Output: tables for people; with --json, exactly one JSON document on stdout,
    and on failure {"error": {"code": "...", "message": "..."}}.

    \b
    Exit codes:
        0  done
        1  refused or denied (wrong code, policy, unknown session, tampered export...);
           one line on stderr says why, and denied sign-ins are recorded
        2  bad input (usage, a malformed e-mail, code or timestamp, a missing file);
           nothing is recorded

    \b
    Example:
        flero-ledger org create acme
        flero-ledger user create ada@acme.test --org acme
        flero-ledger mfa totp enrol ada@acme.test
    """
    state = ctx.ensure_object(Runtime)
    state.db, state.now = db, now
    state.read_db = read_db or state.read_db
    state.after = after if after is not None else state.after
    state.location()  # an empty or ambiguous --db is bad input, whatever the command
    if state.read_db:
        state.replica_location()
    ctx.call_on_close(state.close)


# ---- store -------------------------------------------------------------------------------


@main.command()
@json_option
def init(as_json: bool) -> None:
    """Create the ledger (idempotent): its schema and its keys, and say where they are.

    Any command that records something also creates an SQLite store on first use; commands
    that only read never do. A PostgreSQL database gets the schema only from `init`.

    \b
    Example:
        flero-ledger init --db sqlite:////var/lib/flero/ledger.sqlite3
    """
    from ledger.store import initialise_schema

    initialise_schema(runtime().location())
    store = runtime().store
    store.signing_key  # noqa: B018 (created now, so that `init` can say where it is)
    data = {"ok": True, **store.summary()}

    def human() -> None:
        click.echo("Ledger ready.")
        show_store_summary(data)
        click.echo("Keep both keys, backed up, away from the database: without the master key")
        click.echo("nothing sealed in the ledger can be read again.")

    emit(data, human)


def show_store_summary(data: dict[str, Any]) -> None:
    from ledger.keyring import MASTER_KEY_ENV
    from ledger.signing import SIGNING_KEY_ENV

    keys = data["keys"]
    click.echo(f"Store:       {data['store']} ({data['location']})")
    click.echo(f"Events:      {data['events']}")
    click.echo(f"Master key:  {keys['master_key_file'] or 'from ' + MASTER_KEY_ENV}")
    click.echo(f"Signing key: {keys['signing_key_file'] or 'from ' + SIGNING_KEY_ENV}")
    click.echo(f"Anchor:      {keys['anchor_file']}")


@main.command()
@json_option
@reads_only
def info(as_json: bool) -> None:
    """Where the ledger and its keys are, how many events it holds, and how far each read
    model has read. Never creates a store.

    \b
    Example:
        flero-ledger info --json
    """
    from projections.catalogue import runner_for

    store = runtime().store
    data: dict[str, Any] = {
        **store.summary(),
        "projections": runner_for(store).status(),
        "signing_public_key": store.signing_public_key,
    }

    def human() -> None:
        show_store_summary(data)
        click.echo(f"Public key:  {data['signing_public_key']} (Ed25519; verifies exports)")
        for name, state in data["projections"].items():
            click.echo(f"Projection:  {name} at {state['position']} ({state['behind']} behind)")

    emit(data, human)


# ---- organisations -----------------------------------------------------------------------


@main.group()
def org() -> None:
    """Organisations: MFA policy, SSO and admins.

    \b
    Example:
        flero-ledger org create acme
    """


@org.command("create")
@click.argument("slug")
@actor_options
@json_option
def org_create(slug: str, as_json: bool, **actor: Any) -> None:
    """Create an organisation.

    \b
    Example:
        flero-ledger org create acme
    """
    from commands.organisations import CreateOrganisation, create_organisation

    org_id = create_organisation(
        runtime().services(), build(CreateOrganisation, slug=slug, **actor)
    )
    emit(
        {"ok": True, "org_id": str(org_id), "slug": slug},
        lambda: click.echo(f"Organisation {slug} created"),
    )


@org.command("require-mfa")
@click.argument("slug")
@click.argument("state", type=click.Choice(["on", "off"]))
@click.option(
    "--grace-days",
    type=click.IntRange(0, 365),
    default=7,
    show_default=True,
    help="Days a member without a factor has to enrol one (0: at once). Members who join "
    "later get as many from their first sign-in.",
)
@click.option(
    "--methods",
    type=click.Choice(["any", "totp"]),
    default="any",
    show_default=True,
    help="Which factors count: any, or only the authenticator app (texted codes do not).",
)
@actor_options
@json_option
def org_require_mfa(
    slug: str, state: str, grace_days: int, methods: str, as_json: bool, **actor: Any
) -> None:
    """Require (on) or stop requiring (off) MFA for every member of the organisation.

    A member without a factor may still sign in until their deadline, and is told by when to
    enrol; after it, a password sign-in opens a session that can only enrol a factor and sign
    out. Members who sign in through enforced SSO with the IdP doing MFA are exempt.

    \b
    Example:
        flero-ledger org require-mfa acme on --grace-days 14 --methods totp
    """
    from commands.organisations import RequireMfa, require_mfa

    required = state == "on"
    terms = {"grace_days": grace_days, "methods": methods} if required else {}
    require_mfa(
        runtime().services(), build(RequireMfa, slug=slug, required=required, **terms, **actor)
    )
    emit(
        {"ok": True, "slug": slug, "requires_mfa": required, **terms},
        lambda: click.echo(
            f"{slug} {describe_requirement(methods, grace_days)}"
            if required
            else f"{slug} no longer requires MFA"
        ),
    )


@org.command("compliance")
@click.argument("slug")
@click.option(
    "--as-of",
    "as_of",
    metavar="TIMESTAMP",
    help="The UTC instant (ISO 8601) to report at, rebuilt from the ledger (default: now).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv"]),
    help="Write the members to a file instead (with --out).",
)
@click.option("--out", type=click.Path(dir_okay=False), help="File to write (with --format).")
@json_option
@reads_only
def org_compliance(
    slug: str, as_of: str | None, fmt: str | None, out: str | None, as_json: bool
) -> None:
    """Who meets the organisation's MFA requirement: every member with their factors, last
    sign-in, deadline and status (compliant, grace, overdue, exempt; not_required when the
    organisation requires nothing). At any past instant with --as-of.

    \b
    Examples:
        flero-ledger org compliance acme
        flero-ledger org compliance acme --as-of 2026-10-01T00:00:00Z --json
        flero-ledger org compliance acme --format csv --out acme-mfa.csv
    """
    from commands.inputs import parse_slug
    from ledger.clock import parse_instant
    from projections.compliance import compliance_report, write_csv

    if (fmt is None) != (out is None):
        raise click.UsageError("--format and --out go together")
    name = parse_slug(slug)
    try:
        at = parse_instant(as_of) if as_of else runtime().services().now()
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--as-of") from None
    if out is not None:
        check_new_file(Path(out))
    report = compliance_report(runtime().store, name, at)
    if out is not None:
        written = write_csv(report, Path(out))
        emit(
            {"ok": True, "path": out, "members": written, "as_of": report.as_of},
            lambda: click.echo(f"Wrote {written} members to {out}"),
        )
        return
    emit(report.members, lambda: render_compliance(report))


def describe_requirement(methods: str, grace_days: int) -> str:
    counted = "the authenticator app" if methods == "totp" else "any factor"
    return f"requires MFA ({counted}, {grace_days} days' grace)"


def render_compliance(report: ComplianceReport) -> None:
    from projections.wording import when

    required = report.requirement
    policy = (
        describe_requirement(required.methods, required.grace.days)
        if required is not None
        else "does not require MFA"
    )
    rows = [
        [
            m["email"],
            ", ".join(m["factors"]) or "none",
            m["recovery_codes_remaining"],
            when(m["last_sign_in"]),
            when(m["deadline"]),
            m["status"] + (" (SMS only)" if m["sms_only"] else ""),
        ]
        for m in report.members
    ]
    render_table(
        f"MFA compliance — {report.org} as of {when(report.as_of)} UTC",
        ["Member", "Factors", "Recovery codes", "Last sign-in (UTC)", "Deadline (UTC)", "Status"],
        rows,
        f"{report.org} {policy}",
    )


@org.command("sso")
@click.argument("slug")
@click.option("--idp", required=True, help="Identity provider name (okta, azure-ad, google...).")
@click.option(
    "--mfa",
    "mfa_mode",
    type=click.Choice(["idp", "flero", "both"]),
    required=True,
    help="idp: the IdP's MFA is enough; flero: a Flero factor is required; both: both.",
)
@click.option("--issuer", required=True, help="The OpenID provider's issuer URL (https://...).")
@click.option("--client-id", required=True, help="This ledger's client id at the provider.")
@click.option(
    "--client-secret-stdin", is_flag=True, help="Read the client secret from stdin (sealed)."
)
@click.option(
    "--jwks-file",
    type=ReadableFile(),
    help="Pin the provider's public keys (a JWKS file; - reads it from stdin) instead of "
    "fetching them.",
)
@click.option(
    "--domain",
    "domains",
    multiple=True,
    metavar="DOMAIN",
    help="An e-mail domain whose people 'Sign in with SSO' sends here (repeatable; one "
    "organisation per domain).",
)
@click.option("--enforce/--no-enforce", default=False, help="Refuse password logins.")
@actor_options
@json_option
def org_sso(
    slug: str,
    idp: str,
    mfa_mode: str,
    client_secret_stdin: bool,
    jwks_file: TextIO | None,
    enforce: bool,
    as_json: bool,
    **given: Any,
) -> None:
    """Sign the organisation's members in through its OpenID Connect provider.

    The provider's discovery document and keys are fetched from the issuer and cached;
    --jwks-file pins the keys for a provider this machine cannot reach.

    \b
    Example:
        echo "$CLIENT_SECRET" | flero-ledger org sso acme --idp okta \\
            --issuer https://acme.okta.com --client-id 0oa1b2c3 --client-secret-stdin \\
            --mfa idp --enforce
    """
    from commands.organisations import ConfigureSso, configure_sso

    secret = read_secret_line("client secret") if client_secret_stdin else None
    cmd = build(
        ConfigureSso,
        slug=slug,
        idp=idp,
        mfa_mode=mfa_mode,
        enforced=enforce,
        client_secret=secret,
        pinned_keys=jwks_file.read(1024 * 1024) if jwks_file else None,
        **given,
    )
    from projections.wording import SSO_MFA_MODES

    configure_sso(runtime().services(), cmd)
    shown = {"idp": idp, "mfa": mfa_mode, "enforced": enforce, "issuer": cmd.issuer}
    shown |= {"domains": sorted(set(cmd.domains))}
    emit(
        {"ok": True, "slug": slug, **shown, "client_id": cmd.client_id},
        lambda: click.echo(
            f"{slug} signs in through {idp} ({cmd.issuer}): {SSO_MFA_MODES[mfa_mode]}; "
            + ("password sign-ins refused" if enforce else "passwords still allowed")
        ),
    )


@org.group("admin")
def org_admin() -> None:
    """Organisation admins.

    \b
    Example:
        flero-ledger org admin add acme it@acme.test
    """


@org_admin.command("add")
@click.argument("slug")
@click.argument("email")
@actor_options
@json_option
def org_admin_add(slug: str, email: str, as_json: bool, **actor: Any) -> None:
    """Make a member of the organisation one of its admins.

    \b
    Example:
        flero-ledger org admin add acme it@acme.test
    """
    from commands.organisations import AddAdmin, add_admin

    add_admin(runtime().services(), build(AddAdmin, slug=slug, email=email, **actor))
    emit(
        {"ok": True, "slug": slug, "admin": email.strip().lower()},
        lambda: click.echo(f"{email} is now an admin of {slug}"),
    )


# ---- users and workspaces ----------------------------------------------------------------


@main.group()
def user() -> None:
    """User accounts: creation, password, notification settings.

    \b
    Example:
        flero-ledger user create ada@acme.test --org acme
    """


@user.command("create")
@click.argument("email")
@click.option("--org", "org_slug", required=True, help="Organisation the user belongs to.")
@click.option("--password-stdin", is_flag=True, help="Read an initial password from stdin.")
@actor_options
@json_option
def user_create(
    email: str, org_slug: str, password_stdin: bool, as_json: bool, **actor: Any
) -> None:
    """Create a user account in an organisation.

    \b
    Example:
        echo "$PASSWORD" | flero-ledger user create ada@acme.test --org acme --password-stdin
    """
    from commands.users import CreateUser, create_user

    password = read_secret_line("password") if password_stdin else None
    cmd = build(CreateUser, email=email, org=org_slug, password=password, **actor)
    account_id = create_user(runtime().services(), cmd)
    emit(
        {"ok": True, "account_id": str(account_id), "email": cmd.email},
        lambda: click.echo(f"User {cmd.email} created in {org_slug}"),
    )


@user.command("set-password")
@click.argument("email")
@click.option("--password-stdin", is_flag=True, required=True, help="Read the password from stdin.")
@click.option(
    "--revoke-other-sessions",
    is_flag=True,
    help="Also end every session (but the one given with --keep) in the same command.",
)
@click.option("--keep", metavar="SESSION_ID", help="With --revoke-other-sessions: keep this one.")
@actor_options
@json_option
def user_set_password(
    email: str,
    password_stdin: bool,
    revoke_other_sessions: bool,
    keep: str | None,
    as_json: bool,
    **actor: Any,
) -> None:
    """Change a user's password (refused while the organisation enforces SSO).

    \b
    Example:
        echo "$NEW_PASSWORD" | flero-ledger user set-password ada@acme.test --password-stdin \\
            --revoke-other-sessions --keep 874e202f758e632d
    """
    from commands.users import SetPassword, set_password

    cmd = build(
        SetPassword,
        email=email,
        password=read_secret_line("password"),
        revoke_other_sessions=revoke_other_sessions,
        keep_session=keep,
        **actor,
    )
    set_password(runtime().services(), cmd)
    emit({"ok": True}, lambda: click.echo("Password changed"))


@user.command("sso-disconnect")
@click.argument("email")
@actor_options
@json_option
def user_sso_disconnect(email: str, as_json: bool, **actor: Any) -> None:
    """Disconnect SSO from an account; only an admin of its organisation (--actor) may.

    \b
    Example:
        flero-ledger user sso-disconnect ada@acme.test --actor it@acme.test
    """
    from commands.users import DisconnectSso, disconnect_sso

    disconnect_sso(runtime().services(), build(DisconnectSso, email=email, **actor))
    emit({"ok": True}, lambda: click.echo(f"SSO disconnected from {email}"))


@user.command("alerts")
@click.argument("email")
@click.option(
    "--security",
    type=click.Choice(["on", "off"]),
    required=True,
    help="The 'Security alert' notification category.",
)
@actor_options
@json_option
def user_alerts(email: str, security: str, as_json: bool, **actor: Any) -> None:
    """Turn the Security alert notification category on or off.

    \b
    Example:
        flero-ledger user alerts ada@acme.test --security on
    """
    from commands.users import SetSecurityAlerts, set_security_alerts

    set_security_alerts(
        runtime().services(), build(SetSecurityAlerts, email=email, on=security == "on", **actor)
    )
    emit(
        {"ok": True, "security": security == "on"},
        lambda: click.echo(f"Security alerts: {security}"),
    )


@main.group()
def workspace() -> None:
    """Workspace memberships (recorded in the member's audit log).

    \b
    Example:
        flero-ledger workspace grant ada@acme.test design --role admin
    """


@workspace.command("grant")
@click.argument("email")
@click.argument("workspace_name", metavar="WORKSPACE")
@click.option("--role", required=True, help="Role in the workspace (admin, member, viewer...).")
@actor_options
@json_option
def workspace_grant(
    email: str, workspace_name: str, role: str, as_json: bool, **actor: Any
) -> None:
    """Grant a user a role in a workspace.

    \b
    Example:
        flero-ledger workspace grant ada@acme.test design --role admin
    """
    from commands.workspaces import GrantWorkspace, grant_workspace

    cmd = build(GrantWorkspace, email=email, workspace=workspace_name, role=role, **actor)
    grant_workspace(runtime().services(), cmd)
    emit(
        {"ok": True, "workspace": workspace_name, "role": role},
        lambda: click.echo(f"{email}: {role} in {workspace_name}"),
    )


@workspace.command("revoke")
@click.argument("email")
@click.argument("workspace_name", metavar="WORKSPACE")
@actor_options
@json_option
def workspace_revoke(email: str, workspace_name: str, as_json: bool, **actor: Any) -> None:
    """Remove a user from a workspace.

    \b
    Example:
        flero-ledger workspace revoke ada@acme.test design
    """
    from commands.workspaces import RevokeWorkspace, revoke_workspace

    cmd = build(RevokeWorkspace, email=email, workspace=workspace_name, **actor)
    revoke_workspace(runtime().services(), cmd)
    emit(
        {"ok": True, "workspace": workspace_name},
        lambda: click.echo(f"{email} removed from {workspace_name}"),
    )


# ---- MFA ---------------------------------------------------------------------------------


@main.group()
def mfa() -> None:
    """Two-factor authentication: authenticator app, SMS, recovery codes.

    \b
    Example:
        flero-ledger mfa status ada@acme.test
    """


@mfa.command("status")
@click.argument("email")
@json_option
@reads_only
def mfa_status(email: str, as_json: bool) -> None:
    """Show the account's MFA state, as the Security tab does.

    \b
    Example:
        flero-ledger mfa status ada@acme.test --json
    """
    from commands.inputs import parse_email
    from projections.queries import account_mfa_status

    address = parse_email(email)
    status = account_mfa_status(runtime().store, address)
    emit(status, lambda: render_mfa_status(address, status))


def render_mfa_status(email: str, status: dict[str, Any], *, actions: bool = True) -> None:
    """The Security tab's MFA panel; `actions=False` for a past state, which offers none."""
    from rich.markup import escape
    from rich.panel import Panel
    from rich.table import Table

    from projections.wording import when

    def offer(button: str) -> str:
        return f"  {escape(button)}" if actions else ""

    table = Table.grid(padding=(0, 2))
    totp, sms, codes = status["totp"], status["sms"], status["recovery_codes"]
    table.add_row(
        "[bold]Authenticator app (TOTP)[/] [green]recommended[/]",
        f"[green]enabled[/] since {when(totp['enrolled_at'])} UTC{offer('[Disable]')}"
        if totp["enabled"]
        else f"not enabled{offer('[Enable authenticator app]')}",
    )
    table.add_row(
        "[bold]SMS[/] [yellow]less secure: vulnerable to SIM swap, use as a backup[/]",
        f"[green]enabled[/] {escape(str(sms['phone']))}{offer('[Disable]')}"
        if sms["enabled"]
        else f"not enabled{offer('[Enable SMS 2FA]')}",
    )
    table.add_row(
        "[bold]Recovery codes[/]",
        f"{codes['remaining']} remaining (generated {when(codes['generated_at'])} UTC)"
        if codes["generated_at"]
        else "none: they come with your first factor",
    )
    if status["org_requires_mfa"]:
        table.add_row("[bold]Organisation policy[/]", "MFA required: the last factor stays on")
    console().print(Panel(table, title=f"Two-factor authentication — {email}", expand=False))


@mfa.group("totp")
def mfa_totp() -> None:
    """Authenticator app (TOTP), recommended.

    \b
    Example:
        flero-ledger mfa totp enrol ada@acme.test
    """


@mfa_totp.command("enrol")
@click.argument("email")
@actor_options
@json_option
def mfa_totp_enrol(email: str, as_json: bool, **actor: Any) -> None:
    """Start enrolling an authenticator app: shows the secret once, with a QR code to scan.

    \b
    Example:
        flero-ledger mfa totp enrol ada@acme.test
    """
    from commands.totp import EnrolTotp, enrol_totp

    enrolment = enrol_totp(runtime().services(), build(EnrolTotp, email=email, **actor))
    data = {"secret": enrolment.secret, "otpauth_uri": enrolment.otpauth_uri}

    def human() -> None:
        import segno

        click.echo("Scan this QR code with 1Password, Authy, Google Authenticator or any TOTP app:")
        segno.make(enrolment.otpauth_uri, error="m").terminal(out=sys.stdout, compact=True)
        click.echo(f"Or enter this secret by hand: {enrolment.secret}")
        click.echo(f"Then confirm: flero-ledger mfa totp confirm {email} CODE")

    emit(data, human)


@mfa_totp.command("confirm")
@click.argument("email")
@click.argument("code")
@actor_options
@json_option
def mfa_totp_confirm(email: str, code: str, as_json: bool, **actor: Any) -> None:
    """Enable the authenticator app with the 6-digit code it shows now.

    \b
    Example:
        flero-ledger mfa totp confirm ada@acme.test 123456
    """
    from commands.totp import ConfirmTotp, confirm_totp

    codes = confirm_totp(runtime().services(), build(ConfirmTotp, email=email, code=code, **actor))
    emit(
        {"ok": True, "enabled": True, "recovery_codes": codes},
        lambda: show_enabled("Authenticator app", codes),
    )


@mfa_totp.command("verify")
@click.argument("email")
@click.argument("code")
@actor_options
@json_option
def mfa_totp_verify(email: str, code: str, as_json: bool, **actor: Any) -> None:
    """Check a code from the authenticator app (each code is accepted once).

    \b
    Example:
        flero-ledger mfa totp verify ada@acme.test 123456
    """
    from commands.totp import VerifyTotp, verify_totp

    verify_totp(runtime().services(), build(VerifyTotp, email=email, code=code, **actor))
    emit({"ok": True, "verified": True}, lambda: click.echo("Code accepted"))


def show_enabled(factor: str, codes: list[str]) -> None:
    click.echo(f"{factor}: enabled")
    if codes:
        click.echo("Your recovery codes (each works once; store them somewhere safe, not on the")
        click.echo("device with your authenticator app):")
        for recovery_code in codes:
            click.echo(f"  {recovery_code}")


@mfa.group("sms")
def mfa_sms() -> None:
    """SMS codes: less secure than an authenticator app, use as a backup.

    \b
    Example:
        flero-ledger mfa sms enrol ada@acme.test --phone +14155550123
    """


@mfa_sms.command("enrol")
@click.argument("email")
@click.option("--phone", required=True, metavar="E164", help="Phone number, e.g. +14155550123.")
@actor_options
@json_option
def mfa_sms_enrol(email: str, phone: str, as_json: bool, **actor: Any) -> None:
    """Add a phone number: a confirmation code is texted to it.

    \b
    Example:
        flero-ledger mfa sms enrol ada@acme.test --phone +14155550123
    """
    from commands.sms import EnrolSms, enrol_sms

    cmd = build(EnrolSms, email=email, phone=phone, **actor)
    enrol_sms(runtime().services(), cmd)
    emit(
        {"ok": True, "sent": True},
        lambda: click.echo(f"Code texted. Confirm: flero-ledger mfa sms confirm {email} CODE"),
    )


@mfa_sms.command("confirm")
@click.argument("email")
@click.argument("code")
@actor_options
@json_option
def mfa_sms_confirm(email: str, code: str, as_json: bool, **actor: Any) -> None:
    """Set the number as the SMS factor with the code that was texted.

    \b
    Example:
        flero-ledger mfa sms confirm ada@acme.test 123456
    """
    from commands.sms import ConfirmSms, confirm_sms

    codes = confirm_sms(runtime().services(), build(ConfirmSms, email=email, code=code, **actor))
    emit({"ok": True, "enabled": True, "recovery_codes": codes}, lambda: show_enabled("SMS", codes))


@mfa_sms.command("send-code")
@click.argument("email")
@actor_options
@json_option
def mfa_sms_send_code(email: str, as_json: bool, **actor: Any) -> None:
    """Text a sign-in code (valid 10 minutes, single use) to the enabled number.

    \b
    Example:
        flero-ledger mfa sms send-code ada@acme.test
    """
    from commands.sms import SendSmsCode, send_sms_login_code

    send_sms_login_code(runtime().services(), build(SendSmsCode, email=email, **actor))
    emit({"ok": True, "sent": True}, lambda: click.echo("Sign-in code texted"))


@mfa_sms.command("verify")
@click.argument("email")
@click.argument("code")
@actor_options
@json_option
def mfa_sms_verify(email: str, code: str, as_json: bool, **actor: Any) -> None:
    """Check a texted sign-in code (each works once, for 10 minutes).

    \b
    Example:
        flero-ledger mfa sms verify ada@acme.test 123456
    """
    from commands.sms import VerifySmsCode, verify_sms_code

    verify_sms_code(runtime().services(), build(VerifySmsCode, email=email, code=code, **actor))
    emit({"ok": True, "verified": True}, lambda: click.echo("Code accepted"))


@mfa.command("disable")
@click.argument("email")
@click.argument("factor", type=click.Choice(["totp", "sms"]))
@actor_options
@json_option
def mfa_disable(email: str, factor: str, as_json: bool, **actor: Any) -> None:
    """Disable a factor (refused for the last one when the organisation requires MFA).

    \b
    Example:
        flero-ledger mfa disable ada@acme.test sms
    """
    from commands.factors import DisableFactor, disable_factor

    disable_factor(runtime().services(), build(DisableFactor, email=email, factor=factor, **actor))
    emit({"ok": True, "factor": factor, "enabled": False}, lambda: click.echo(f"{factor} disabled"))


@mfa.group("recovery-codes")
def mfa_recovery_codes() -> None:
    """Single-use codes that sign you in without your second factor.

    \b
    Example:
        flero-ledger mfa recovery-codes regenerate ada@acme.test
    """


@mfa_recovery_codes.command("regenerate")
@click.argument("email")
@actor_options
@json_option
def mfa_recovery_codes_regenerate(email: str, as_json: bool, **actor: Any) -> None:
    """Generate a fresh set of ten; every earlier code stops working.

    \b
    Example:
        flero-ledger mfa recovery-codes regenerate ada@acme.test --json
    """
    from commands.recovery_codes import RegenerateRecoveryCodes, regenerate_recovery_codes

    cmd = build(RegenerateRecoveryCodes, email=email, **actor)
    codes = regenerate_recovery_codes(runtime().services(), cmd)
    emit({"ok": True, "recovery_codes": codes}, lambda: show_enabled("Recovery codes", codes))


@mfa_recovery_codes.command("use")
@click.argument("email")
@click.argument("code")
@actor_options
@json_option
def mfa_recovery_codes_use(email: str, code: str, as_json: bool, **actor: Any) -> None:
    """Spend one recovery code (it never works again).

    \b
    Example:
        flero-ledger mfa recovery-codes use ada@acme.test abcd-efgh-jkmn
    """
    from commands.recovery_codes import UseRecoveryCode, use_recovery_code

    remaining = use_recovery_code(
        runtime().services(), build(UseRecoveryCode, email=email, code=code, **actor)
    )
    emit(
        {"ok": True, "remaining": remaining},
        lambda: click.echo(f"Recovery code accepted; {remaining} left"),
    )


# ---- SMS outbox --------------------------------------------------------------------------


@main.group()
def sms() -> None:
    """The development SMS gateway.

    \b
    Example:
        flero-ledger sms outbox --to +14155550123
    """


@sms.command("outbox")
@click.option("--to", "recipient", metavar="E164", help="Only messages to this number.")
@json_option
@reads_only
def sms_outbox(recipient: str | None, as_json: bool) -> None:
    """Texts handed to the `outbox` gateway, newest first.

    \b
    Example:
        flero-ledger sms outbox --to +14155550123 --json
    """
    from commands.inputs import parse_phone
    from ledger.sms_gateway import OutboxGateway

    number = parse_phone(recipient) if recipient else None
    from projections.wording import when

    messages = OutboxGateway(runtime().store.database).messages(number)

    def human() -> None:
        for message in messages:
            click.echo(f"{when(message['sent_at'])} UTC  {message['to']}  {message['body']}")

    emit(messages, human)


# ---- signing in and sessions -------------------------------------------------------------


@main.command()
@click.argument("email")
@click.option(
    "--method",
    type=click.Choice(["password", "sso", "api-key"]),
    required=True,
    help="How the user signs in.",
)
@click.option("--ip", required=True, help="IP address the attempt comes from.")
@click.option("--user-agent", required=True, help="User-Agent of the client.")
@click.option("--password-stdin", is_flag=True, help="Read the password from stdin.")
@click.option("--api-key-stdin", is_flag=True, help="Read the API key from stdin.")
@click.option(
    "--id-token-stdin", is_flag=True, help="SSO: read the IdP's ID token from stdin (verified)."
)
@click.option("--nonce", help="SSO: the nonce the sign-in flow sent; the token must carry it.")
@click.option("--totp", metavar="CODE", help="Code from the authenticator app.")
@click.option("--sms", metavar="CODE", help="Code texted by `mfa sms send-code`.")
@click.option("--recovery-code", metavar="CODE", help="One of the account's recovery codes.")
@json_option
def login(
    email: str,
    method: str,
    password_stdin: bool,
    api_key_stdin: bool,
    id_token_stdin: bool,
    as_json: bool,
    **given: Any,
) -> None:
    """Sign in. Every attempt is recorded; a success opens a session whose token is shown once.

    An SSO sign-in needs the ID token the organisation's OpenID provider issued (after a
    backend ran the browser flow): it is verified here, and whether the IdP did MFA is read
    from its amr/acr claims.

    \b
    Example:
        echo "$PASSWORD" | flero-ledger login ada@acme.test --method password \\
            --ip 203.0.113.9 --user-agent "Mozilla/5.0 ..." --password-stdin --totp 123456
    """
    from commands.login import Login, log_in, signed_in

    secrets = {}
    if password_stdin:
        secrets["password"] = read_secret_line("password")
    if api_key_stdin:
        secrets["api_key"] = read_secret_line("API key")
    if id_token_stdin:
        secrets["id_token"] = read_secret_line("ID token")
    cmd = build(Login, email=email, method=method.replace("-", "_"), **secrets, **given)
    session = log_in(runtime().services(), cmd)
    emit(signed_in(session), lambda: click.echo(describe_sign_in(session)))


def describe_sign_in(session: NewSession) -> str:
    from ledger.clock import format_instant
    from projections.wording import when

    lines = [
        f"Signed in (second factor: {session.factor or 'none'}); session {session.session_id}",
        f"Session token (shown once): {session.token}",
    ]
    if session.restricted:
        lines.append(
            "Your organisation requires MFA and your time to enrol is over: this session can "
            "only enrol a factor (mfa totp enrol / mfa sms enrol) and sign out."
        )
    elif session.mfa_enrolment_due:
        due = f"{when(format_instant(session.mfa_enrolment_due))} UTC"
        lines.append(f"Your organisation requires MFA: enrol a factor by {due}.")
    return "\n".join(lines)


@main.group()
def sessions() -> None:
    """Active sessions: list them, check a token, sign one or all others out.

    \b
    Example:
        flero-ledger sessions list ada@acme.test
    """


class SessionCursor(click.ParamType[str]):
    """Where a page of `sessions list` starts: a row's `cursor`, checked before it is used."""

    name = "CURSOR"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        from projections.sessions import BadCursor, read_cursor

        try:
            read_cursor(str(value))
        except BadCursor as bad:
            self.fail(str(bad), param, ctx)
        return str(value)


@sessions.command("list")
@click.argument("email")
@click.option(
    "--limit",
    type=click.IntRange(1, 1000),
    default=50,
    show_default=True,
    help="How many sessions to show.",
)
@click.option(
    "--cursor",
    type=SessionCursor(),
    help="Show the sessions after this one: the `cursor` of the last row shown.",
)
@json_option
@reads_only
def sessions_list(email: str, limit: int, cursor: str | None, as_json: bool) -> None:
    """Every active session, most recent activity first, a page at a time.

    \b
    Example:
        flero-ledger sessions list ada@acme.test --limit 20
    """
    from commands.inputs import parse_email
    from projections.queries import account_sessions

    address = parse_email(email)
    page = account_sessions(runtime().store, address, runtime().services().now(), limit, cursor)
    emit(page.sessions, lambda: render_sessions(address, page.sessions, page.next_cursor))


def render_sessions(
    email: str, rows: list[dict[str, Any]], more: str | None = None, *, actions: bool = True
) -> None:
    """Active sessions, each id whole; `actions=False` for a past state (nothing to sign out)."""
    from projections.wording import when

    hint = (
        f"Sign out one: flero-ledger sessions revoke {email} SESSION · "
        f"all but one: flero-ledger sessions revoke-others {email} --keep SESSION"
    )
    render_table(
        f"Active sessions — {email}",
        ["Session", "Device / browser", "IP address", "Last activity (UTC)", "Created (UTC)"],
        [
            [
                r["session_id"],
                (f"API key {r['key_id']}: " if r.get("key_id") else "")
                + " on ".join(p for p in (r["browser"], r["os"]) if p not in ("Unknown", None))
                + (f" ({r['device']})" if r["device"] not in ("Unknown", None) else ""),
                f"{r['ip']} ({r['location']})",
                when(r["last_activity"]),
                when(r["created"]),
            ]
            for r in rows
        ],
        hint if actions and rows else "",
        whole=0,
    )
    if more:
        click.echo(f"More: flero-ledger sessions list {email} --cursor {more}")


@sessions.command("check")
@click.option("--token-stdin", is_flag=True, required=True, help="Read the token from stdin.")
@click.option("--ip", help="IP address the request comes from (recorded with the activity).")
@json_option
@reads_only
def sessions_check(token_stdin: bool, ip: str | None, as_json: bool) -> None:
    """Is this session token valid? Records activity; exit 1 if revoked, expired or unknown.

    A session its organisation's MFA requirement restricts is active, and says so
    ("restricted": "mfa_enrolment_required"): it may only enrol a factor and sign out.

    \b
    Example:
        echo "$SESSION_TOKEN" | flero-ledger sessions check --token-stdin --ip 203.0.113.9
    """
    from commands.sessions import CheckSession, check_session

    cmd = build(CheckSession, token=read_secret_line("token"), ip=ip, enrolling=True)
    active = check_session(runtime().services(), cmd)
    restricted = {"restricted": active.restricted} if active.restricted else {}
    emit(
        {"active": True, "session_id": active.session_id, "email": active.email, **restricted},
        lambda: click.echo(
            f"Active session {active.session_id} of {active.email}"
            + (" (restricted: it may only enrol a factor and sign out)" if restricted else "")
        ),
    )


@sessions.command("revoke")
@click.argument("email")
@click.argument("session_id")
@actor_options
@json_option
def sessions_revoke(email: str, session_id: str, as_json: bool, **actor: Any) -> None:
    """Sign one session out; its token never works again.

    \b
    Example:
        flero-ledger sessions revoke ada@acme.test 874e202f758e632d
    """
    from commands.sessions import RevokeSession, revoke_session

    cmd = build(RevokeSession, email=email, session_id=session_id, **actor)
    revoke_session(runtime().services(), cmd)
    emit(
        {"ok": True, "revoked": 1, "session_id": session_id},
        lambda: click.echo(f"Session {session_id} signed out"),
    )


@sessions.command("revoke-others")
@click.argument("email")
@click.option("--keep", required=True, metavar="SESSION_ID", help="The session to keep.")
@actor_options
@json_option
def sessions_revoke_others(email: str, keep: str, as_json: bool, **actor: Any) -> None:
    """The panic button: sign out every session but the one kept.

    \b
    Example:
        flero-ledger sessions revoke-others ada@acme.test --keep 874e202f758e632d
    """
    from commands.sessions import RevokeOtherSessions, revoke_other_sessions
    from projections.queries import sessions_ended

    cmd = build(RevokeOtherSessions, email=email, keep=keep, **actor)
    signed_out = revoke_other_sessions(runtime().services(), cmd)
    revoked = sessions_ended(runtime().store, signed_out.position)
    emit(
        {"ok": True, "revoked": revoked, "kept": keep},
        lambda: click.echo(f"Signed out {revoked} other session(s); kept {keep}"),
    )


@main.command()
@click.argument("email")
@click.option(
    "--days",
    type=click.IntRange(1, 90),
    default=90,
    show_default=True,
    help="How many days back (at most 90).",
)
@json_option
@reads_only
def history(email: str, days: int, as_json: bool) -> None:
    """Sign-in attempts of the last days, newest first.

    \b
    Example:
        flero-ledger history ada@acme.test --days 30
    """
    from commands.inputs import parse_email
    from projections.queries import account_login_history

    address = parse_email(email)
    rows = account_login_history(runtime().store, address, runtime().services().now(), days)
    emit(rows, lambda: render_history(address, rows, days))


def render_history(email: str, rows: list[dict[str, Any]], days: int) -> None:
    from projections.wording import when

    render_table(
        f"Login history (last {days} days) — {email}",
        ["Timestamp (UTC)", "Method", "IP address", "Outcome", "MFA factor"],
        [
            [
                when(r["timestamp"]),
                r["method"] + (f" ({r['idp']})" if r.get("idp") else ""),
                f"{r['ip']} ({r['location']})",
                r["outcome"] + (f" ({r['reason']})" if r["reason"] else ""),
                r["factor"] or "",
            ]
            for r in rows
        ],
    )


@main.command()
@click.argument("email")
@json_option
@reads_only
def alerts(email: str, as_json: bool) -> None:
    """Security alerts raised for the account, newest first.

    \b
    Example:
        flero-ledger alerts ada@acme.test
    """
    from commands.inputs import parse_email
    from projections.queries import account_alerts
    from projections.wording import when

    rows = account_alerts(runtime().store, parse_email(email))

    def human() -> None:
        for row in rows:
            click.echo(f"{when(row['timestamp'])} UTC  [{row['category']}] {row['message']}")

    emit(rows, human)


@main.group("api-keys")
def api_keys() -> None:
    """API keys: create (shown once), list, revoke.

    \b
    Example:
        flero-ledger api-keys create ada@acme.test --name nightly-backups
    """


@api_keys.command("create")
@click.argument("email")
@click.option("--name", required=True, help="What the key is for.")
@actor_options
@json_option
def api_keys_create(email: str, name: str, as_json: bool, **actor: Any) -> None:
    """Create an API key; it is shown once and only its hash is kept.

    \b
    Example:
        flero-ledger api-keys create ada@acme.test --name nightly-backups
    """
    from commands.api_keys import CreateApiKey, create_api_key

    issued = create_api_key(
        runtime().services(), build(CreateApiKey, email=email, name=name, **actor)
    )
    emit(
        {"ok": True, "key_id": issued.public_id, "key": issued.secret},
        lambda: click.echo(f"API key {issued.public_id} (shown once): {issued.secret}"),
    )


@api_keys.command("list")
@click.argument("email")
@json_option
@reads_only
def api_keys_list(email: str, as_json: bool) -> None:
    """The account's API keys: name, created, last used, revoked.

    \b
    Example:
        flero-ledger api-keys list ada@acme.test
    """
    from commands.inputs import parse_email
    from projections.queries import account_api_keys
    from projections.wording import when

    address = parse_email(email)
    rows = account_api_keys(runtime().store, address)
    emit(
        rows,
        lambda: render_table(
            f"API keys — {address}",
            ["Key", "Name", "Created (UTC)", "Last used (UTC)", "Revoked"],
            [
                [
                    r["key_id"],
                    r["name"],
                    when(r["created"]),
                    when(r["last_used"]) or "never",
                    "yes" if r["revoked"] else "no",
                ]
                for r in rows
            ],
            whole=0,
        ),
    )


@api_keys.command("revoke")
@click.argument("email")
@click.argument("key_id")
@actor_options
@json_option
def api_keys_revoke(email: str, key_id: str, as_json: bool, **actor: Any) -> None:
    """Revoke an API key; it never works again.

    \b
    Example:
        flero-ledger api-keys revoke ada@acme.test 3aee0861c556
    """
    from commands.api_keys import RevokeApiKey, revoke_api_key

    revoke_api_key(runtime().services(), build(RevokeApiKey, email=email, key_id=key_id, **actor))
    emit(
        {"ok": True, "key_id": key_id, "revoked": True},
        lambda: click.echo(f"API key {key_id} revoked"),
    )


def render_table(
    title: str, columns: list[str], rows: list[list[Any]], note: str = "", whole: int | None = None
) -> None:
    """A table for people. The column `whole` (an id someone copies into the next command) is
    never cut: on a narrow terminal the other columns wrap, and fold long words, first."""
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=escape(title), caption=note or None)
    cells = [[escape(str(cell)) if cell is not None else "" for cell in row] for row in rows]
    for index, column in enumerate(columns):
        if index == whole:
            longest = max((len(row[index]) for row in cells), default=0)
            table.add_column(column, no_wrap=True, min_width=max(longest, len(column)))
        else:
            table.add_column(column, overflow="fold")
    for row in cells:  # stored text is shown as it is, never read as markup
        table.add_row(*row)
    console().print(table)


# ---- audit -------------------------------------------------------------------------------


@main.command()
@click.argument("email")
@click.option("--from", "since", metavar="DATE", help="First UTC day (or instant) to include.")
@click.option("--to", "until", metavar="DATE", help="Last UTC day (or instant) to include.")
@json_option
@reads_only
def audit(email: str, since: str | None, until: str | None, as_json: bool) -> None:
    """The account's audit log of security-relevant changes, newest first.

    \b
    Example:
        flero-ledger audit ada@acme.test --from 2026-11-14 --to 2026-11-14
    """
    from commands.inputs import parse_email
    from projections.queries import account_audit_log

    address = parse_email(email)
    start, end = time_range(since, until)
    entries = account_audit_log(runtime().store, address, start, end)
    emit(entries, lambda: render_audit_table(address, entries))


def time_range(since: str | None, until: str | None) -> tuple[datetime | None, datetime | None]:
    """--from and --to as [start, end): each a UTC day (or instant); the start first."""
    from ledger.clock import day_bounds

    try:
        start = day_bounds(since)[0] if since else None
        end = day_bounds(until)[1] if until else None
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--from/--to") from None
    if start is not None and end is not None and start >= end:
        raise click.BadParameter(
            f"--from {since} is after --to {until}; give the earlier one as --from",
            param_hint="--from/--to",
        )
    return start, end


# ---- forensics --------------------------------------------------------------------------


@main.command()
@click.argument("email")
@click.option("--on", "day", required=True, metavar="DATE", help="The UTC day, e.g. 2026-11-14.")
@json_option
@reads_only
def timeline(email: str, day: str, as_json: bool) -> None:
    """Every event recorded for the account on one UTC day, oldest first.

    \b
    Example: what happened to my account on the 14th?
        flero-ledger timeline ada@acme.test --on 2026-11-14
    """
    from commands.inputs import parse_email
    from ledger.clock import day_bounds
    from projections.forensics import Forensics

    address = parse_email(email)
    try:
        start, end = day_bounds(day, instants=False)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--on") from None
    events = Forensics(runtime().store).timeline(address, start, end)
    emit(events, lambda: render_timeline(address, start, events))


def render_timeline(email: str, day: datetime, events: list[dict[str, Any]]) -> None:
    from projections.wording import details_text, when

    render_table(
        f"Timeline of {email} on {day:%Y-%m-%d} (UTC)",
        ["Time", "Event", "Actor", "IP", "Details"],
        [
            [when(e["timestamp"])[11:], e["event"], e["actor"], e["ip"], details_text(e["details"])]
            for e in events
        ],
        "" if events else "Nothing was recorded for this account on that day.",
    )


@main.command()
@click.argument("email")
@click.option(
    "--as-of",
    "as_of",
    required=True,
    metavar="TIMESTAMP",
    help="The UTC instant (ISO 8601) to rebuild the account at.",
)
@json_option
@reads_only
def state(email: str, as_of: str, as_json: bool) -> None:
    """The account's security state at an instant, rebuilt from its events.

    \b
    Example:
        flero-ledger state ada@acme.test --as-of 2026-11-14T09:30:00Z
    """
    from commands.inputs import parse_email
    from ledger.clock import parse_instant
    from projections.forensics import Forensics

    address = parse_email(email)
    try:
        instant = parse_instant(as_of)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--as-of") from None
    snapshot = Forensics(runtime().store).state(address, instant)

    def human() -> None:
        from projections.wording import org_policy_text, when

        click.echo(f"{address} as it was at {when(snapshot['as_of'])} UTC")
        render_mfa_status(address, snapshot["mfa"], actions=False)
        render_sessions(address, snapshot["sessions"], actions=False)
        roles = ", ".join(f"{w['workspace']} ({w['role']})" for w in snapshot["workspaces"])
        click.echo(f"Workspaces: {roles or 'none'}")
        org = snapshot["org"]
        click.echo(f"Organisation {org['slug']}: {org_policy_text(org)}")

    emit(snapshot, human)


# ---- tamper evidence --------------------------------------------------------------------


@main.command()
@json_option
@reads_only
def checkpoint(as_json: bool) -> None:
    """Sign a checkpoint over the whole log now (the ledger also takes one every 100 events).

    \b
    Example:
        flero-ledger checkpoint --json
    """
    from ledger.checkpoints import take_checkpoint

    store = runtime().store
    taken = take_checkpoint(
        store.database,
        store.signing_key,
        runtime().services().now(),
        store.checkpoint_anchor,
        up_to=store.head_position(),
    )
    position = taken.notification_id if taken else 0
    emit(
        {
            "ok": True,
            "notification_id": position,
            "log_hash": taken.log_hash.hex() if taken else None,
        },
        lambda: click.echo(f"Checkpoint signed at event {position}"),
    )


class PublicKey(click.ParamType[str]):
    """The ledger's Ed25519 public key in base64. Anything else, even empty (what a
    `--public-key "$(...)"` whose inner command failed passes), is bad input: never a reason to
    trust the key the manifest names instead."""

    name = "BASE64"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        from ledger.signing import parse_public_key

        try:
            return parse_public_key(str(value))
        except ValueError as bad:
            self.fail(str(bad), param, ctx)


@main.command()
@click.argument("path", required=False, type=click.Path(dir_okay=False))
@click.option("--store", "whole_store", is_flag=True, help="Verify the whole ledger instead.")
@click.option(
    "--public-key",
    type=PublicKey(),
    help="The ledger's public key (from `info`) to check the export against.",
)
@json_option
@reads_only
def verify(path: str | None, whole_store: bool, public_key: str | None, as_json: bool) -> None:
    """Check that an export (or, with --store, the ledger) is intact.

    Exit 1 names the first record that was altered, removed, inserted or reordered (with
    --store, also an event whose time index was moved or refiled).

    \b
    Examples:
        flero-ledger verify acme.jsonl --public-key "$LEDGER_PUBLIC_KEY"
        flero-ledger verify --store
    """
    if whole_store == (path is not None):
        raise click.UsageError("give either PATH or --store")
    from ledger.errors import EmptyLedger, Tampered

    if path is not None:
        verify_export_file(path, public_key)
        return
    from rich.progress import Progress

    from ledger.integrity import verify_store

    store = runtime().store
    with Progress(console=console(), disable=runtime().json, transient=True) as progress:
        task = progress.add_task("Verifying the ledger", total=store.event_count())
        report = verify_store(store, functools.partial(progress.advance, task))
    if report.finding is not None:
        raise Tampered(report.finding.describe())
    if report.events == 0:
        raise EmptyLedger(store.location.where)
    emit(
        {"ok": True, "events": report.events, "checkpoints": report.checkpoints},
        lambda: click.echo(f"Intact: {report.events} events, {report.checkpoints} checkpoints"),
    )


def check_new_file(*paths: Path) -> None:
    """Refuse (bad input, naming --out) unless each path can be created: its directory
    exists, and nothing is there yet. Reports and exports never write over a file."""
    try:
        for path in paths:
            if not path.name or not path.resolve().parent.is_dir():
                raise click.BadParameter(f"no directory {path.parent} to write into")
            if path.exists() or path.is_symlink():
                raise click.BadParameter(f"{path} already exists; nothing is written over a file")
    except OSError as error:  # a name too long for the file system, and the like
        message = f"cannot write there: {error.strerror}"
        raise click.BadParameter(message, param_hint="--out") from None
    except click.BadParameter as error:
        raise click.BadParameter(error.message, param_hint="--out") from None


def verify_export_file(path: str, public_key: str | None) -> None:
    """Offline: only the export, its manifest and the public key; no database is opened."""

    from ledger.errors import Tampered
    from projections.export_files import manifest_path, verify_export

    if not os.path.isfile(path):  # never raises, even for a name too long for the file system
        message = f"{path}: no such file; give the path of a file `flero-ledger export` wrote"
        fail(click.get_current_context(), "not_found", message, EXIT_BAD_INPUT)
    problem = verify_export(Path(path), public_key)
    if problem is not None:
        where = f"record {problem.record}: " if problem.record else ""
        raise Tampered(f"{path}: {where}{problem.message}")
    key = public_key or json.loads(manifest_path(Path(path)).read_text())["public_key"]
    trust = (
        "the key given"
        if public_key
        else ("the key the manifest names; pass --public-key (from `info`) to pin the ledger's")
    )
    emit(
        {
            "ok": True,
            "path": path,
            "verified": True,
            "public_key": key,
            "key_pinned": public_key is not None,
        },
        lambda: click.echo(f"{path}: intact, signed by {key} ({trust})"),
    )


@main.command()
@click.option("--user", "email", metavar="EMAIL", help="One account's events.")
@click.option("--org", "slug", metavar="SLUG", help="An organisation's events and its members'.")
@click.option("--all", "everything", is_flag=True, help="Every event in the ledger.")
@click.option("--from", "since", metavar="DATE", help="First UTC day (or instant) to include.")
@click.option("--to", "until", metavar="DATE", help="Last UTC day (or instant) to include.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["jsonl", "csv", "ocsf"]),
    required=True,
    help="One JSON object per line, CSV with a header, or one OCSF 1.7.0 event per line "
    "(Authentication and Account Change only).",
)
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="File to write.")
@json_option
@reads_only
def export(
    email: str | None,
    slug: str | None,
    everything: bool,
    since: str | None,
    until: str | None,
    fmt: str,
    out: str,
    as_json: bool,
) -> None:
    """Write a signed compliance export and PATH.manifest.json, cut at a signed checkpoint.

    \b
    Example:
        flero-ledger export --org acme --from 2026-11-01 --to 2026-11-30 --format jsonl \\
            --out acme-november.jsonl
    """

    from rich.progress import Progress

    from commands.inputs import parse_email
    from projections.export_files import manifest_path
    from projections.exports import Exporter, Format, Scope

    if sum((email is not None, slug is not None, everything)) != 1:
        raise click.UsageError("choose exactly one of --user, --org and --all")
    check_new_file(Path(out))
    check_new_file(manifest_path(Path(out)))
    start, end = time_range(since, until)
    scope = (
        Scope("user", parse_email(email)) if email else Scope("org", slug) if slug else Scope("all")
    )
    store = runtime().store
    with Progress(console=console(), disable=runtime().json, transient=True) as progress:
        task = progress.add_task("Exporting", total=store.event_count())
        result = Exporter(store).export(
            scope,
            start,
            end,
            cast(Format, fmt),
            Path(out),
            functools.partial(progress.advance, task),
        )
    emit(
        {
            "ok": True,
            "path": str(result.path),
            "manifest": str(result.path) + ".manifest.json",
            "records": result.records,
            "checkpoint": result.checkpoint,
        },
        lambda: click.echo(
            f"Wrote {result.records} records to {result.path} "
            f"(+ .manifest.json, cut at event {result.checkpoint})"
        ),
    )


@main.command()
@click.argument("email")
@click.option(
    "--actor", required=True, metavar="ADMIN_EMAIL", help="An admin of the account's organisation."
)
@click.option("--ip", help="IP address the action came from.")
@click.option("--user-agent", help="User-Agent of the client acting.")
@json_option
def erase(email: str, as_json: bool, **actor: Any) -> None:
    """Crypto-shred an account's personal data everywhere in the ledger (it still verifies).

    \b
    Example:
        flero-ledger erase ada@acme.test --actor it@acme.test
    """
    from commands.erasure import EraseAccount, erase_account

    erase_account(runtime().services(), build(EraseAccount, email=email, **actor))
    emit(
        {"ok": True, "erased": email.strip().lower()},
        lambda: click.echo(f"{email}: personal data erased; read models rebuilt"),
    )


# ---- projections -------------------------------------------------------------------------


@main.group()
def projections() -> None:
    """Read models: status, rebuild from zero, run continuously.

    \b
    Example:
        flero-ledger projections status
    """


@projections.command("status")
@json_option
@reads_only
def projections_status(as_json: bool) -> None:
    """How far each read model has read the ledger.

    \b
    Example:
        flero-ledger projections status --json
    """
    from projections.catalogue import runner_for

    report = runner_for(runtime().store).status()

    def human() -> None:
        for name, state in report.items():
            click.echo(f"{name:12} position {state['position']:>8}  behind {state['behind']}")

    emit(report, human)


@projections.command("rebuild")
@click.argument("name", required=False)
@json_option
@reads_only
def projections_rebuild(name: str | None, as_json: bool) -> None:
    """Drop a read model (or all of them) and replay the whole ledger into it.

    \b
    Example:
        flero-ledger projections rebuild audit_log
    """
    from rich.progress import Progress

    from projections.catalogue import runner_for

    store = runtime().store
    runner = runner_for(store)
    try:
        chosen = [runner.by_name(name)] if name else runner.projections
    except KeyError as error:
        raise click.BadParameter(str(error.args[0]), param_hint="NAME") from None
    total = store.event_count()
    with Progress(console=console(), disable=runtime().json, transient=True) as progress:
        task = progress.add_task(f"Rebuilding {len(chosen)} read model(s)", total=total)
        replayed = dict.fromkeys(
            (p.name for p in chosen),
            runner.rebuild(*chosen, progress=functools.partial(progress.advance, task)),
        )

    def human() -> None:
        for rebuilt, count in replayed.items():
            click.echo(f"{rebuilt}: replayed {count} events")

    emit({"ok": True, "rebuilt": replayed}, human)


@projections.command("run")
@click.option("--follow", is_flag=True, help="Keep running, applying new events as they arrive.")
@click.option(
    "--interval",
    default=0.5,
    show_default=True,
    help="With --follow: seconds between polls for new events.",
)
@json_option
@reads_only
def projections_run(follow: bool, interval: float, as_json: bool) -> None:
    """Bring every read model up to date (once, or continuously with --follow).

    \b
    Example:
        flero-ledger projections run --follow
    """
    from projections.catalogue import runner_for
    from projections.follow import follow_ledger

    runner = runner_for(runtime().store)
    if follow:
        click.echo("Following the ledger; Ctrl-C to stop.", err=True)
        follow_ledger(runner, interval, lambda state: click.echo(f"Worker {state}", err=True))
    else:
        runner.catch_up_all()
    emit({"ok": True, "projections": runner.status()}, lambda: click.echo("Read models up to date"))


# ---- the main job ------------------------------------------------------------------------


@main.command()
@json_option
def demo(as_json: bool) -> None:
    """Build a realistic account history and show the account's Security page.

    \b
    Example:
        FLERO_LEDGER_DB=sqlite:////tmp/demo.sqlite3 flero-ledger demo
    """
    from commands.demo import build_demo
    from projections.compliance import compliance_report
    from projections.wording import when

    services = runtime().services()
    story = build_demo(services.store)
    page = story.security_page()
    if runtime().json:
        emit(page)
        return
    click.echo(
        f"Demo ledger in {services.store.location.description}: "
        f"{services.store.event_count()} events\n"
    )
    render_mfa_status(story.email, page["mfa"])
    render_sessions(story.email, page["sessions"])
    render_history(story.email, page["history"], 90)
    for alert in page["alerts"]:
        click.echo(f"Security alert {when(alert['timestamp'])} UTC: {alert['message']}")
    render_audit_table(story.email, page["audit"])
    render_compliance(compliance_report(services.store, story.org, services.now()))


# ---- the Security tab over HTTP ------------------------------------------------------------


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option(
    "--forwarded-allow-ips",
    default="",
    metavar="LIST",
    help="Proxies (IPs or networks, comma-separated) whose X-Forwarded-For names the client. "
    "Default: nobody's; the connecting address is the client.",
)
@click.option(
    "--workers",
    type=click.IntRange(1, 256),
    default=lambda: os.cpu_count() or 1,
    show_default="the number of cores",
    help="Server processes, each answering requests on the same port.",
)
@reads_only
def serve(host: str, port: int, forwarded_allow_ips: str, workers: int) -> None:
    """Serve the Security tab (/security) and its JSON API (/api, described at /docs), with
    /healthz for a load balancer and /metrics for Prometheus.

    \b
    Example, behind a TLS proxy on this machine:
        flero-ledger serve --port 8000 --forwarded-allow-ips 127.0.0.1 --workers 2
    """
    import shutil
    import tempfile

    from web import server
    from web.app import FORWARDED_ALLOW_IPS_ENV
    from web.ledger_access import parse_forwarded_allow_ips
    from web.metrics import MULTIPROCESS_ENV

    try:
        parse_forwarded_allow_ips(forwarded_allow_ips)
    except ValueError as problem:
        raise click.BadParameter(str(problem), param_hint="--forwarded-allow-ips") from None
    location = runtime().location()
    runtime().store  # noqa: B018 (refuse an unusable store before listening)
    click.echo(f"Serving {location.description} on http://{host}:{port}/security", err=True)
    # Each worker builds its own app (web.app.app_from_environment) from what is set here.
    db = runtime().db
    if db is not None:
        os.environ["FLERO_LEDGER_DB"] = db
    os.environ[FORWARDED_ALLOW_IPS_ENV] = forwarded_allow_ips
    # Workers share their counters through files, so that any one of them answers a scrape
    # with all of them; a directory of this run's own, removed afterwards.
    shared = None if os.environ.get(MULTIPROCESS_ENV) else tempfile.mkdtemp(prefix="flero-metrics-")
    if shared is not None:
        os.environ[MULTIPROCESS_ENV] = shared
    try:
        # The app decides whose X-Forwarded-For to believe; uvicorn must not rewrite it first.
        server.run(
            "web.app:app_from_environment",
            workers,
            host=host,
            port=port,
            log_level="info",
            proxy_headers=False,
        )
    finally:
        if shared is not None:
            shutil.rmtree(shared, ignore_errors=True)


@main.command()
@click.option(
    "--out",
    default="settings__security-mfa.png",
    show_default=True,
    type=click.Path(dir_okay=False),
    help="PNG file to write.",
)
@json_option
def screenshot(out: str, as_json: bool) -> None:
    """Render the demo account's Security tab in headless Chromium and save it as a PNG.

    \b
    Example:
        flero-ledger screenshot --out docs/settings__security-mfa.png
    """

    from web.screenshot import take_screenshot

    target = Path(out)
    if not target.resolve().parent.is_dir():
        raise click.BadParameter(f"no directory {target.parent} to write into", param_hint="--out")
    written = take_screenshot(target)
    emit({"ok": True, "path": str(written), "bytes": written.stat().st_size}, lambda: None)
    if not runtime().json:
        click.echo(f"Wrote {written}")


def render_audit_table(email: str, entries: list[dict[str, Any]]) -> None:
    from projections.wording import when

    render_table(
        f"Audit log — {email}",
        ["Timestamp (UTC)", "Action", "Actor", "IP", "Details"],
        [
            [
                when(e["timestamp"]),
                e["action"],
                e["actor"],
                e["ip"],
                audit_details(e["details"]),
            ]
            for e in entries
        ],
    )


def audit_details(details: dict[str, Any]) -> str:
    """`key id: …; 3 sessions ended`: the sessions a change ended counted, not listed."""
    from projections.wording import details_text

    ended = details.get("sessions")
    if not isinstance(ended, list):
        return details_text(details)
    shown = {k: v for k, v in details.items() if k not in ("sessions", "count", "sessions_ended")}
    counted = f"{len(ended)} session{'' if len(ended) == 1 else 's'} ended"
    return "; ".join(part for part in (details_text(shown), counted) if part)


accept_global_options(main)

if __name__ == "__main__":
    sys.exit(main())
