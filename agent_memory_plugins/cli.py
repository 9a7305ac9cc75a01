"""The ``agent-memory`` command line: look into a store, search it, import into it, clean it.

Every command takes ``--path`` (or ``AGENT_MEMORY_PATH``) and ``--user``, before or after the
command; ``--json`` prints machine-readable output. Only ``add``, ``import`` and ``demo`` create a
store: the others refuse a folder that holds none. No command loads the embedding model unless
given ``--wait-model``: ``search`` answers by keywords, ``add`` and ``import`` leave the new
records queued for vector indexing. Errors print one line to stderr and exit with status 2 (bad
input) or 1 (anything else).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import Any

from .errors import AgentMemoryError, InvalidInputError
from .records import MemoryRecord

__all__ = ["main"]


def _out(text: str) -> None:
    sys.stdout.write(text + "\n")


def _record_json(record: MemoryRecord) -> dict[str, Any]:
    return {
        "id": record.id, "text": record.text, "role": record.role, "kind": record.kind,
        "user_id": record.user_id, "session_id": record.session_id, "agent_id": record.agent_id,
        "timestamp": record.timestamp.isoformat(), "created_at": record.created_at.isoformat(),
        "importance": record.importance, "metadata": record.metadata, "covers": list(record.covers),
    }


def _table(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> str:
    cells = [[str(h) for h in headers]] + [[_cell(v) for v in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(value.ljust(width) for value, width in zip(row, widths, strict=True)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def _cell(value: Any) -> str:
    text = f"{value:.3f}" if isinstance(value, float) else str(value)
    text = text.replace("\n", " ")
    return text if len(text) <= 80 else text[:77] + "..."


def _store_path(args: argparse.Namespace) -> str:
    return str(args.path or os.environ.get("AGENT_MEMORY_PATH") or "./agent_memory")


def _open(args: argparse.Namespace, create: bool = False, **options: Any) -> Any:
    """The store of ``--path``; only commands that write (``create``) may start a new one. No
    background worker (it would load the embedding model): ``--wait-model`` indexes explicitly."""
    from .core.memory import MemoryCore
    from .core.storage import DATABASE_FILE

    path = _store_path(args)
    in_postgres = bool(os.environ.get("AGENT_MEMORY_DATABASE_URL"))  # the records are not in the folder
    if not create and not in_postgres and not os.path.isfile(os.path.join(path, DATABASE_FILE)):
        raise InvalidInputError(
            f"no store at {os.path.abspath(path)}: check --path (or AGENT_MEMORY_PATH); "
            "add, import and demo create one"
        )
    return MemoryCore(path, background=False, **options)


def _note(text: str) -> None:
    sys.stderr.write(f"agent-memory: {text}\n")


def _hint_users(memory: Any, args: argparse.Namespace) -> None:
    """When --user was not given and the default user has nothing, say which users exist."""
    if args.user_given or memory.stats(user_id=args.user)["records"]:
        return
    users = memory.users()
    if users:
        _note(f"user {args.user!r} has no records; users in this store: {', '.join(users)} (pass --user)")


def cmd_demo(args: argparse.Namespace) -> None:
    """Run the guided demo."""
    from .demo import run

    run(args.path, say=_out)


def cmd_stats(args: argparse.Namespace) -> None:
    """Print counts."""
    with _open(args) as memory:
        stats = memory.stats(user_id=args.user if args.user_given else None)
    if args.json:
        _out(json.dumps(stats, indent=2))
    else:
        _out(_table([(key, value) for key, value in stats.items()], ("stat", "value")))


def cmd_users(args: argparse.Namespace) -> None:
    """List the users of the store with their records and sessions."""
    with _open(args) as memory:
        rows = [(user, stats["records"], stats["sessions"])
                for user in memory.users() for stats in [memory.stats(user_id=user)]]
    if args.json:
        _out(json.dumps([{"user_id": u, "records": r, "sessions": n} for u, r, n in rows], indent=2))
    else:
        _out(_table(rows, ("user", "records", "sessions")))


def cmd_sessions(args: argparse.Namespace) -> None:
    """List the user's sessions."""
    with _open(args) as memory:
        _hint_users(memory, args)
        rows = [(s, len(memory.messages(s, user_id=args.user))) for s in memory.sessions(user_id=args.user)]
    if args.json:
        _out(json.dumps([{"session_id": s, "messages": n} for s, n in rows], indent=2))
    else:
        _out(_table(rows, ("session", "messages")))


def cmd_show(args: argparse.Namespace) -> None:
    """Show a session: summary, window and message count."""
    with _open(args) as memory:
        _hint_users(memory, args)
        summary = memory.summary_record(args.session, user_id=args.user)
        window = memory.window(args.session, user_id=args.user)
        total = len(memory.messages(args.session, user_id=args.user))
    if total == 0:
        raise InvalidInputError(f"no session {args.session!r} for user {args.user!r}")
    if args.json:
        _out(json.dumps({
            "session_id": args.session, "messages": total,
            "summary": _record_json(summary) if summary else None,
            "window": [_record_json(r) for r in window],
        }, indent=2, ensure_ascii=False))
        return
    _out(f"session {args.session} of {args.user}: {total} messages")
    _out("summary: " + (summary.text if summary else "(none)"))
    _out(_table([(r.timestamp.strftime("%Y-%m-%d %H:%M"), r.role, r.text) for r in window],
                ("when", "role", "text")))


def cmd_search(args: argparse.Namespace) -> None:
    """Search the user's memories."""
    options: dict[str, Any] = {} if args.wait_model else {"dense_weight": 0.0}
    with _open(args, **options) as memory:
        _hint_users(memory, args)
        if args.wait_model:
            memory.flush()  # loads the model and indexes what earlier commands queued
        else:
            _note("keyword search (the embedding model is not loaded; --wait-model adds meaning)")
        hits = memory.search(args.query, user_id=args.user, k=args.k, session_id=args.session,
                             kinds=args.kind or None)
    if args.json:
        _out(json.dumps([{"score": h.score, "explain": h.explain, "record": _record_json(h.record)}
                         for h in hits], indent=2, ensure_ascii=False))
    else:
        _out(_table([(h.score, h.record.kind, h.record.session_id or "", h.record.text) for h in hits],
                    ("score", "kind", "session", "text")))


def cmd_add(args: argparse.Namespace) -> None:
    """Add a message (with --session) or a long-term memory."""
    with _open(args, create=True) as memory:
        if args.session:
            record = memory.add_message(args.session, args.role, args.text, user_id=args.user)
        else:
            record = memory.remember(args.text, user_id=args.user, kind=args.kind)
        if args.wait_model:
            memory.flush()  # index it now (otherwise: on the next open that indexes)
    _out(json.dumps(_record_json(record), ensure_ascii=False) if args.json else record.id)


def cmd_import(args: argparse.Namespace) -> None:
    """Import messages from JSONL or LoCoMo-style JSON."""
    from .importers import import_file

    with _open(args, create=True) as memory:
        count = import_file(memory, args.file, default_user=args.user, progress=not args.json)
        if args.wait_model:
            memory.flush()
    _out(json.dumps({"imported": count}) if args.json else f"imported {count} messages")


def cmd_export(args: argparse.Namespace) -> None:
    """Export every record of the user as JSONL."""
    with _open(args) as memory:
        _hint_users(memory, args)
        for record in memory.export(user_id=args.user):
            _out(json.dumps(_record_json(record), ensure_ascii=False))


def cmd_forget(args: argparse.Namespace) -> None:
    """Forget a record, a session or the whole user."""
    if not (args.id or args.session or args.all):
        raise InvalidInputError("forget needs --id ID, --session SESSION or --all")
    with _open(args) as memory:
        if args.id:
            removed = memory.forget(memory_id=args.id, user_id=args.user)
        elif args.session:
            removed = memory.forget(session_id=args.session, user_id=args.user)
        else:
            removed = memory.forget(user_id=args.user)
        users = memory.users()
    if args.json:
        _out(json.dumps({"removed": removed, "users": users}))
        return
    _out(f"removed {removed} records")
    if args.all and not removed:
        _out(f"user {args.user!r} has no records; users in this store: {', '.join(users) or '(none)'}")


def cmd_cleanup(args: argparse.Namespace) -> None:
    """Report (or with --apply remove) expired records and old or unimportant ones."""
    with _open(args) as memory:
        report = memory.cleanup(
            user_id=args.user if args.user_given else None, older_than=args.older_than,
            min_importance=args.min_importance, kinds=args.kind, dry_run=not args.apply,
        )
    if args.json:
        _out(json.dumps({"dry_run": report.dry_run, "removed" if args.apply else "would_remove": report.count,
                         "by_kind": report.by_kind, "expired": report.expired, "ids": report.ids}))
    else:
        verb = "removed" if args.apply else "would remove"
        kinds = ", ".join(f"{n} {kind}" for kind, n in sorted(report.by_kind.items())) or "nothing"
        _out(f"{verb} {report.count} records ({kinds}; {report.expired} expired)")
        if not args.apply and report.count:
            _out("run again with --apply to remove them")


def cmd_reindex(args: argparse.Namespace) -> None:
    """Rebuild the vector index from SQLite."""
    from .core.memory import MemoryCore

    _open(args).close()  # refuse a folder without a store
    with MemoryCore(_store_path(args), embedder=args.model, reindex=True) as memory:
        queued = memory.reindex()
    _out(json.dumps({"reindexed": queued}) if args.json else f"reindexed {queued} records")


def cmd_compact(args: argparse.Namespace) -> None:
    """Make forgotten records leave the storage files."""
    with _open(args) as memory:
        memory.compact()
    _out(json.dumps({"compacted": True}) if args.json else "compacted: forgotten records are in no table file")


def cmd_serve(args: argparse.Namespace) -> None:
    """Serve the store over HTTP: the JSON API under /api/ and the dashboard at /."""
    from .server import serve

    serve(_store_path(args), host=args.host, port=args.port, read_only=args.read_only)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``agent-memory``."""
    parser = argparse.ArgumentParser(prog="agent-memory", description=__doc__.splitlines()[0])
    common = argparse.ArgumentParser(add_help=False)
    # the same options before the command (defaults here) and after it (SUPPRESS: not given
    # after the command leaves what was given before it)
    for target, default in ((parser, None), (common, argparse.SUPPRESS)):
        target.add_argument("--path", default=default,
                            help="store folder (default: $AGENT_MEMORY_PATH or ./agent_memory)")
        target.add_argument("--user", default=default, help="user id (default: 'default')")
        target.add_argument("--json", action="store_true", default=default or False, help="machine-readable output")
        target.add_argument("--wait-model", action="store_true", default=default or False,
                            help="load the embedding model: index what is queued, search by meaning too")
    commands = parser.add_subparsers(dest="command", required=True)

    def add(name: str, handler: Any, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, parents=[common], help=help_text, description=help_text)
        sub.set_defaults(handler=handler)
        return sub

    add("demo", cmd_demo, "run a short demo of the core (in a temporary folder unless --path)")
    add("stats", cmd_stats, "counts of records, sessions, users and pending indexing")
    add("users", cmd_users, "list the users of the store")
    add("sessions", cmd_sessions, "list the user's sessions")
    show = add("show", cmd_show, "show a session: summary and window")
    show.add_argument("session")
    search = add("search", cmd_search, "search the user's memories")
    search.add_argument("query")
    search.add_argument("-k", type=int, default=5, help="how many hits (default 5)")
    search.add_argument("--session", help="only this session")
    search.add_argument("--kind", action="append", help="only these kinds (repeatable)")
    add_cmd = add("add", cmd_add, "add a message (--session) or a long-term memory")
    add_cmd.add_argument("text")
    add_cmd.add_argument("--session", help="add as a message of this session")
    add_cmd.add_argument("--role", default="user", help="message role (default user)")
    add_cmd.add_argument("--kind", default="fact", help="memory kind without --session (default fact)")
    imp = add("import", cmd_import, "import JSONL messages or a LoCoMo-style JSON file")
    imp.add_argument("file")
    add("export", cmd_export, "export the user's records as JSONL")
    forget = add("forget", cmd_forget, "forget a record, a session or a user")
    forget.add_argument("--id", help="one record id")
    forget.add_argument("--session", help="one session")
    forget.add_argument("--all", action="store_true", help="everything of --user")
    cleanup = add("cleanup", cmd_cleanup, "report, then with --apply remove, expired and old unimportant records")
    cleanup.add_argument("--older-than", help="records written before this age, e.g. 90d, 12h")
    cleanup.add_argument("--min-importance", type=float, help="records less important than this (0..1)")
    cleanup.add_argument("--kind", action="append", help="only these kinds (repeatable; default all but summary)")
    cleanup.add_argument("--apply", action="store_true", help="remove them (default: only report)")
    add("compact", cmd_compact, "rewrite the storage files so forgotten records leave no trace in them")
    serve = add("serve", cmd_serve, "serve the store: JSON API under /api/, dashboard at / (extra [server])")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1; any other "
                       "needs AGENT_MEMORY_API_KEY)")
    serve.add_argument("--port", type=int, default=8765, help="port (default 8765)")
    serve.add_argument("--read-only", action="store_true", help="refuse every write (add, remember, forget)")
    reindex = add("reindex", cmd_reindex, "rebuild the vector index from SQLite")
    reindex.add_argument("--model", default=None, help="sentence-transformers model (default all-MiniLM-L6-v2)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``agent-memory``; returns the exit status."""
    args = build_parser().parse_args(argv)
    args.user_given = args.user is not None
    args.user = args.user or "default"
    try:
        args.handler(args)
    except InvalidInputError as error:
        sys.stderr.write(f"agent-memory: {error}\n")
        return 2
    except (AgentMemoryError, OSError) as error:
        sys.stderr.write(f"agent-memory: {error}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
