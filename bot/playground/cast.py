"""Who is in the playground: three people, two groups, and the demo pictures of the first.

Ada is the groups' admin, Ben a member of both, and Chen (who reads Chinese) is in the second
group only: the outsider of the first, whose private searches must never show its pictures.

Each chat also gets the "Try" chips the page offers, drawn from the pictures it holds: a chip
that searches a group for shapes it has never seen only teaches a newcomer that search fails.

Besides the shapes, the demo group gets a few pictures with words in them (a sign, a menu, a
screenshot, a meme): the bot reads them, so one chip searches by a word written on a picture.
The sign's Chinese needs a CJK font (fonts-wqy-zenhei); without one the sign is left out and
the chip searches an English word of the screenshot instead.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field

from PIL import Image

from bot.playground.fake_telegram import Chat, FakeTelegram, User
from bot.playground.fake_telegram.state import PRESENT_STATUSES
from indexer.ocr.samples import Style, cjk_font, lettered_picture
from indexer.synthetic import ALL_SPECS, ShapeSpec, make_dataset
from indexer.synthetic_clips import make_clip

#: Demo pictures posted in the first group: two of each colour × shape, so every canonical
#: query ("a red circle", "一个蓝色的正方形") has answers at once.
DEMO_PICTURES = 2 * len(ALL_SPECS)
#: Pixels per side of a demo picture (the tiny model reads 48; the page shows them larger).
DEMO_PICTURE_SIZE = 192
DEMO_SEED = 20_261_202
#: Telegram's largest album.
ALBUM_SIZE = 10
#: The first word of each demo album's caption ("Shapes, part 1"): ``/search shapes`` finds
#: the albums by their captions.
ALBUM_WORD = "Shapes"
#: The demo's clips, posted after the albums: what each shows after its dark first second, and
#: how it is sent (a video, a GIF). Their shapes are in the albums too, so a search for one
#: shows a clip among photos.
DEMO_CLIPS = (("orange_circle", "video"), ("green_triangle", "animation"))
#: Pictures with words in them, posted one by one after the albums (lines, style).
LETTERED: list[tuple[list[str], Style]] = [
    (["人民广场", "People's Square"], "sign"),
    (["MENU", "Noodles 12", "Dumplings 8", "Green tea 3"], "note"),
    (["Settings", "WiFi password: lemon", "Invoice #20931"], "screenshot"),
    (["WHEN THE TESTS", "PASS AT LAST"], "meme"),
]


def words_query() -> str:
    """What the words chip searches for: the sign's Chinese, or a word of the screenshot."""
    return "人民广场" if cjk_font() is not None else "lemon"


@dataclass(frozen=True)
class Person:
    """A playground user and the role the page shows beside their name."""

    user: User
    role: str


@dataclass(frozen=True)
class Cast:
    """The people and chats the page shows, in the order it shows them."""

    people: list[Person]
    groups: list[Chat]
    #: Chat id → what each of the page's "Try" chips fills in (groups and private chats).
    tries: dict[int, list[str]] = field(default_factory=dict)

    @property
    def demo_group(self) -> Chat:
        """The group the demo pictures are posted in."""
        return self.groups[0]


def build_cast(fake: FakeTelegram) -> Cast:
    """Creates the people, the two groups with their memberships, and everyone's private chat."""
    ada = fake.add_user("Ada", username="ada")
    ben = fake.add_user("Ben", username="ben")
    chen = fake.add_user("Chen", username="chen", language_code="zh")
    shapes = fake.add_group("Shapes club")
    trip = fake.add_group("Weekend trip")
    for group in (shapes, trip):
        fake.set_member(group, ada, "creator")
        fake.set_member(group, ben, "member")
    fake.set_member(trip, chen, "member")
    people = [Person(ada, "admin"), Person(ben, "member"), Person(chen, "outsider")]
    for person in people:
        fake.private_chat(person.user)
    cast = Cast(people, [shapes, trip])
    cast.tries.update({group.id: _group_tries(fake, cast, group) for group in cast.groups})
    cast.tries.update({p.user.id: _private_tries(fake, cast, p.user) for p in people})
    return cast


def _group_tries(fake: FakeTelegram, cast: Cast, group: Chat) -> list[str]:
    """The demo group's chips search for its shapes (English, Chinese, album captions, inline);
    another group starts empty, so its chips leave the words to whoever posts there."""
    bot = f"@{fake.bot_user.username}"
    if group.id != cast.demo_group.id:
        return ["/search ", f"{bot} ", "/stats", "/help"]
    red_circle, green_star = _spec("red_circle"), _spec("green_star")
    return [
        f"/search {red_circle.caption_en}",
        f"/search {red_circle.caption_zh}",
        f"/search {ALBUM_WORD.lower()}",
        f"/search {words_query()}",
        f"{bot} {green_star.caption_en}",
        "/stats",
    ]


def _private_tries(fake: FakeTelegram, cast: Cast, user: User) -> list[str]:
    """A private search covers the person's groups: shapes only for members of the demo group."""
    if fake.world.status(cast.demo_group.id, user.id) not in PRESENT_STATUSES:
        return ["/groups", "/help"]
    return [_spec("red_circle").caption_en, _spec("blue_square").caption_zh, "/groups", "/help"]


def _spec(slug: str) -> ShapeSpec:
    return next(spec for spec in ALL_SPECS if spec.slug == slug)


def post_demo_pictures(fake: FakeTelegram, cast: Cast) -> int:
    """Ada and Ben post the demo's pictures in the first group, the shapes as albums, then the
    pictures with words one by one, then Ben a short video and Ada a GIF; returns how many
    posts there are to index."""
    group = cast.demo_group
    drawn = make_dataset(DEMO_PICTURES, DEMO_SEED, DEMO_PICTURE_SIZE)
    pictures = [_jpeg(image) for image, _ in drawn]
    for number, start in enumerate(range(0, len(pictures), ALBUM_SIZE)):
        poster = cast.people[number % 2].user
        album = pictures[start : start + ALBUM_SIZE]
        fake.send_album(group, poster, album, caption=f"{ALBUM_WORD}, part {number + 1}")
    lettered = [
        (lines, style)
        for lines, style in LETTERED
        if cjk_font() is not None or all(line.isascii() for line in lines)
    ]
    for number, (lines, style) in enumerate(lettered):
        picture = lettered_picture(lines, style, seed=number, rotation=(1.5, -1, 0.5, -2)[number])
        fake.send_photo(group, cast.people[number % 2].user, _jpeg(picture))
    for number, (slug, kind) in enumerate(DEMO_CLIPS):
        gif = kind == "animation"
        clip = make_clip(_spec(slug), "gif" if gif else "mp4", size=DEMO_PICTURE_SIZE // 2)
        poster = cast.people[(number + 1) % 2].user
        mime = "image/gif" if gif else "video/mp4"
        fake.send_video(group, poster, clip, kind=kind, mime_type=mime)
    return len(pictures) + len(lettered) + len(DEMO_CLIPS)


def _jpeg(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()
