"""Who is in the playground: three people, two groups, and the demo pictures of the first.

Ada is the groups' admin, Ben a member of both, and Chen (who reads Chinese) is in the second
group only: the outsider of the first, whose private searches must never show its pictures.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image

from bot.playground.fake_telegram import Chat, FakeTelegram, User
from indexer.synthetic import ALL_SPECS, make_dataset

#: Demo pictures posted in the first group: two of each colour × shape, so every canonical
#: query ("a red circle", "一个蓝色的正方形") has answers at once.
DEMO_PICTURES = 2 * len(ALL_SPECS)
#: Pixels per side of a demo picture (the tiny model reads 48; the page shows them larger).
DEMO_PICTURE_SIZE = 192
DEMO_SEED = 20_261_202
#: Telegram's largest album.
ALBUM_SIZE = 10


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
    return Cast(people, [shapes, trip])


def post_demo_pictures(fake: FakeTelegram, cast: Cast) -> int:
    """Ada and Ben post the demo's pictures in the first group, as albums; returns how many."""
    group = cast.groups[0]
    drawn = make_dataset(DEMO_PICTURES, DEMO_SEED, DEMO_PICTURE_SIZE)
    pictures = [_jpeg(image) for image, _ in drawn]
    for number, start in enumerate(range(0, len(pictures), ALBUM_SIZE)):
        poster = cast.people[number % 2].user
        album = pictures[start : start + ALBUM_SIZE]
        fake.send_album(group, poster, album, caption=f"Shapes, part {number + 1}")
    return len(pictures)


def _jpeg(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()
