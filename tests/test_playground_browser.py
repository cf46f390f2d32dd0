"""The playground in a real browser: headless Chromium drives ``python -m bot playground``.

The playground runs as a user starts it (a subprocess, the offline demo model), and the page is
used as a person would: switch person, search in English and Chinese, upload pictures and find
them, press More, use inline mode, find the demo video by a description and play it at the
moment that matched, find a picture by the words written on it, and check that an outsider's
private search shows nothing of a group they are not in. Screenshots go to tests/output/playground/.

Chromium comes from the system (Debian: ``apt-get install chromium chromium-driver``; CI's
scripts/test.sh installs them); without it the test is skipped, except in CI (``CI=true``),
where it fails.
"""

from __future__ import annotations

import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import jpeg_bytes
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

from bot.playground.cast import words_query
from indexer.synthetic import ALL_SPECS, draw_shape

SCREENSHOTS = Path(__file__).parent / "output" / "playground"
#: Starting the playground loads the model and indexes the demo pictures: seconds, more on a
#: busy machine.
START_SECONDS = 240
#: The bot answers a search within a second here; generous for a loaded CI machine.
ANSWER_SECONDS = 60
RED_CIRCLE = next(spec for spec in ALL_SPECS if spec.slug == "red_circle")
PURPLE_STAR = next(spec for spec in ALL_SPECS if spec.slug == "purple_star")
#: The demo video's shape (bot/playground/cast.py DEMO_CLIPS): shown after a dark first second.
ORANGE_CIRCLE = next(spec for spec in ALL_SPECS if spec.slug == "orange_circle")


def _browser_binaries() -> tuple[str, str]:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if chromium and driver:
        return chromium, driver
    reason = "headless Chromium is missing: apt-get install chromium chromium-driver"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def playground(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``python -m bot playground --port 0`` in a temp folder; yields the page's address.

    Its output goes to a file (a pipe nobody reads would fill up and stall it).
    """
    folder = tmp_path_factory.mktemp("playground")
    log = folder / "output.log"
    with log.open("w") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "bot", "playground", "--port", "0", "--dir", str(folder)],
            stdout=output,
            stderr=subprocess.STDOUT,
            text=True,
        )
    try:
        yield _wait_for_address(process, log)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    assert process.returncode == 0, log.read_text()[-3000:]


def _wait_for_address(process: subprocess.Popen[str], log: Path) -> str:
    """Waits until the playground prints "ready: open http://…", and returns the address."""
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline and process.poll() is None:
        found = re.search(r"ready: open (http://127\.0\.0\.1:\d+)", log.read_text())
        if found:
            return found.group(1)
        time.sleep(0.1)
    pytest.fail(f"the playground was not ready in {START_SECONDS}s:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    chromium, driver = _browser_binaries()
    options = Options()
    options.binary_location = chromium
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--window-size=1280,800",
        "--lang=en",
    ):
        options.add_argument(argument)
    chrome = webdriver.Chrome(service=Service(driver), options=options)
    try:
        yield chrome
    finally:
        chrome.quit()


class Page:
    """The playground page as a person sees it, with waits on what the bot does.

    The page redraws a chat when news arrives, so elements are looked up afresh for every
    step: reads go through one script call (an atomic snapshot), clicks retry a stale element.
    """

    def __init__(self, browser: Any) -> None:
        self.browser = browser
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def wait(self, condition: Callable[[], Any], what: str, seconds: float = ANSWER_SECONDS) -> Any:
        return WebDriverWait(
            self.browser, seconds, ignored_exceptions=[StaleElementReferenceException]
        ).until(lambda _: condition(), message=f"waited {seconds}s for {what}")

    def texts(self, css: str) -> list[str]:
        """The visible text of every element matching ``css``, read in one go."""
        script = "return [...document.querySelectorAll(arguments[0])].map(e => e.innerText)"
        return list(self.browser.execute_script(script, css))

    def click(self, css: str, text: str) -> None:
        """Clicks the first element matching ``css`` whose text contains ``text``."""

        def clicked() -> bool:
            for element in self.browser.find_elements(By.CSS_SELECTOR, css):
                if text in element.text:
                    element.click()
                    return True
            return False

        self.wait(clicked, f"{css} with {text!r}")

    def act_as(self, name: str) -> None:
        self.click(".person", name)
        self.wait(lambda: name in self.texts(".person.active")[0], f"{name} to be active")

    def open_chat(self, title: str) -> None:
        self.click(".chat-item", title)
        self.wait(lambda: self.texts("#chat-title") == [title], title)

    def chats(self) -> list[str]:
        return self.texts(".chat-item .chat-name")

    def bot_rows(self) -> int:
        return len(self.texts(".message.from-bot"))

    def type(self, text: str) -> None:
        box = self.browser.find_element(By.ID, "text")
        box.clear()
        box.send_keys(text)

    def say(self, text: str) -> None:
        """Sends ``text`` (empty: what the composer holds) and waits for the bot's answer."""
        before = self.bot_rows()
        if text:
            self.type(text)
        self.browser.find_element(By.ID, "text").send_keys(Keys.ENTER)
        self.wait(lambda: self.bot_rows() > before, f"the bot's answer to {text!r}")

    def results_after(self, text: str) -> list[str]:
        """Sends a search and returns the captions of the pictures the bot answers with."""
        pictures = ".from-bot .result, .from-bot .single"
        before = len(self.texts(pictures))
        self.say(text)
        self.wait(lambda: len(self.texts(pictures)) > before, f"pictures answering {text!r}")
        return self.captions()

    def captions(self) -> list[str]:
        """The captions of the bot's latest pictures (an album or a single photo)."""
        script = """
            const rows = [...document.querySelectorAll('.message.from-bot')]
                .filter(row => row.querySelector('.photo'));
            const last = rows[rows.length - 1];
            return last ? [...last.querySelectorAll('.text')].map(e => e.innerText) : [];
        """
        return list(self.browser.execute_script(script))

    def viewport(self, width: int, height: int) -> None:
        """Sizes the page itself (not the window around it) to ``width`` × ``height``."""
        chrome = self.browser.execute_script(
            "return [outerWidth - innerWidth, outerHeight - innerHeight]"
        )
        self.browser.set_window_size(width + chrome[0], height + chrome[1])

    def shot(self, name: str) -> None:
        self.browser.save_screenshot(str(SCREENSHOTS / f"{name}.png"))


def test_playground_in_a_browser(browser: Any, playground: str, tmp_path: Path) -> None:
    page = Page(browser)
    browser.get(playground)
    page.viewport(1280, 800)
    page.wait(
        lambda: browser.find_element(By.TAG_NAME, "body").get_attribute("data-ready"), "the page"
    )
    page.act_as("Ada")
    assert page.chats()[:2] == ["Shapes club", "Weekend trip"]
    assert page.chats()[2].startswith("CLIP Search")
    page.shot("01-start")

    # English: the demo's red circles come first, with rank, score, poster and link.
    page.open_chat("Shapes club")
    captions = page.results_after("/search a red circle")
    assert captions[0].startswith("#1 · score ")
    assert "https://t.me/c/" in captions[0]
    page.shot("02-search-english")

    # Chinese, the same pictures.
    chinese = page.results_after("/search " + RED_CIRCLE.caption_zh)
    assert {c.splitlines()[-1] for c in chinese[:2]} == {c.splitlines()[-1] for c in captions[:2]}

    # More: "shapes" matches the six album captions, one more than a page.
    page.say("/search shapes")
    page.wait(lambda: "More" in page.texts(".keyboard button"), "the More button")
    assert not any(text.startswith("#6 ") for text in page.texts(".from-bot .text"))
    page.click(".keyboard button", "More")
    page.wait(lambda: any(t.startswith("#6 ") for t in page.texts(".from-bot .text")), "#6")
    page.shot("03-more")

    # A reply to a demo picture with /similar answers with pictures.
    browser.execute_script(
        "document.querySelector('.message[data-message-id=\"1\"] .reply-btn').click()"
    )
    page.wait(lambda: page.texts("#reply-bar .bar-label"), "the reply bar")
    page.click("#reply-chips button", "/similar")
    similar = page.results_after("")
    assert similar[0].startswith("#1 ")
    assert page.texts(".message.own .quote")[-1].startswith("Ada")

    # Inline mode lists results above the composer.
    page.type("@clip_search_bot a red circle")
    page.wait(lambda: page.texts(".inline-result"), "inline results")
    page.shot("04-inline")
    page.type("")

    # Ben uploads two pictures as an album in the empty second group, then finds the star.
    page.act_as("Ben")
    page.open_chat("Weekend trip")
    star, circle = tmp_path / "star.jpg", tmp_path / "circle.jpg"
    for path, spec in ((star, PURPLE_STAR), (circle, RED_CIRCLE)):
        path.write_bytes(jpeg_bytes(draw_shape(spec, random.Random(7), 256)))
    browser.find_element(By.ID, "file-input").send_keys(f"{star}\n{circle}")
    page.type("our trip")
    browser.find_element(By.ID, "send").click()
    page.wait(lambda: page.texts(".message.own .album"), "the album")
    star_id = browser.execute_script(
        "const own = document.querySelectorAll('.message.own');"
        "return own[own.length - 1].dataset.messageId"
    )
    found = page.results_after("/search " + PURPLE_STAR.caption_en)
    assert found[0].startswith("#1 ")
    assert found[0].rstrip().endswith(f"/{star_id}"), found
    page.shot("05-upload-and-find")

    # Chen, the outsider of Shapes club: their private search shows nothing of it.
    page.act_as("Chen")
    assert "Shapes club" not in page.chats()
    page.open_chat("CLIP Search")
    shapes_link = captions[0].splitlines()[-1].rsplit("/", 1)[0]
    page.say(RED_CIRCLE.caption_en)
    texts = page.texts(".from-bot .text")
    assert texts
    assert not any(shapes_link in text for text in texts)
    page.shot("06-outsider-private")

    # /groups offers a button per group; pressing one edits that message in place.
    page.say("/groups")
    page.click(".keyboard button", "Weekend trip")
    page.wait(lambda: not page.texts(".keyboard button"), "the buttons to go")
    assert "edited" in page.texts(".from-bot .meta")[-1]
    assert "Weekend trip" in page.texts(".from-bot .text")[-1]

    page.viewport(400, 800)
    page.act_as("Ada")
    page.open_chat("Shapes club")
    page.shot("07-narrow")


def _hover_click(page: Page, css: str) -> None:
    """Points at the element holding ``css``'s button, as a person's mouse does, and clicks
    it (album pictures show their own ↩ only under the pointer)."""

    def clicked() -> bool:
        button = page.browser.find_element(By.CSS_SELECTOR, css)
        ActionChains(page.browser).move_to_element(button.find_element(By.XPATH, "..")).perform()
        page.wait(button.is_displayed, f"{css} under the pointer", seconds=5)
        button.click()
        return True

    page.wait(clicked, css)


def _model_notes(page: Page) -> list[Any]:
    """[how many notes the chat shows, whether one follows the latest answer with pictures,
    its text]."""
    script = """
        const notes = document.querySelectorAll('#messages .model-note');
        const rows = [...document.querySelectorAll('#messages .message.from-bot')]
            .filter(row => row.querySelector('.photo'));
        const note = notes[notes.length - 1];
        const follows = Boolean(note) && note.previousElementSibling === rows[rows.length - 1];
        return [notes.length, follows, note ? note.innerText : ''];
    """
    return list(page.browser.execute_script(script))


def test_what_a_newcomer_ran_into(browser: Any, playground: str, tmp_path: Path) -> None:
    """Issue 22, item 6: each album picture is repliable, the demo model's limits are said
    beside the results, each chat's chips fit its pictures, a file that is no picture keeps
    its caption."""
    page = Page(browser)
    browser.get(playground)
    page.viewport(1280, 800)
    page.wait(lambda: browser.find_element(By.TAG_NAME, "body").get_attribute("data-ready"), "page")

    # Chips: the demo group searches for its shapes, the empty trip group for nothing given.
    page.act_as("Ada")
    page.open_chat("Shapes club")
    shapes_chips = page.texts("#suggestions button")
    assert "/search a red circle" in shapes_chips
    page.open_chat("Weekend trip")
    trip_chips = page.texts("#suggestions button")
    assert trip_chips and "/search …" in trip_chips
    assert not any(word in " ".join(trip_chips) for word in ("red", "circle", "star", "红色"))
    page.shot("08-trip-chips")
    page.act_as("Chen")
    page.open_chat("CLIP Search")
    chens = page.texts("#suggestions button")
    assert not any("circle" in chip or "正方形" in chip for chip in chens), chens

    # The third picture of the first album, replied to on its own, answers /similar.
    page.act_as("Ada")
    page.open_chat("Shapes club")
    _hover_click(page, '.album-item[data-message-id="3"] .item-reply')
    assert page.texts("#reply-text") == ["Photo 3 of 10"]
    page.click("#reply-chips button", "/similar")
    assert page.results_after("")[0].startswith("#1 ")
    quoted = browser.execute_script(
        "const q = document.querySelectorAll('.message.own .quote');"
        "return q[q.length - 1].dataset.messageId"
    )
    assert quoted == "3"

    # The note on the demo model: once, beside the latest answer, in English and Chinese.
    count, follows, text = _model_notes(page)
    assert (count, follows) == (1, True)
    assert "coloured shapes" in text and "彩色形状" in text
    page.results_after("/search " + PURPLE_STAR.caption_en)
    assert _model_notes(page)[:2] == [1, True]
    page.shot("09-album-reply-and-note")

    # A file no decoder reads goes as a file, with its caption, and the person is told.
    page.act_as("Ben")
    page.open_chat("Weekend trip")
    torn = tmp_path / "route.jpg"
    torn.write_bytes(b"\xff\xd8\xff\xe0 not really a picture" + bytes(300))
    browser.find_element(By.ID, "file-input").send_keys(str(torn))
    page.type("our walk")
    browser.find_element(By.ID, "send").click()
    page.wait(lambda: "sent as a file" in " ".join(page.texts("#toast")), "the toast")
    page.wait(lambda: page.texts(".message.own .doc"), "the file")
    own = page.texts(".message.own .bubble")[-1]
    assert "route.jpg" in own and "our walk" in own, own
    page.shot("10-file-with-caption")


#: The latest answer's videos: [readyState, duration, the caption of the result it is in].
_VIDEO_RESULTS = """
    const rows = [...document.querySelectorAll('.message.from-bot')]
        .filter(row => row.querySelector('.photo'));
    const last = rows[rows.length - 1];
    if (!last) return [];
    return [...last.querySelectorAll('video')].map(video => {
        const text = (video.closest('.result') || video.closest('.bubble')).querySelector('.text');
        return [video.readyState, video.duration || 0, text ? text.innerText : ''];
    });
"""
#: Shows the latest answer's first video at ``arguments[0]`` seconds, as a person dragging its
#: slider there; true once the browser has decoded the frame there.
_SHOW_MOMENT = """
    const rows = [...document.querySelectorAll('.message.from-bot')]
        .filter(row => row.querySelector('.photo'));
    const video = rows[rows.length - 1].querySelector('video');
    if (video.readyState >= 1 && !video.seeking && video.currentTime < arguments[0]) {
        video.currentTime = arguments[0];
    }
    video.scrollIntoView({block: 'center'});
    return video.readyState >= 2 && !video.seeking && video.currentTime >= arguments[0];
"""


def test_clips_and_words_in_a_browser(browser: Any, playground: str) -> None:
    """A description finds the demo video, which the page loads and plays at the moment its
    caption says matched; the words chip finds the picture with those words, said with 📝."""
    page = Page(browser)
    browser.get(playground)
    page.viewport(1280, 800)
    page.wait(lambda: browser.find_element(By.TAG_NAME, "body").get_attribute("data-ready"), "page")
    page.act_as("Ada")
    page.open_chat("Shapes club")

    # The video: among the results, a <video> the browser loaded, matched past its dark second.
    page.results_after("/search an orange circle")

    def loaded() -> list[Any]:
        videos = list(browser.execute_script(_VIDEO_RESULTS))
        return [v for v in videos if v[0] >= 1 and v[1] > 0]

    caption = page.wait(loaded, "the video result to load")[0][2]
    moment = re.search(r"▶ at (\d\d):(\d\d)", caption)
    assert moment, caption
    seconds = 60 * int(moment.group(1)) + int(moment.group(2))
    assert seconds > 0, caption
    assert "https://t.me/c/" in caption
    page.wait(lambda: browser.execute_script(_SHOW_MOMENT, seconds), "the video at its moment")
    page.shot("11-video-result")

    # Words in a picture: the chip searches a word written on one, the caption quotes them.
    query = words_query()
    page.click("#suggestions button", f"/search {query}")
    assert browser.find_element(By.ID, "text").get_attribute("value") == f"/search {query}"
    captions = page.results_after("")
    worded = [c for c in captions if "📝" in c]
    assert worded and query in worded[0], captions
    browser.execute_script(
        "const rows = document.querySelectorAll('.message.from-bot .results');"
        "rows[rows.length - 1].scrollIntoView({block: 'start'})"
    )
    page.shot("12-words-in-pictures")
