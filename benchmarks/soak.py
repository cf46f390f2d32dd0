"""The soak benchmark: the real bot, many groups and users, one of them flooding, for minutes.

Length (over ~350 lines, on purpose): the run, its measurements and its report against the
targets are one script a reader follows from top to bottom; the simulated world is in
:mod:`benchmarks.soak_world`.

Run from the repository root::

    .venv/bin/python -m benchmarks.soak                      # 10 minutes, 20 groups, 200 users
    .venv/bin/python -m benchmarks.soak --seconds 60 --groups 4 --users 24   # a short run

It starts the fake Bot API on 127.0.0.1 (nothing else is reached), writes a config for it and the
tiny model, and runs the real bot as ``python -m bot`` in a subprocess (real HTTP, its own
memory and file descriptors). Then, for ``--seconds``: users of every group post photo bursts
and albums and ask ``/search``, press More, ``/tag`` and ``/forget`` pictures; users ask in
private and inline; one user floods a group with searches and another floods a group with
photos; members are kicked now and then (and ask again once the bot's membership cache,
``--membership-ttl``, has run out), and some users opt out. Every picture the bot shows is
checked as it arrives (see :mod:`benchmarks.soak_world`). After the run the bot is given time to
finish indexing (``/stats``), stopped, and its store is checked through ``IndexService``.

Reported: answer latency p50/p99 per chat, pictures posted vs indexed (none twice, none of a
forgotten or opted-out user searchable), the bot's RSS and open file descriptors over time,
the SQLite size, and every ERROR line of its log. Exits 1 when a target is missed:

* the other chats' answers p99 ≤ ``--p99`` seconds (2) while one user floods;
* every posted picture indexed once, none forgotten/opted-out searchable, nothing shown to
  someone who may not see it;
* RSS growth ≤ 50 MB from 1/5 of the run to its end (minute 2 to 10 by default), and no more
  open file descriptors with the bot at rest after the run than at rest before it;
* no ERROR or traceback in the bot's log, and the token never in it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from benchmarks.soak_world import ANSWER_TIMEOUT, Latency, Soak
from bot.chats import collection_of
from bot.config import TOKEN_ENV, load_config
from bot.phrases import EN
from bot.playground.fake_telegram import Chat, FakeTelegram, User
from indexer.service import IndexService
from indexer.store import DATABASE_FILE
from indexer.training.tiny_model import TINY_MODEL_NAME, ensure_tiny_model
from tests.conftest import CACHE_DIR

#: RSS may grow at most this much between 1/5 of the run and its end (the issue's target).
RSS_GROWTH_LIMIT_MB = 50.0
#: How often the bot's memory and descriptors are sampled.
SAMPLE_EVERY = 2.0
#: How long the bot may take to finish indexing after the run, and to stop.
DRAIN_SECONDS = 120.0
#: How long the bot is left with nothing to do before its descriptors are counted at rest:
#: longer than httpx keeps an idle connection (5 s).
REST_SECONDS = 6.0
STOP_SECONDS = 30.0
_WAITING = re.compile(r"^Waiting: (\d+)$", re.MULTILINE)


@dataclass
class Sample:
    at: float
    rss_mb: float
    fds: int


@dataclass
class Report:
    """What a soak run measured, and which targets it missed."""

    seconds: float
    latency: dict[str, tuple[int, float, float, int]] = field(default_factory=dict)
    others_p99: float = 0.0
    counts: dict[str, int] = field(default_factory=dict)
    samples: list[Sample] = field(default_factory=list)
    #: Open descriptors with the bot at rest, before the run and after it (see fd_growth).
    fds_at_rest: tuple[Counter[str], Counter[str]] = (Counter(), Counter())
    sqlite_bytes: int = 0
    errors: list[str] = field(default_factory=list)
    unanswered: list[str] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    missed: list[str] = field(default_factory=list)

    @property
    def rss_growth_mb(self) -> float:
        """Resident memory at the end (median of the last samples) less at 1/5 of the run."""
        early = [s.rss_mb for s in self._part(0.2, 0.25)] or [self.samples[0].rss_mb]
        return statistics.median(s.rss_mb for s in self.samples[-3:]) - statistics.median(early)

    @property
    def fd_growth(self) -> int:
        """Open descriptors with the bot at rest after the run less at rest before it (after a
        warm-up round opened what opens once): connections come and go while it works, a leak
        stays."""
        before, after = self.fds_at_rest
        return after.total() - before.total()

    @property
    def fds_gained(self) -> list[str]:
        """What the bot held open at rest after the run and not before it."""
        before, after = self.fds_at_rest
        return sorted((after - before).elements())

    def _part(self, start: float, end: float) -> list[Sample]:
        first = self.samples[0].at
        return [s for s in self.samples if start <= (s.at - first) / self.seconds < end]


# The bot process


def write_config(folder: Path, fake: FakeTelegram, membership_ttl: float) -> Path:
    checkpoint = ensure_tiny_model(CACHE_DIR)
    path = folder / "config.toml"
    path.write_text(
        f"""[telegram]
base_url = "{fake.base_url}"
base_file_url = "{fake.base_file_url}"
poll_timeout_seconds = 1
membership_cache_seconds = {membership_ttl}

[model]
arch = "{TINY_MODEL_NAME}"
pretrained = ""
checkpoint = "{checkpoint}"

[storage]
data_dir = "{folder / "data"}"
"""
    )
    return path


def start_bot(config: Path, token: str, log: Path) -> subprocess.Popen[bytes]:
    environment = {**os.environ, TOKEN_ENV: token}
    with log.open("wb") as output:
        return subprocess.Popen(
            [sys.executable, "-m", "bot", "--config", str(config)],
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
        )


def sample(pid: int, started: float) -> Sample:
    """The process's resident memory (MB) and open file descriptors now (Linux /proc)."""
    status = Path(f"/proc/{pid}/status").read_text()
    rss_kb = int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS")))
    return Sample(time.monotonic() - started, rss_kb / 1024, len(os.listdir(f"/proc/{pid}/fd")))


async def fds_at_rest(soak: Soak, pid: int) -> Counter[str]:
    """What the bot holds open (by kind: "socket", "anon_inode:[eventpoll]", a file's path)
    after :data:`REST_SECONDS` of nothing to do and one question.

    HTTP connections it no longer needs are closed lazily: httpx keeps an idle connection 5 s
    and drops expired ones when the pool is next used. So after the rest one question (the
    answer goes through the bot's pool) clears them; then the fewest descriptors over a
    moment are taken.
    """
    await asyncio.sleep(REST_SECONDS)
    asker = soak.users[2]
    await soak.ask(soak.fake.private_chat(asker), asker, "/help")
    fewest = open_descriptors(pid)
    for _ in range(8):
        await asyncio.sleep(0.25)
        now = open_descriptors(pid)
        if now.total() < fewest.total():
            fewest = now
    return fewest


def open_descriptors(pid: int) -> Counter[str]:
    """The process's open descriptors by what they point to (sockets counted as one kind)."""
    kinds: Counter[str] = Counter()
    folder = Path(f"/proc/{pid}/fd")
    for entry in folder.iterdir():
        try:
            target = os.readlink(entry)
        except FileNotFoundError:  # closed while listed
            continue
        kinds[re.sub(r"^(socket|pipe):\[\d+\]$", r"\1", target)] += 1
    return kinds


async def stop_bot(bot: subprocess.Popen[bytes]) -> bool:
    """Stops the bot with SIGTERM; False if it had to be killed."""
    bot.send_signal(signal.SIGTERM)
    try:
        await asyncio.to_thread(bot.wait, STOP_SECONDS)
    except subprocess.TimeoutExpired:
        bot.kill()
        await asyncio.to_thread(bot.wait)
        return False
    return True


# The people


async def group_lane(soak: Soak, group: Chat) -> None:
    """Members of one group post, search, page, tag and forget, one thing at a time."""
    while soak.running():
        await soak.think(1.5, 5.0)
        # The flooders' own questions elsewhere are rightly refused by their per-user limit.
        members = [u for u in soak.members_of(group) if u not in soak.users[:2]]
        if not members:
            continue
        user = soak.rng.choice(members)
        roll = soak.rng.random()
        if roll < 0.15:
            for _ in range(soak.rng.randint(1, 4)):
                soak.post_photo(group, user)
        elif roll < 0.3:
            soak.post_photo(group, user, album=soak.rng.randint(2, 6))
        elif roll < 0.6:
            await soak.ask(group, user, f"/search {soak.query_text()}")
        elif roll < 0.75:
            await soak.press_more(group, user if soak.rng.random() < 0.2 else None)
        elif roll < 0.9:
            await tag_or_forget(soak, group, user, forget=False)
        else:
            await tag_or_forget(soak, group, user, forget=True)


async def tag_or_forget(soak: Soak, group: Chat, user: User, *, forget: bool) -> None:
    """/tag (any picture) or /forget (one of the user's own) as a reply to a picture."""
    posts = [
        p
        for p in soak.truth.posts.values()
        if p.group == group.id and (not forget or p.poster == user.id)
    ]
    if not posts:
        return
    post = soak.rng.choice(posts)
    text = "/forget" if forget else f"/tag {soak.rng.choice(['summer', 'party', 'cat'])}"
    answer = await soak.timed(
        group,
        lambda: soak.fake.send_text(group, user, text, reply_to=post.message_id),
        f"{text.split(' ')[0]} by {user.id}",
    )
    if forget and answer is not None:
        soak.truth.forgotten_at[post.file_id] = answer.at
        soak.counts["forgotten"] += 1
    elif answer is not None:
        soak.counts["tags"] += 1


async def private_lane(soak: Soak) -> None:
    """A user asks in private: a description, the More button, or inline."""
    while soak.running():
        await soak.think(1.0, 4.0)
        user = soak.rng.choice(soak.users[2:])
        chat = soak.fake.private_chat(user)
        roll = soak.rng.random()
        if roll < 0.5:
            await soak.ask(chat, user, soak.query_text())
        elif roll < 0.7:
            await soak.press_more(chat)
        else:
            await soak.inline(user, soak.query_text())


async def search_flood(soak: Soak, group: Chat, user: User) -> None:
    """One user sends 20 searches a second, never waiting for answers."""
    while soak.running():
        soak.fake.send_text(group, user, f"/search {soak.query_text()}")
        soak.counts["flood searches"] += 1
        await asyncio.sleep(0.05)


async def photo_flood(soak: Soak, group: Chat, user: User) -> None:
    """One user posts 5 photos a second."""
    while soak.running():
        soak.post_photo(group, user)
        await asyncio.sleep(0.2)


async def kicks(soak: Soak, quiet: list[Chat]) -> None:
    """Now and then a member is kicked; once the membership cache ran out, they ask again."""
    checks = []
    while soak.running():
        await asyncio.sleep(max(5.0, soak.seconds / 20))
        group = soak.rng.choice(quiet)
        members = [u for u in soak.members_of(group) if u not in soak.users[:2]]
        if len(members) < 3:
            continue
        user = soak.rng.choice(members)
        soak.fake.set_member(group, user, "kicked")
        soak.truth.kicked_at[(group.id, user.id)] = time.monotonic()
        soak.counts["kicks"] += 1
        checks.append(asyncio.create_task(ask_after_kick(soak, user)))
    await asyncio.gather(*checks)


async def ask_after_kick(soak: Soak, user: User) -> None:
    await asyncio.sleep(soak.membership_ttl + 1.0)
    await soak.ask(soak.fake.private_chat(user), user, soak.query_text())
    await soak.inline(user, soak.query_text())
    soak.counts["asked after a kick"] += 1


async def opt_outs(soak: Soak, quiet: list[Chat]) -> None:
    """At 1/4 and 1/2 of the run a member opts out of a group (and keeps posting there)."""
    for share in (0.25, 0.5):
        await asyncio.sleep(max(0.0, soak.started + share * soak.seconds - time.monotonic()))
        group = quiet[int(share * 4) % len(quiet)]
        members = [u for u in soak.members_of(group) if u not in soak.users[:2]]
        user = soak.rng.choice(members)
        for _ in range(2):
            soak.post_photo(group, user)
        answer = await soak.ask(group, user, "/optout")
        if answer is None:
            continue
        soak.truth.opted_out_at[(group.id, user.id)] = answer.at
        soak.counts["opt-outs"] += 1
        if user in soak.members_of(group):
            soak.post_photo(group, user)


# The run


async def warm_up(soak: Soak) -> None:
    """One round of everything in every group and one private chat, before anything is
    measured: what the bot opens once (its database's log, each collection's index) is open
    by the time its descriptors are first counted at rest."""
    for group in soak.groups:
        member = next(u for u in soak.members_of(group) if u not in soak.users[:2])
        soak.post_photo(group, member)
        await soak.ask(group, member, f"/search {soak.query_text()}")
    asker = soak.users[2]
    await soak.ask(soak.fake.private_chat(asker), asker, soak.query_text())
    await soak.inline(asker, soak.query_text())
    await drain(soak, soak.groups, time.monotonic() + DRAIN_SECONDS)
    soak.latency = Latency()
    soak.counts.clear()


async def drain(soak: Soak, groups: list[Chat], deadline: float) -> int:
    """Asks /stats in every group until nothing waits to be indexed; returns what still waits."""
    waiting = -1
    while time.monotonic() < deadline:
        waiting = 0
        for group in groups:
            if time.monotonic() > deadline:
                return waiting + 1
            asker = next(u for u in soak.members_of(group) if u not in soak.users[:2])
            answer = await soak.ask(group, asker, "/stats")
            text = str(answer.params.get("text", "")) if answer else ""
            match = _WAITING.search(text)
            if match is not None:
                waiting += int(match.group(1))
            elif text != EN.nothing_indexed:
                waiting += 1
        if waiting == 0:
            return 0
        await asyncio.sleep(1.0)
    return waiting


async def check_store(soak: Soak, config: Path, token: str, report: Report) -> None:
    """Every posted picture indexed once, unless forgotten or opted out: then never found."""
    settings = load_config(config, {TOKEN_ENV: token})
    async with await IndexService.open(settings.indexer) as service:
        known = set(await service.collections())
        for post in soak.truth.posts.values():
            collection = collection_of(post.group)
            ids = (
                await service.ids_of_source(collection, f"telegram:{post.file_id}")
                if collection in known
                else []
            )
            gone = (
                post.file_id in soak.truth.forgotten_at
                or (post.group, post.poster) in soak.truth.opted_out_at
            )
            if not gone:
                report.counts["pictures expected indexed"] = (
                    report.counts.get("pictures expected indexed", 0) + 1
                )
            if gone and ids:
                report.violations.append(f"forgotten or opted-out picture kept: {post.file_id}")
            elif not gone and len(ids) > 1:
                report.counts["indexed twice"] = report.counts.get("indexed twice", 0) + 1
            elif not gone and not ids:
                report.counts["not indexed"] = report.counts.get("not indexed", 0) + 1
            elif not gone:
                [record] = (await service.images(ids)).values()
                key = "indexed" if record.status in ("indexed", "repost") else record.status
                report.counts[key] = report.counts.get(key, 0) + 1
        for (group, poster), _ in soak.truth.opted_out_at.items():
            for post in [
                p for p in soak.truth.posts.values() if (p.group, p.poster) == (group, poster)
            ]:
                hits = await service.search_image([collection_of(group)], post.data, k=10)
                if any(hit.image.poster_id == poster for hit in hits):
                    report.violations.append(f"opted-out user {poster}'s picture is searchable")


def latency_table(soak: Soak, report: Report) -> None:
    others: list[float] = []
    for chat_id in sorted(soak.latency.seconds.keys() | soak.latency.missing.keys()):
        answered = soak.latency.seconds.get(chat_id, [])
        name = ("flooded " if chat_id in soak.flooded else "") + (
            f"group {chat_id}" if chat_id < 0 else f"user {chat_id}"
        )
        report.latency[name] = (
            len(answered),
            _percentile(answered, 50),
            _percentile(answered, 99),
            soak.latency.missing.get(chat_id, 0),
        )
        if chat_id not in soak.flooded:
            others += answered
    missing = sum(n for c, n in soak.latency.missing.items() if c not in soak.flooded)
    report.counts["answers missing (other chats)"] = missing
    report.others_p99 = _percentile(others, 99)


def _percentile(values: list[float], share: float) -> float:
    return float(np.percentile(values, share)) if values else float("nan")


async def soak(
    seconds: float,
    groups: int,
    users: int,
    membership_ttl: float,
    folder: Path,
    *,
    p99_target: float = 2.0,
    floods: bool = True,
) -> Report:
    """Runs the soak and returns its report (``missed`` lists the targets not met)."""
    report = Report(seconds)
    log = folder / "bot.log"
    async with FakeTelegram() as fake:
        world = Soak.build(fake, seconds, groups, users, membership_ttl)
        config = write_config(folder, fake, membership_ttl)
        bot = start_bot(config, fake.token, log)
        stop = asyncio.Event()
        watcher = asyncio.create_task(world.watch(stop))
        try:
            await wait_until_polling(fake, bot)
            await warm_up(world)
            before = await fds_at_rest(world, bot.pid)
            report.samples = await drive(world, bot.pid, floods)
            latency_table(world, report)
            world.counts["still waiting after the run"] = await drain(
                world, world.groups, time.monotonic() + DRAIN_SECONDS
            )
            report.fds_at_rest = (before, await fds_at_rest(world, bot.pid))
        finally:
            stop.set()
            await watcher
            if bot.poll() is None and not await stop_bot(bot):
                report.errors.append(f"the bot did not stop within {STOP_SECONDS:.0f} s of SIGTERM")
    report.counts.update(world.counts)
    report.violations += world.violations
    report.unanswered = world.latency.unanswered
    await check_store(world, config, fake.token, report)
    database = folder / "data" / DATABASE_FILE
    report.sqlite_bytes = sum(
        p.stat().st_size for p in database.parent.glob(database.name + "*") if p.is_file()
    )
    text = log.read_text(errors="replace")
    report.errors = [line for line in text.splitlines() if " ERROR " in line or "Traceback" in line]
    if fake.token in text or fake.token.split(":")[1] in text:
        report.errors.append("the bot's token appears in its log")
    judge(report, p99_target)
    return report


async def wait_until_polling(fake: FakeTelegram, bot: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 120
    while not fake.calls("getUpdates"):
        if bot.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("the bot did not start polling (see its log)")
        await asyncio.sleep(0.1)


async def drive(world: Soak, pid: int, floods: bool) -> list[Sample]:
    """Runs every lane for the run's length, sampling the bot's memory meanwhile."""
    flood_group, photo_group, *quiet = world.groups
    world.flooded = {flood_group.id, photo_group.id}
    world.started = time.monotonic()
    samples: list[Sample] = []

    async def sampler() -> None:
        try:
            while world.running():
                samples.append(sample(pid, world.started))
                await asyncio.sleep(SAMPLE_EVERY)
            samples.append(sample(pid, world.started))
        except FileNotFoundError:
            world.violations.append("the bot exited during the run")

    lanes: list[Callable[[], Awaitable[None]]] = [
        sampler,
        *(
            [
                lambda: search_flood(world, flood_group, world.users[0]),
                lambda: photo_flood(world, photo_group, world.users[1]),
            ]
            if floods
            else []
        ),
        lambda: kicks(world, quiet),
        lambda: opt_outs(world, quiet),
        *(lambda group=group: group_lane(world, group) for group in quiet),
        *(lambda: private_lane(world) for _ in range(max(2, len(world.users) // 10))),
    ]
    await asyncio.gather(*(lane() for lane in lanes))
    return samples


def judge(report: Report, p99_target: float) -> None:
    missed = report.missed
    if not report.others_p99 <= p99_target:
        missed.append(f"other chats' p99 {report.others_p99:.2f} s > {p99_target} s")
    if report.counts.get("answers missing (other chats)"):
        missed.append(
            f"{report.counts['answers missing (other chats)']} questions in other chats got no "
            f"answer within {ANSWER_TIMEOUT:.0f} s"
        )
    for key in ("not indexed", "indexed twice", "failed", "pending"):
        if report.counts.get(key):
            missed.append(f"{report.counts[key]} pictures {key}")
    if report.violations:
        missed.append(f"{len(report.violations)} pictures shown or kept that must not be")
    if report.rss_growth_mb > RSS_GROWTH_LIMIT_MB:
        missed.append(f"RSS grew {report.rss_growth_mb:.1f} MB > {RSS_GROWTH_LIMIT_MB} MB")
    if report.fd_growth > 0:
        missed.append(f"open file descriptors grew by {report.fd_growth}")
    if report.errors:
        missed.append(f"{len(report.errors)} error lines in the bot's log")


def print_report(report: Report) -> None:
    print(f"soak of {report.seconds:.0f} s")
    print("| chat | answers | p50 s | p99 s | no answer |")
    print("|---|---:|---:|---:|---:|")
    for name, (count, p50, p99, missing) in report.latency.items():
        print(f"| {name} | {count} | {p50:.2f} | {p99:.2f} | {missing} |")
    print(f"other chats' answers p99: {report.others_p99:.2f} s")
    for key, value in sorted(report.counts.items()):
        print(f"{key}: {value}")
    print("| at s | RSS MB | open fds |")
    print("|---:|---:|---:|")
    step = max(1, len(report.samples) // 12)
    for s in [*report.samples[::step], report.samples[-1]]:
        print(f"| {s.at:.0f} | {s.rss_mb:.1f} | {s.fds} |")
    print(f"RSS growth from 1/5 of the run to the end: {report.rss_growth_mb:.1f} MB")
    before, after = report.fds_at_rest
    print(f"open fds at rest: {before.total()} before the run, {after.total()} after it")
    for kind in report.fds_gained:
        print(f"  held open after the run only: {kind}")
    print(f"SQLite size: {report.sqlite_bytes / 2**20:.1f} MiB")
    for line in report.unanswered[:20]:
        print(f"unanswered: {line}")
    for line in report.errors[:20]:
        print(f"log: {line}")
    for line in report.violations[:20]:
        print(f"violation: {line}")
    print("targets: all met" if not report.missed else "targets missed:")
    for line in report.missed:
        print(f"  - {line}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=600.0, help="length of the run")
    parser.add_argument("--groups", type=int, default=20, help="groups (at least 4)")
    parser.add_argument("--users", type=int, default=200, help="users (at least 4 per group)")
    parser.add_argument(
        "--membership-ttl", type=float, default=5.0, help="the bot's membership cache (s)"
    )
    parser.add_argument(
        "--keep", type=Path, help="keep the bot's data, config and log in this (empty) folder"
    )
    parser.add_argument(
        "--no-flood",
        action="store_true",
        help="a baseline: nobody floods (the flooded groups stay quiet)",
    )
    parser.add_argument("--p99", type=float, default=2.0, help="other chats' p99 target (s)")
    args = parser.parse_args()
    if not 1 <= args.seconds <= 3600 or args.groups < 4 or args.users < 4 * args.groups:
        parser.error("--seconds must be 1–3600, --groups ≥ 4 and --users ≥ 4 × groups")
    with tempfile.TemporaryDirectory() as temporary:
        folder = args.keep or Path(temporary)
        folder.mkdir(parents=True, exist_ok=True)
        report = asyncio.run(
            soak(
                args.seconds,
                args.groups,
                args.users,
                args.membership_ttl,
                folder,
                p99_target=args.p99,
                floods=not args.no_flood,
            )
        )
    print_report(report)
    raise SystemExit(1 if report.missed else 0)


if __name__ == "__main__":
    main()
