"""Everything the bot says, in English and Chinese; handlers never hard-code a sentence.

A catalogue is one frozen :class:`Texts` per language, so a sentence missing from a language is
a ``TypeError`` at import, not a surprise in a chat. Templates use ``str.format`` fields.
People get the catalogue of their Telegram ``language_code``; anything but Chinese gets English.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Texts:
    """The bot's sentences in one language."""

    help_private: str
    help_group: str
    help_filters: str
    unknown_command: str
    search_usage: str
    similar_usage: str
    no_groups: str
    nothing_indexed: str
    no_match: str
    no_more: str
    query_too_long: str
    #: One line per kind of unreadable filter (indexer.records.ProblemKind), with {token}.
    filter_problems: dict[str, str]
    unknown_poster: str
    bad_image: str
    too_large: str
    slow_down: str
    results_footer: str
    more_button: str
    expired: str
    not_your_search: str
    caption: str
    caption_by_words: str
    moment: str
    matched: str
    matched_words: str
    someone: str
    groups_header: str
    all_groups_button: str
    scope_one: str
    scope_all: str
    not_a_member: str
    admin_only: str
    group_only: str
    reindex_started: str
    reindex_progress: str
    reindex_done: str
    reindex_running: str
    reindex_interrupted: str
    stats: str
    #: What /stats says of embedded pictures not read for words yet: queued, or not read
    #: at all because reading is off (``ocr.enabled = false``).
    words_waiting: str
    words_reading_off: str
    never: str
    forget_usage: str
    tag_usage: str
    tagged: str
    forget_not_allowed: str
    forget_nothing: str
    forgotten: str
    opted_out: str
    opted_in: str
    sorry: str
    private_commands: dict[str, str]
    group_commands: dict[str, str]


EN = Texts(
    help_private=(
        "I find pictures posted in your groups by what they show.\n\n"
        "• Send me a description (any language), e.g. “a red bicycle”.\n"
        "• Send me a photo to find similar ones.\n"
        "• /groups: choose which of your groups to search.\n"
        "• In any chat, type @{bot} and a description.\n\n"
        "I only search groups you are a member of."
    ),
    help_group=(
        "I index every picture posted here. To search:\n"
        "• /search <description> (or /s, or mention me with a description)\n"
        "• /similar as a reply to a photo, or as a photo's caption\n"
        "• /tag <words> as a reply to a picture: those words find it (names, places)\n"
        "• /forget as a reply to a picture removes it; /optout stops indexing yours "
        "(/optin undoes it)\n"
        "• /stats shows the index; admins can /reindex."
    ),
    help_filters=(
        "\n\nNarrow any search with filters:\n"
        "• from:@ben or from:Ben: who posted it (several: any of them)\n"
        "• after:2025-06-01, before:2025-09, on:2025-07-14 (days in UTC), last:7d "
        "(h, d, w, m, y)\n"
        "• kind:photo, kind:video, kind:gif, kind:sticker\n"
        "• sort:new: newest first among the good matches\n"
        "Filters alone list pictures, newest first: /search from:@ben last:7d\n"
        "A photo with words as its caption (/search at sunset), or /similar at sunset as a "
        "reply to one, finds pictures like it, changed as the words say."
    ),
    unknown_command="I don't know that command. Send me a description, or /help.",
    search_usage="Tell me what to look for, e.g. /search a red bicycle",
    similar_usage="Reply /similar to a photo, or send a photo with the caption /similar.",
    no_groups=(
        "None of your groups has pictures I have indexed yet. Add me to a group, or post "
        "pictures in one I am in, then ask me again."
    ),
    nothing_indexed="Nothing has been indexed here yet. Post some pictures first!",
    no_match="I found nothing that matches. Try describing it differently.",
    no_more="That's all I found.",
    query_too_long="Please describe it in at most {limit} characters.",
    filter_problems={
        "unknown_operator": (
            "I don't know the filter “{token}”. Filters: from: after: before: on: last: kind: "
            "sort:new (see /help)."
        ),
        "bad_date": "I can't read the date in “{token}”: write 2025-07-14, 2025-07 or 2025.",
        "bad_period": "I can't read the period in “{token}”: write last:7d, 12h, 2w, 3m or 1y.",
        "bad_kind": "“{token}”: the kinds are photo, video, gif and sticker.",
        "bad_sort": "“{token}”: the only other order is sort:new (newest first).",
        "empty": "“{token}” needs a value right after the colon, e.g. from:@ben or last:7d.",
        "no_dates": "“{token}” leaves no day between the dates: after: must come before before:.",
    },
    unknown_poster="Nobody called {name} has posted a picture here that I indexed.",
    bad_image="I couldn't read that picture. Try another one.",
    too_large="That file is too large for me to download.",
    slow_down="You're searching a bit fast. Try again in {seconds} s.",
    results_footer="Results {first}–{last}.",
    more_button="More",
    expired="This search has expired. Please search again.",
    not_your_search="This is someone else's search: search yourself to page through your own.",
    caption="#{rank} · score {score:.2f} · {poster} · {date}",
    caption_by_words="#{rank} · {poster} · {date}",
    moment="▶ at {at}",
    matched="🏷 {text}",
    matched_words="📝 '{text}'",
    someone="someone",
    groups_header="I search these groups of yours:\n{groups}\n\nTap one to search only there.",
    all_groups_button="All groups",
    scope_one="Now searching only in {title}.",
    scope_all="Now searching all your groups.",
    not_a_member="You're not a member of that group.",
    admin_only="Only admins of this group can do that.",
    group_only="Use this command in a group.",
    reindex_started="Reindexing started…",
    reindex_progress="Reindexing: {done}/{total} · {rate:.1f} pictures/s · about {eta} left",
    reindex_done="Reindex finished: {done} pictures in {elapsed}, {failed} failed.",
    reindex_running="A reindex of this group is already running.",
    reindex_interrupted="Reindex interrupted at {done}/{total}; run /reindex again.",
    stats=(
        "Pictures: {images}\nReposts: {reposts}\nTags: {tags}\nWaiting: {pending}\n"
        "Failed: {failed}\n"
        "Model: {model}\nIndex: {index_type}, {vectors} vectors, {size}\nLast indexed: {last}\n"
        "Read for words: {read} ({with_words} with words, {unread})\n"
        "Updates skipped as unstorable since the bot started: {poisoned}"
    ),
    words_waiting="{count} waiting",
    words_reading_off="{count} not read: reading is off",
    never="never",
    forget_usage="Reply /forget to the picture you want me to forget.",
    tag_usage=(
        "Reply /tag <words> to a picture, e.g. /tag People's Square, so those words find it."
    ),
    tagged="Tagged: “{tag}” now finds {count} picture(s).",
    forget_not_allowed="Only the person who posted it or an admin can do that.",
    forget_nothing="I have no picture of that message.",
    forgotten="Done: I forgot {count} picture(s).",
    opted_out=(
        "Done: I forgot {count} of your pictures here and won't index new ones. /optin undoes this."
    ),
    opted_in="OK: I'll index the pictures you post here again.",
    sorry="Sorry, something went wrong. Please try again later.",
    private_commands={
        "start": "How to search",
        "help": "How to search",
        "groups": "Choose which groups to search",
        "search": "Find pictures by description",
    },
    group_commands={
        "search": "Find pictures by description",
        "s": "Short for /search",
        "similar": "Find pictures similar to a photo",
        "stats": "What is indexed here",
        "tag": "Tag a picture with words (reply to it)",
        "forget": "Forget a picture (reply to it)",
        "optout": "Stop indexing my pictures",
        "optin": "Index my pictures again",
        "reindex": "Rebuild the index (admins)",
        "help": "How to search",
    },
)

ZH = Texts(
    help_private=(
        "我能按内容找到你的群组里发过的图片。\n\n"
        "• 发给我一段描述（任何语言），例如“一辆红色的自行车”。\n"
        "• 发给我一张照片，查找相似的图片。\n"
        "• /groups：选择要搜索的群组。\n"
        "• 在任何聊天中输入 @{bot} 加描述。\n\n"
        "我只搜索你所在的群组。"
    ),
    help_group=(
        "我会索引这里发的每一张图片。搜索方法：\n"
        "• /search <描述>（或 /s，或 @我 加描述）\n"
        "• 回复一张照片 /similar，或把 /similar 作为照片的说明\n"
        "• 回复图片 /tag <词语>：用这些词就能找到它（人名、地名）\n"
        "• 回复图片 /forget 删除它；/optout 不再索引你的图片（/optin 恢复）\n"
        "• /stats 查看索引；管理员可以 /reindex。"
    ),
    help_filters=(
        "\n\n可以用筛选条件缩小任何搜索范围：\n"
        "• 来自:@ben 或 来自:Ben：谁发的（可写多个，任一即可）\n"
        "• 之后:2025-06-01、之前:2025-09、日期:2025-07-14（按 UTC 日期），最近:7天"
        "（小时、天、周、月、年）\n"
        "• 类型:照片、类型:视频、类型:动图、类型:贴纸\n"
        "• 排序:最新：在相符的结果中最新的在前\n"
        "冒号可以是 : 或 ：，英文写法（from: after: …）也可以。\n"
        "只写筛选条件会按时间列出图片：/search 来自:@ben 最近:7天\n"
        "发一张照片并配上文字（/search 日落时），或回复一张照片 /similar 日落时，"
        "会找到与它相似、并按文字改变的图片。"
    ),
    unknown_command="我不认识这个命令。请发给我一段描述，或发送 /help。",
    search_usage="请告诉我要找什么，例如 /search 一辆红色的自行车",
    similar_usage="请回复一张照片 /similar，或发送一张说明为 /similar 的照片。",
    no_groups="你所在的群组里还没有我索引过的图片。请把我加入群组，或在我已加入的群组里发图片，然后再问我。",
    nothing_indexed="这里还没有索引任何图片。先发一些图片吧！",
    no_match="没有找到相符的图片。换个说法试试。",
    no_more="就这些了。",
    query_too_long="描述请不要超过 {limit} 个字符。",
    filter_problems={
        "unknown_operator": (
            "我不认识筛选条件“{token}”。可用的有：来自: 之后: 之前: 日期: 最近: 类型: 排序:最新"
            "（见 /help）。"
        ),
        "bad_date": "我读不懂“{token}”里的日期：请写成 2025-07-14、2025-07 或 2025。",
        "bad_period": "我读不懂“{token}”里的时间段：请写成 最近:7天、12小时、2周、3个月 或 1年。",
        "bad_kind": "“{token}”：类型只有 照片、视频、动图 和 贴纸。",
        "bad_sort": "“{token}”：另一种排序只有 排序:最新（最新的在前）。",
        "empty": "“{token}” 的冒号后面要紧跟一个值，例如 来自:@ben 或 之后:2025-06-01。",
        "no_dates": "“{token}” 之间没有一天：之后: 的日期要早于 之前: 的日期。",
    },
    unknown_poster="这里没有叫 {name} 的人发过我索引的图片。",
    bad_image="我读不了这张图片，换一张试试。",
    too_large="这个文件太大，我无法下载。",
    slow_down="你搜索得有点快，请 {seconds} 秒后再试。",
    results_footer="第 {first}–{last} 个结果。",
    more_button="更多",
    expired="这次搜索已过期，请重新搜索。",
    not_your_search="这是别人的搜索：请自己搜索，再翻看你自己的结果。",
    caption="#{rank} · 相似度 {score:.2f} · {poster} · {date}",
    caption_by_words="#{rank} · {poster} · {date}",
    moment="▶ {at} 处",
    matched="🏷 {text}",
    matched_words="📝 '{text}'",
    someone="某人",
    groups_header="我会搜索你的这些群组：\n{groups}\n\n点一个只在那里搜索。",
    all_groups_button="所有群组",
    scope_one="现在只在 {title} 中搜索。",
    scope_all="现在搜索你所有的群组。",
    not_a_member="你不是那个群组的成员。",
    admin_only="只有本群管理员可以这样做。",
    group_only="请在群组中使用这个命令。",
    reindex_started="开始重建索引…",
    reindex_progress="重建索引：{done}/{total} · 每秒 {rate:.1f} 张 · 约剩 {eta}",
    reindex_done="重建索引完成：{elapsed} 内处理 {done} 张图片，{failed} 张失败。",
    reindex_running="本群的索引已经在重建中。",
    reindex_interrupted="重建索引在 {done}/{total} 处中断；请再次发送 /reindex。",
    stats=(
        "图片：{images}\n重复转发：{reposts}\n标签：{tags}\n等待中：{pending}\n失败：{failed}\n"
        "模型：{model}\n索引：{index_type}，{vectors} 个向量，{size}\n最近索引：{last}\n"
        "已识别文字：{read} 张（{with_words} 张有文字，{unread}）\n"
        "本次启动以来无法保存而跳过的更新：{poisoned}"
    ),
    words_waiting="{count} 张等待中",
    words_reading_off="{count} 张未识别：文字识别已关闭",
    never="从未",
    forget_usage="请回复你要我删除的图片 /forget。",
    tag_usage="请回复一张图片 /tag <词语>，例如 /tag 人民广场，之后用这些词就能找到它。",
    tagged="已标记：“{tag}”现在能找到 {count} 张图片。",
    forget_not_allowed="只有发图的人或管理员可以这样做。",
    forget_nothing="那条消息没有我索引的图片。",
    forgotten="完成：已删除 {count} 张图片。",
    opted_out="完成：已删除你在这里的 {count} 张图片，以后不再索引。/optin 可以撤销。",
    opted_in="好的：我会重新索引你在这里发的图片。",
    sorry="抱歉，出了点问题。请稍后再试。",
    private_commands={
        "start": "使用说明",
        "help": "使用说明",
        "groups": "选择要搜索的群组",
        "search": "按描述查找图片",
    },
    group_commands={
        "search": "按描述查找图片",
        "s": "/search 的简写",
        "similar": "查找与照片相似的图片",
        "stats": "这里索引了什么",
        "tag": "给图片加标签（回复它）",
        "forget": "删除一张图片（回复它）",
        "optout": "不再索引我的图片",
        "optin": "重新索引我的图片",
        "reindex": "重建索引（管理员）",
        "help": "使用说明",
    },
)

#: Language codes with their own catalogue, for ``setMyCommands``; English is the default.
TRANSLATIONS: dict[str, Texts] = {"zh": ZH}


def texts_for(language_code: str | None) -> Texts:
    """The catalogue for a Telegram ``language_code`` such as "en", "zh-hans" or "zh-hant"."""
    base = (language_code or "").split("-")[0].lower()
    return TRANSLATIONS.get(base, EN)
