"""The command line as ``--help`` shows it: every subcommand is registered in
:data:`SUBCOMMANDS`, and each says what it runs (``set_defaults(run=...)``, a function of
:mod:`indexer.cli.dispatch`).

Length (over ~350 lines, on purpose): the summary, examples and help of every command and
option are written here, one short ``_add_<command>`` function each, so ``--help`` and this
file read the same.

Every command works on one collection of the configured data folder, the same folder the bot
uses, so pictures indexed here are searchable in the bot and the other way round.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from indexer.cli import dispatch
from indexer.invocation import command_name
from indexer.search.filters import date_span
from indexer.text_cleaning import clean_text

EXAMPLES = """\
examples:
  python -m indexer demo                                   # offline, no download
  python -m indexer --config demo/config.toml search "a red circle" --collection demo
  python -m indexer index ~/Pictures --collection photos
  python -m indexer list --collection photos --status failed
  python -m indexer search --image ~/Pictures/cat.jpg --collection photos -k 10

The config file is --config (before or after the command), else $CLIP_SEARCH_CONFIG,
else ./config.toml if present, else the defaults. Exit status: 0 done, 1 some pictures
failed (index, reindex), 2 a usage or input error (one `error:` line), 3 some pictures
still pending (index: retried on the next run), 130 interrupted.
"""


def build_parser() -> argparse.ArgumentParser:
    """The whole command line; every subcommand is registered in :data:`SUBCOMMANDS`."""
    parser = argparse.ArgumentParser(
        prog=command_name("indexer"),
        description="Index pictures with CLIP and search them by meaning, in any language.",
        epilog=_with_command_name(EXAMPLES),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_common_options(parser, after_command=False)
    common = argparse.ArgumentParser(add_help=False)
    _add_common_options(common, after_command=True)
    subparsers = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", title="commands"
    )
    for register in SUBCOMMANDS:
        register(subparsers, common)
    return parser


def _add_common_options(parser: argparse.ArgumentParser, *, after_command: bool) -> None:
    """``--config`` and ``-v``, accepted before the command and after it.

    After the command they default to SUPPRESS, so they override what was given before it
    only when given themselves.
    """
    suppress: dict[str, object] = {"default": argparse.SUPPRESS} if after_command else {}
    parser.add_argument(
        "--config",
        type=Path,
        help="TOML config file (default: $CLIP_SEARCH_CONFIG, else ./config.toml if present)",
        **suppress,
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="also log what loads and where a query's milliseconds go",
        **suppress,
    )


def _command(
    subparsers: Subcommands,
    common: argparse.ArgumentParser,
    name: str,
    summary: str,
    examples: str,
) -> argparse.ArgumentParser:
    """A subcommand with a one-line summary, the common options and examples."""
    return subparsers.add_parser(
        name,
        help=summary,
        description=summary[0].upper() + summary[1:] + ".",
        epilog=_with_command_name("examples:\n" + examples),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[common],
    )


def _with_command_name(text: str) -> str:
    """Examples as the user can paste them: ``python -m indexer`` as this program was started."""
    return text.replace("python -m indexer", command_name("indexer"))


def _collection_name(text: str) -> str:
    """A collection's name as typed, cleaned (:func:`clean_text`: no control characters, no
    bidi override to reverse the lines that print it); a blank one would make a collection no
    line can name."""
    name = clean_text(text)
    if not name.strip():
        raise argparse.ArgumentTypeError("a collection needs a name")
    return name


def _add_collection(
    parser: argparse._ActionsContainer, help: str, *, required: bool = True
) -> None:
    """The ``--collection NAME`` option, the same for every command but for its help."""
    parser.add_argument("--collection", type=_collection_name, required=required, help=help)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _add_index(subparsers: Subcommands, common: argparse.ArgumentParser) -> None:
    index = _command(
        subparsers,
        common,
        "index",
        "index every picture file under a folder (again: only new files)",
        "  python -m indexer index ~/Pictures --collection photos\n\n"
        "Only regular files named like pictures (.jpg .png .webp ...) are read, each at most\n"
        "limits.max_image_bytes; FIFOs, devices and dangling links are skipped with a reason.\n"
        "exit status: 0 all indexed, 1 some failed or skipped (listed by path), 3 none\n"
        "failed but some still pending (a passing error: retried on the next run).",
    )
    index.add_argument("directory", type=Path, help="the folder (searched recursively)")
    _add_collection(index, "collection to add the pictures to")
    index.add_argument(
        "--follow-outside",
        action="store_true",
        help="also read symbolic links whose target lies outside the folder",
    )
    index.set_defaults(run=dispatch.on_service("index"))


def _add_search(subparsers: Subcommands, common: argparse.ArgumentParser) -> None:
    search = _command(
        subparsers,
        common,
        "search",
        "search a collection by description, by example picture, or both; by who and when",
        '  python -m indexer search "a red circle" --collection demo\n'
        '  python -m indexer search "人民广场" --collection photos -k 10\n'
        "  python -m indexer search --image cat.jpg --collection photos --include-self\n"
        '  python -m indexer search --image beach.jpg "at sunset" --collection photos\n'
        '  python -m indexer search "a dog from:@ben after:2025-06 kind:photo" --collection g\n'
        "  python -m indexer search --poster ben --since 2025-06-01 --newest --collection g\n\n"
        "Results come best first. A text search fuses two rankings: the pictures themselves\n"
        "and their captions and tags (🏷 lines show the matching text) and the words read in\n"
        "them (📝 lines show the words around the match); the number is the cosine\n"
        "similarity of the query to the picture, or to that text. A picture search\n"
        "leaves the query picture itself (same bytes) out unless --include-self; with words\n"
        "as well, it looks for the picture changed as the words say (one vector of both).\n\n"
        "The text may hold filters, as in the bot: from:@name or from:Name (several: any),\n"
        "after:DATE, before:DATE, on:DATE (2025-07-14, 2025-07 or 2025, UTC), last:7d (h, d,\n"
        "w, m = 30 days, y), kind:photo|video|gif|sticker, sort:new; in Chinese 来自: 之后:\n"
        "之前: 日期: 最近: 类型: 排序:最新, with : or ：. The options below do the same. Filters\n"
        "apply before ranking, so k results come back when k pictures pass; filters without\n"
        "words list the pictures that pass, newest first.",
    )
    search.add_argument("text", nargs="?", help="what the picture shows, in any language")
    search.add_argument("--image", type=Path, help="find pictures similar to this file")
    _add_collection(search, "collection to search")
    search.add_argument(
        "-k", type=_positive, default=5, help="number of results, at least 1 (default 5)"
    )
    search.add_argument(
        "--include-self",
        action="store_true",
        help="with --image: keep the query picture itself in the results",
    )
    search.add_argument(
        "--poster",
        action="append",
        default=[],
        metavar="NAME",
        help="only pictures posted by this @username, name or id (repeat: any of them)",
    )
    search.add_argument(
        "--since", type=_date, metavar="DATE", help="only pictures posted on DATE or later"
    )
    search.add_argument(
        "--until", type=_date, metavar="DATE", help="only pictures posted up to DATE, included"
    )
    search.add_argument(
        "--kind",
        action="append",
        default=[],
        choices=("photo", "video", "gif", "sticker"),
        help="only pictures of this kind (video includes round video notes; repeat: any)",
    )
    search.add_argument(
        "--newest", action="store_true", help="the best matches newest first, not best first"
    )

    def check(args: argparse.Namespace) -> None:
        filtered = args.poster or args.since or args.until or args.kind or args.newest
        if args.text is None and args.image is None and not filtered:
            search.error("search needs a TEXT, --image PATH or a filter (--poster, --since…)")
        if args.include_self and args.image is None:
            search.error("--include-self needs --image PATH")

    search.set_defaults(run=dispatch.on_service("search"), validate=check)


def _date(text: str) -> tuple[float, float]:
    """A day, month or year (2025-07-14, 2025-07, 2025) as its UTC start and end."""
    span = date_span(text.strip())
    if span is None:
        raise argparse.ArgumentTypeError(f"not a date like 2025-07-14, 2025-07 or 2025: {text!r}")
    return span


def _add_list(subparsers: Subcommands, common: argparse.ArgumentParser) -> None:
    listing = _command(
        subparsers,
        common,
        "list",
        "list a collection's pictures: source, poster, date, caption, tags, words read, status",
        "  python -m indexer list --collection photos\n"
        "  python -m indexer list --collection photos --status failed\n"
        '  python -m indexer list --collection -100123 --poster alice --contains "beach" --json',
    )
    _add_collection(listing, "collection to list")
    listing.add_argument(
        "--status",
        choices=["pending", "indexed", "repost", "failed"],
        help="only pictures in this state",
    )
    listing.add_argument("--poster", help="only pictures posted by this user id or name")
    listing.add_argument(
        "--contains",
        help="only pictures whose source, caption, a tag or the words read in it contain this",
    )
    listing.add_argument(
        "--limit", type=_positive, default=50, help="at most this many pictures (default 50)"
    )
    listing.add_argument("--json", action="store_true", help="print a JSON list instead")
    listing.set_defaults(run=dispatch.on_service("list_pictures"))


def _add_reindex(subparsers: Subcommands, common: argparse.ArgumentParser) -> None:
    reindex = _command(
        subparsers,
        common,
        "reindex",
        "re-embed a collection's pictures with the configured model",
        "  python -m indexer reindex --collection photos\n\n"
        "exit status: 0 all re-embedded, 1 some could not be fetched or decoded.",
    )
    _add_collection(reindex, "collection to re-embed")
    reindex.set_defaults(run=dispatch.on_service("reindex"))


def _add_stats(subparsers: Subcommands, common: argparse.ArgumentParser) -> None:
    stats = _command(
        subparsers,
        common,
        "stats",
        "print counts, model and index of collections",
        "  python -m indexer stats\n  python -m indexer stats --collection photos",
    )
    _add_collection(stats, "one collection (default: all)", required=False)
    stats.set_defaults(run=dispatch.on_service("stats"))


def _add_targets(parser: argparse.ArgumentParser, what: str) -> None:
    _add_collection(parser, f"collection of the pictures to {what}")
    targets = parser.add_mutually_exclusive_group(required=True)
    targets.add_argument("--id", type=int, nargs="+", dest="ids", help="picture ids (see `list`)")
    targets.add_argument("--path", type=Path, nargs="+", dest="paths", help="indexed files")


def _add_forget(subparsers: Subcommands, common: argparse.ArgumentParser) -> None:
    forget = _command(
        subparsers,
        common,
        "forget",
        "remove pictures (with their reposts, captions and tags) from a collection",
        "  python -m indexer forget --collection photos --id 12 13\n"
        "  python -m indexer forget --collection photos --path ~/Pictures/old.jpg\n\n"
        "An id or path that is not in the collection is named on an `error:` line (exit 2).",
    )
    _add_targets(forget, "forget")
    forget.set_defaults(run=dispatch.on_service("forget"))


def _add_tag(subparsers: Subcommands, common: argparse.ArgumentParser) -> None:
    tag = _command(
        subparsers,
        common,
        "tag",
        "give pictures a searchable tag (a name, a place)",
        '  python -m indexer tag "People\'s Square" --collection photos --id 12\n'
        '  python -m indexer tag "人民广场" --collection photos --path ~/Pictures/a.jpg\n\n'
        "An id or path with no indexed picture is named on an `error:` line (exit 2).",
    )
    tag.add_argument("text", help="the tag, e.g. a place name")
    _add_targets(tag, "tag")
    tag.set_defaults(run=dispatch.on_service("tag"))


def _add_check(subparsers: Subcommands, common: argparse.ArgumentParser) -> None:
    check = _command(
        subparsers,
        common,
        "check",
        "check the database and every index against it (exit 1 on any finding)",
        "  python -m indexer check\n  python -m indexer check --repair\n\n"
        "It checks SQLite's integrity, the word index of captions and tags, orphaned rows,\n"
        "indexed pictures without a stored vector (no search finds them), leftovers of saves\n"
        "cut short by a kill, and every collection's index against SQLite, then prints counts.\n"
        "--repair rebuilds damaged indexes and the word index, deletes orphaned rows, removes\n"
        "leftovers and queues pictures without a vector again (the next index run or the bot\n"
        "embeds them). A damaged SQLite file is restored from a backup, not repaired.",
    )
    check.add_argument(
        "--repair",
        action="store_true",
        help="rebuild damaged indexes, delete orphaned rows and leftovers, "
        "queue pictures without a vector again",
    )
    check.set_defaults(run=dispatch.check)


def _add_backup(subparsers: Subcommands, common: argparse.ArgumentParser) -> None:
    backup = _command(
        subparsers,
        common,
        "backup",
        "copy the database consistently, also while the bot runs",
        "  python -m indexer backup backups/\n\n"
        "To restore, stop the bot, copy the file back as data/index.sqlite3 and start again:\n"
        "the FAISS files are rebuilt from it.",
    )
    backup.add_argument(
        "dest", help="the copy's file name, or a folder to put it in (a new one ending in /)"
    )
    backup.set_defaults(run=dispatch.backup)


def _add_demo(subparsers: Subcommands, common: argparse.ArgumentParser) -> None:
    demo = _command(
        subparsers,
        common,
        "demo",
        "draw synthetic shape pictures, index and search them offline",
        "  python -m indexer demo\n  python -m indexer demo --dir /tmp/demo\n\n"
        "It leaves a config file in the folder: pass it to every other command with --config.",
    )
    demo.add_argument("--dir", type=Path, default=Path("demo"), help="where to put it (./demo)")
    demo.set_defaults(run=dispatch.demo)


def _add_finetune(subparsers: Subcommands, common: argparse.ArgumentParser) -> None:
    finetune = _command(
        subparsers,
        common,
        "finetune",
        "teach the model a group's own words from (picture, caption) pairs",
        "  python -m indexer finetune --pairs pairs.csv --out models/group.pt\n"
        "  python -m indexer finetune --collection photos --out models/photos.pt --lock-image",
    )
    data = finetune.add_mutually_exclusive_group(required=True)
    data.add_argument("--pairs", type=Path, help="CSV or JSONL with image (path) and caption")
    _add_collection(
        data,
        "the captioned and tagged pictures of a collection indexed from files",
        required=False,  # the group requires --pairs or --collection
    )
    finetune.add_argument("--out", type=Path, required=True, help="new checkpoint file (.pt)")
    finetune.add_argument("--epochs", type=int, default=5, help="passes over the pairs (5)")
    finetune.add_argument("--batch-size", type=int, default=32, help="pairs per step (32)")
    finetune.add_argument("--lr", type=float, default=1e-5, help="peak learning rate (1e-5)")
    finetune.add_argument(
        "--warmup", type=float, default=0.1, help="share of steps warming up, then cosine (0.1)"
    )
    finetune.add_argument(
        "--lock-image", action="store_true", help="train the text tower only (LiT-style)"
    )
    finetune.add_argument(
        "--held-out", type=float, default=0.1, help="share of pictures kept to measure on (0.1)"
    )
    finetune.add_argument(
        "--general", type=Path, help="pairs unlike the training data, to catch forgetting"
    )
    finetune.add_argument("--seed", type=int, default=0, help="for the split and training (0)")
    finetune.add_argument(
        "--patience", type=int, help="stop after N epochs without held-out improvement"
    )
    finetune.set_defaults(run=dispatch.finetune)


def _add_eval(subparsers: Subcommands, common: argparse.ArgumentParser) -> None:
    evaluate = _command(
        subparsers,
        common,
        "eval",
        "measure the configured model's recall@1/5/10 on (picture, caption) pairs",
        "  python -m indexer eval --pairs pairs.csv\n"
        "  python -m indexer eval --pairs pairs.csv --json",
    )
    evaluate.add_argument(
        "--pairs", type=Path, required=True, help="CSV or JSONL with image (path) and caption"
    )
    evaluate.add_argument("--json", action="store_true", help="print JSON instead of a table")
    evaluate.set_defaults(run=dispatch.evaluate)


def _add_model(subparsers: Subcommands, common: argparse.ArgumentParser) -> None:
    model = subparsers.add_parser(
        "model",
        help="export or check a model folder (offline use)",
        description="Export the configured model as a folder, or check a model folder.",
        epilog=_with_command_name(
            "examples:\n  python -m indexer model export --out models/xlmr-b32\n"
            "  python -m indexer model check models/xlmr-b32"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[common],
    )
    actions = model.add_subparsers(
        dest="model_action", required=True, metavar="ACTION", help="what to do with it"
    )
    export = actions.add_parser(
        "export", help="write the configured model as a folder (needs network), for model.path"
    )
    export.add_argument("--out", type=Path, required=True, help="new folder")
    check = actions.add_parser("check", help="verify a model folder: files, load, embed")
    check.add_argument("folder", type=Path, nargs="?", help="default: model.path of the config")
    model.set_defaults(run=dispatch.model)


Subcommands = argparse._SubParsersAction  # argparse has no public name for it
Register = Callable[[Subcommands, argparse.ArgumentParser], None]
#: Every subcommand, in the order ``--help`` lists them: add a new one here.
SUBCOMMANDS: tuple[Register, ...] = (
    _add_index,
    _add_search,
    _add_list,
    _add_tag,
    _add_forget,
    _add_stats,
    _add_check,
    _add_backup,
    _add_reindex,
    _add_demo,
    _add_finetune,
    _add_eval,
    _add_model,
)
