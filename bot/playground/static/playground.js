// The playground page: act as one of the cast in a Telegram-like chat with the real bot.
// Messages come from /api/messages (long poll, numbered changes); actions go to /api/*.
// Everything is built with DOM calls (never innerHTML), so nobody's text can inject markup.
"use strict";

const state = {
  world: null,          // people, chats, bot, command menus (/api/world)
  me: null,             // the person acting now
  chatId: null,         // the open chat
  messages: new Map(),  // chat id → Map(message id → Bot API message)
  revision: 0,
  replyTo: null,        // message id the next message replies to
  files: [],            // pictures chosen for the next message
  inline: null,         // {query, offset, results} shown in the popup
};

const $ = (id) => document.getElementById(id);
const COLORS = ["#e17076", "#7bc862", "#65aadd", "#a695e7", "#ee7aae", "#6ec9cb", "#faa774"];

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "class") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (value !== undefined && value !== null) node.setAttribute(key, value);
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined && child !== false) {
      node.append(child instanceof Node ? child : String(child));
    }
  }
  return node;
}

function avatar(name, id) {
  const color = COLORS[Math.abs(Number(id)) % COLORS.length];
  return el("span", { class: "avatar", style: `background:${color}` }, (name || "?").slice(0, 1).toUpperCase());
}

function toast(text) {
  const box = $("toast");
  box.textContent = text;
  box.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { box.hidden = true; }, 3500);
}

async function api(path, body) {
  const options = body instanceof FormData
    ? { method: "POST", body }
    : body ? { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) } : {};
  const response = await fetch(path, options);
  const answer = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(answer.error || `${response.status} ${response.statusText}`);
  return answer;
}

// Who sees what

const PRESENT = new Set(["creator", "administrator", "member"]);

function visibleChats() {
  return state.world.chats.filter((chat) =>
    chat.type === "private" ? chat.id === state.me.id : PRESENT.has(chat.members[state.me.id]));
}

function chatName(chat) {
  return chat.type === "private" ? state.world.bot.first_name : chat.title;
}

function chatById(id) {
  return state.world.chats.find((chat) => chat.id === id);
}

// Rendering text with Telegram's entities (offsets are UTF-16 units, like JS strings)

const LINK = /(https?:\/\/[^\s]+)|(^|\s)(\/[a-z_]+)(?=\s|$)/g;

function linkified(text, isBot) {
  const parts = [];
  let last = 0;
  for (const match of text.matchAll(LINK)) {
    if (match[1]) {
      parts.push(text.slice(last, match.index), link(match[1], match[1]));
      last = match.index + match[0].length;
    } else if (isBot) {
      const start = match.index + match[2].length;
      parts.push(text.slice(last, start), el("span", { class: "cmd", onclick: () => fill(match[3] + " ") }, match[3]));
      last = start + match[3].length;
    }
  }
  parts.push(text.slice(last));
  return parts;
}

function link(url, label) {
  if (!/^(https?|tg):\/\//i.test(url)) return el("span", {}, label);  // no javascript: links
  return el("a", { href: url, target: "_blank", rel: "noopener", onclick: (event) => openLink(event, url) }, label);
}

const WRAPPERS = {
  bold: "b", italic: "i", underline: "u", strikethrough: "s", code: "code", pre: "pre", spoiler: "span", blockquote: "span",
};

function richText(text, entities, isBot) {
  if (!text) return null;
  const bounds = new Set([0, text.length]);
  for (const e of entities || []) { bounds.add(e.offset); bounds.add(e.offset + e.length); }
  const points = [...bounds].sort((a, b) => a - b);
  const out = el("div", { class: "text" });
  for (let i = 0; i < points.length - 1; i++) {
    const [start, end] = [points[i], points[i + 1]];
    const segment = text.slice(start, end);
    const active = (entities || []).filter((e) => e.offset <= start && e.offset + e.length >= end);
    let node = el("span", {}, ...(active.some((e) => e.type === "text_link") ? [segment] : linkified(segment, isBot)));
    for (const entity of active) {
      if (entity.type === "text_link") node = link(entity.url, node);
      else if (WRAPPERS[entity.type]) node = el(WRAPPERS[entity.type], {}, node);
    }
    out.append(node);
  }
  return out;
}

// t.me links to messages of the playground's chats open them here

function openLink(event, url) {
  const match = url.match(/^https:\/\/t\.me\/(?:c\/(\d+)|([A-Za-z0-9_]+))\/(\d+)/);
  if (!match) return;
  event.preventDefault();
  const chat = match[1]
    ? chatById(-Number("100" + match[1]))
    : state.world.chats.find((c) => c.username && c.username.toLowerCase() === match[2].toLowerCase());
  if (!chat || !visibleChats().includes(chat)) {
    toast(`${state.me.first_name} cannot open that message: not a member of its chat`);
    return;
  }
  openChat(chat.id, Number(match[3]));
}

// Messages

function fileUrl(photo, minSide = 320) {
  const size = photo.find((p) => Math.max(p.width, p.height) >= minSide) || photo[photo.length - 1];
  return `/file/${encodeURIComponent(size.file_id)}`;
}

function photoImg(photo, minSide) {
  const largest = photo[photo.length - 1];
  return el("img", { class: "photo", src: fileUrl(photo, minSide), width: largest.width, height: largest.height, alt: "photo", loading: "lazy" });
}

// position: "3 of 10" for a picture of an album, so a reply bar says which one is meant.
function preview(message, position) {
  if (!message) return "";
  if (message.text) return message.text;
  const kind = message.photo ? "Photo" : message.document ? "File " + (message.document.file_name || "")
    : message.sticker ? "Sticker " + (message.sticker.emoji || "") : message.video ? "Video"
    : message.animation ? "GIF" : message.video_note ? "Video message" : "Message";
  const label = position ? `${kind} ${position}` : kind;
  return message.caption ? `${label}: ${message.caption}` : label;
}

function senderName(message) {
  const from = message.from || {};
  return [from.first_name, from.last_name].filter(Boolean).join(" ");
}

function time(message) {
  return new Date(message.date * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

// Consecutive messages of one media group are shown as one album.
function blocks(messages) {
  const result = [];
  for (const message of messages) {
    const previous = result[result.length - 1];
    if (message.media_group_id && previous && previous[0].media_group_id === message.media_group_id) previous.push(message);
    else result.push([message]);
  }
  return result;
}

function renderBlock(block) {
  const first = block[0];
  const isBot = Boolean(first.from && first.from.is_bot);
  const own = first.from && first.from.id === state.me.id;
  const chat = chatById(first.chat.id);
  const bubble = el("div", { class: "bubble" });
  if (!own && chat.type !== "private") bubble.append(el("div", { class: "sender", style: `color:${COLORS[Math.abs(first.from.id) % COLORS.length]}` }, senderName(first), isBot ? el("span", { class: "badge" }, "bot") : null));
  if (first.reply_to_message) bubble.append(quote(first.reply_to_message));
  const captions = block.filter((m) => m.caption);
  if (block.length > 1 && isBot && captions.length > 1) {
    bubble.append(el("div", { class: "results" }, block.map((m, i) =>
      el("div", { class: "result", dataset: { messageId: m.message_id } }, mediaView(m), itemReply(m, i, block.length), richText(m.caption, m.caption_entities, true)))));
  } else if (block.length > 1) {
    bubble.append(el("div", { class: "album" }, block.map((m, i) =>
      el("div", { class: "album-item", dataset: { messageId: m.message_id } }, mediaView(m), itemReply(m, i, block.length)))));
    for (const m of captions) bubble.append(richText(m.caption, m.caption_entities, isBot));
  } else {
    if (first.photo) bubble.append(el("div", { class: "single" }, photoImg(first.photo, 320)));
    const clip = clipView(first);
    if (clip) bubble.append(el("div", { class: "single" }, clip));
    else if (first.document) bubble.append(documentView(first.document));
    bubble.append(richText(first.text, first.entities, isBot) || richText(first.caption, first.caption_entities, isBot) || "");
  }
  bubble.append(el("div", { class: "meta" }, first.edit_date ? "edited · " : "", time(first)));
  bubble.append(el("button", { class: "reply-btn", type: "button", title: "Reply", "aria-label": "Reply", onclick: () => startReply(first) }, "↩"));
  const stack = el("div", { class: "stack" }, bubble, keyboard(block[block.length - 1]));
  const ids = block.map((m) => m.message_id).join(" ");
  return el("div", { class: `row message${own ? " own" : ""}${isBot ? " from-bot" : ""}`, dataset: { messageId: first.message_id, messageIds: ids } },
    own ? null : avatar(first.from.first_name, first.from.id), stack);
}

function mediaView(message) {
  return message.photo ? photoImg(message.photo, 320) : clipView(message) || documentView(message.document);
}

// Videos, GIFs, round video messages and stickers, played as a Telegram app plays them: a
// video with its controls, the others silent and looping. A GIF is a picture; a still sticker
// too, shown as its emoji when the browser cannot draw it.
function clipView(message) {
  const src = (file) => `/file/${encodeURIComponent(file.file_id)}`;
  const loop = (file, extra) => el("video", { class: `photo clip${extra}`, src: src(file), autoplay: true, loop: true, muted: true, playsinline: true });
  if (message.video) return el("video", { class: "photo clip", src: src(message.video), controls: true, muted: true, preload: "metadata" });
  if (message.animation) {
    return message.animation.mime_type === "image/gif" ? el("img", { class: "photo", src: src(message.animation), alt: "GIF" }) : loop(message.animation, "");
  }
  if (message.video_note) return loop(message.video_note, " round");
  if (message.sticker) {
    if (message.sticker.is_video) return loop(message.sticker, " sticker");
    const emoji = el("div", { class: "text" }, `[sticker ${message.sticker.emoji || ""}]`);
    return el("img", { class: "photo sticker", src: src(message.sticker), alt: message.sticker.emoji || "sticker", onerror: (event) => event.target.replaceWith(emoji) });
  }
  return null;
}

// Each picture of an album is a message of its own: its own ↩ lets a person tag, forget or
// /similar the 2nd to 10th picture too (the bubble's ↩ replies to the first, as Telegram's).
function itemReply(message, index, count) {
  const position = `${index + 1} of ${count}`;
  return el("button", { class: "item-reply", type: "button", title: `Reply to picture ${position}`, "aria-label": `Reply to picture ${position}`, onclick: () => startReply(message, position) }, "↩");
}

// A file with a picture's name that no browser can draw (HEIC, a torn JPEG) shows as a file.
function documentView(document) {
  const file = el("div", { class: "doc" }, el("span", { class: "doc-icon" }, "FILE"), (document && document.file_name) || "File");
  if (document && /^image\//.test(document.mime_type || "")) {
    return el("img", { class: "photo", src: `/file/${encodeURIComponent(document.file_id)}`, alt: document.file_name || "file", onerror: (event) => event.target.replaceWith(file) });
  }
  return file;
}

function quote(replied) {
  return el("div", { class: "quote", dataset: { messageId: replied.message_id }, onclick: () => openChat(replied.chat.id, replied.message_id) },
    replied.photo ? el("img", { src: fileUrl(replied.photo, 90), alt: "" }) : null,
    el("div", {}, el("b", {}, senderName(replied)), preview(replied).slice(0, 80)));
}

function keyboard(message) {
  const rows = message.reply_markup && message.reply_markup.inline_keyboard;
  if (!rows) return null;
  return el("div", { class: "keyboard" }, rows.map((row) => el("div", { class: "keyboard-row" }, row.map((button) =>
    el("button", { type: "button", dataset: { callback: button.callback_data || "" }, onclick: (event) => press(message, button, event) }, button.text)))));
}

function renderChat() {
  const box = $("messages");
  const atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 80;
  const keep = box.scrollTop;
  const list = [...(state.messages.get(state.chatId) || new Map()).values()].sort((a, b) => a.message_id - b.message_id);
  box.replaceChildren();
  if (!list.length) box.append(el("div", { class: "empty" }, emptyHint()));
  for (const block of blocks(list)) box.append(renderBlock(block));
  const answers = [...box.querySelectorAll(".message.from-bot")].filter((row) => row.querySelector(".photo"));
  if (answers.length && state.world.model_note) answers[answers.length - 1].after(modelNote());
  box.scrollTop = atBottom || renderChat.jump ? box.scrollHeight : keep;
  renderChat.jump = false;
}

// Said once, beside the latest answer with pictures (and under inline results): the demo
// model scores every picture, even ones it cannot know, and a newcomer would trust the score.
function modelNote() {
  return el("div", { class: "model-note", role: "note" }, state.world.model_note.map((line) => el("div", {}, line)));
}

function emptyHint() {
  const chat = chatById(state.chatId);
  const tries = chat.tries.slice(0, 2).map((text) => `“${text.trim()}”`).join(" or ");
  return chat.type === "private"
    ? `Your private chat with the bot: any text is a search over your groups, any picture finds similar ones. Try ${tries}.`
    : "No messages yet. Post pictures (the clip button, or drop them here), then /search them.";
}

function renderChats() {
  const list = $("chats");
  list.replaceChildren();
  for (const chat of visibleChats()) {
    const messages = [...(state.messages.get(chat.id) || new Map()).values()];
    const last = messages.reduce((a, b) => (!a || b.message_id > a.message_id ? b : a), null);
    list.append(el("button", { type: "button", class: `chat-item${chat.id === state.chatId ? " active" : ""}`, dataset: { chatId: chat.id }, onclick: () => openChat(chat.id) },
      avatar(chatName(chat), chat.id),
      el("span", { class: "chat-text" },
        el("div", { class: "chat-name" }, chatName(chat), chat.type === "private" ? el("span", { class: "badge" }, "bot") : null),
        el("div", { class: "chat-preview" }, last ? `${last.from.is_bot ? "" : senderName(last) + ": "}${preview(last)}` : ""))));
  }
}

function renderHead() {
  const chat = chatById(state.chatId);
  const members = Object.entries(chat.members).filter(([id, status]) => PRESENT.has(status) && Number(id) !== state.world.bot.id);
  $("chat-title").textContent = chatName(chat);
  $("chat-sub").textContent = chat.type === "private"
    ? `private chat of ${state.me.first_name} with @${state.world.bot.username}`
    : `${members.length} members and @${state.world.bot.username} · type /search …, or @${state.world.bot.username} … for inline results`;
  const example = chat.tries.find((text) => !text.startsWith("/"));
  $("text").placeholder = chat.type !== "private" ? "Message or /command"
    : example ? `Search, e.g. ${example}` : "Search your groups' pictures";
}

// One click fills the composer with something worth trying in this chat: the server picks
// searches its own pictures can answer. One ending in a space leaves the words to the person.
function renderSuggestions() {
  const chat = chatById(state.chatId);
  $("suggestions").replaceChildren(el("span", {}, "Try"), ...chat.tries.map((text) =>
    el("button", { type: "button", onclick: () => fill(text) }, text.endsWith(" ") ? text + "…" : text)));
}

function renderPeople() {
  const nav = $("people");
  nav.replaceChildren(el("span", { class: "sr" }, "You are"));
  for (const person of state.world.people) {
    nav.append(el("button", { type: "button", class: `person${person.id === state.me.id ? " active" : ""}`, dataset: { userId: person.id }, title: `Act as ${person.first_name} (${person.role})`, onclick: () => switchPerson(person.id) },
      avatar(person.first_name, person.id), el("span", {}, person.first_name), el("span", { class: "role" }, person.role)));
  }
}

function render() {
  renderPeople();
  renderChats();
  renderHead();
  renderSuggestions();
  renderChat();
}

// Navigation

function switchPerson(id) {
  state.me = state.world.people.find((p) => p.id === id);
  localStorage.setItem("playground-person", String(id));
  cancelReply();
  closePopup();
  if (!visibleChats().some((c) => c.id === state.chatId)) state.chatId = visibleChats()[0].id;
  renderChat.jump = true;
  render();
}

function openChat(id, messageId) {
  if (id !== state.chatId) {
    state.chatId = id;
    cancelReply();
    closePopup();
    renderChat.jump = true;
    render();
  }
  if (messageId !== undefined) {
    const row = [...document.querySelectorAll(".message")].find((r) => r.dataset.messageIds.split(" ").includes(String(messageId)));
    if (row) {
      row.scrollIntoView({ block: "center" });
      row.classList.add("flash");
      setTimeout(() => row.classList.remove("flash"), 1600);
    }
  }
}

// Acting

function fill(text) {
  const box = $("text");
  box.value = text;
  box.focus();
  onTyping();
}

function startReply(message, position) {
  state.replyTo = message.message_id;
  $("reply-who").textContent = senderName(message);
  $("reply-text").textContent = preview(message, position);
  $("reply-chips").hidden = !(message.photo || message.document);
  $("reply-bar").hidden = false;
  $("text").focus();
}

function cancelReply() {
  state.replyTo = null;
  $("reply-bar").hidden = true;
}

function chooseFiles(files) {
  const pictures = [...files].filter((f) => f.type.startsWith("image/"));
  if (!pictures.length) { toast("Only pictures can be sent here"); return; }
  state.files = state.files.concat(pictures);
  const tray = $("attachments");
  tray.replaceChildren(...state.files.map((f) => el("img", { src: URL.createObjectURL(f), alt: f.name })));
  const n = state.files.length;
  $("attach-label").textContent = n === 1 ? "1 picture: the text you type is its caption"
    : `${n} pictures, sent as ${n > 10 ? Math.ceil(n / 10) + " albums" : "an album"}: the text you type is its caption`;
  $("attach-bar").hidden = false;
  $("text").focus();
}

function clearFiles() {
  state.files = [];
  $("attach-bar").hidden = true;
  $("file-input").value = "";
}

async function send(event) {
  event.preventDefault();
  const text = $("text").value.trim();
  const where = { user: state.me.id, chat: state.chatId };
  try {
    if (state.files.length) {
      const form = new FormData();
      for (const [key, value] of Object.entries(where)) form.append(key, value);
      form.append("caption", text);
      if (state.replyTo) form.append("reply_to", state.replyTo);
      for (const file of state.files) form.append("file", file, file.name);
      clearFiles();
      const answer = await api("/api/photos", form);
      if (answer.sent_as_files.length) toast(`${answer.sent_as_files.join(", ")}: not a picture the playground can read, so sent as a file`);
    } else if (text) {
      await api("/api/send", { ...where, text, reply_to: state.replyTo });
    } else {
      return;
    }
  } catch (error) {
    toast(error.message);
    return;
  }
  $("text").value = "";
  cancelReply();
  closePopup();
  renderChat.jump = true;
}

async function press(message, button, event) {
  if (button.url) { openLink(event, button.url); if (!event.defaultPrevented) window.open(button.url, "_blank", "noopener"); return; }
  event.target.disabled = true;
  try {
    const answer = await api("/api/press", { user: state.me.id, chat: message.chat.id, message_id: message.message_id, data: button.callback_data });
    if (answer.text) toast(answer.text);
  } catch (error) {
    toast(error.message);
  } finally {
    event.target.disabled = false;
  }
}

// The popup above the composer: command menu for "/", inline results for "@bot query"

function closePopup() {
  state.inline = null;
  $("popup").hidden = true;
}

function onTyping() {
  const box = $("text");
  box.style.height = "auto";
  box.style.height = Math.min(box.scrollHeight, 140) + "px";
  box.style.overflowY = box.scrollHeight > 140 ? "auto" : "hidden";
  const value = box.value;
  const mention = `@${state.world.bot.username} `;
  if (value.toLowerCase().startsWith(mention.toLowerCase())) {
    clearTimeout(onTyping.timer);
    onTyping.timer = setTimeout(() => inlineSearch(value.slice(mention.length).trim(), ""), 350);
  } else if (/^\/[a-z_]*$/.test(value)) {
    showCommands(value);
  } else {
    closePopup();
  }
}

function showCommands(prefix) {
  const chat = chatById(state.chatId);
  const scope = chat.type === "private" ? "all_private_chats" : "all_group_chats";
  const menus = state.world.commands.filter((m) => m.scope.type === scope);
  const menu = menus.find((m) => m.language === (state.me.language_code || "")) || menus.find((m) => m.language === "");
  const commands = (menu ? menu.commands : []).filter((c) => ("/" + c.command).startsWith(prefix));
  if (!commands.length) { closePopup(); return; }
  const popup = $("popup");
  popup.replaceChildren(el("div", { class: "popup-title" }, "Commands"), ...commands.map((c) =>
    el("button", { type: "button", class: "command", onclick: () => fill(`/${c.command} `) }, el("b", {}, "/" + c.command), c.description)));
  popup.hidden = false;
}

async function inlineSearch(query, offset) {
  if (!query) { closePopup(); return; }
  const asked = { user: state.me.id, chat: state.chatId, query, offset };
  let answer;
  try {
    answer = await api("/api/inline", asked);
  } catch (error) {
    toast(error.message);
    return;
  }
  const box = $("text").value.toLowerCase();
  if (!box.startsWith(`@${state.world.bot.username} `.toLowerCase())) return;
  const previous = offset && state.inline && state.inline.query === query ? state.inline.results : [];
  state.inline = { query, offset: answer.next_offset, results: previous.concat(answer.results) };
  const popup = $("popup");
  const grid = el("div", { class: "inline-grid" }, state.inline.results.map((r) =>
    el("button", { type: "button", class: "inline-result", title: r.caption || "", onclick: () => shareResult(r) },
      r.video_file_id ? el("video", { src: `/file/${encodeURIComponent(r.video_file_id)}`, muted: true, autoplay: true, loop: true, playsinline: true })
        : el("img", { src: `/file/${encodeURIComponent(inlineFileId(r))}`, alt: "" }),
      el("span", {}, (r.caption || r.title || "").split("\n")[0]))));
  const title = state.inline.results.length ? `Inline results for “${query}”: choose one to send it here` : `No inline results for “${query}”`;
  popup.replaceChildren(el("div", { class: "popup-title" }, title), grid);
  if (state.inline.results.length && state.world.model_note) popup.append(modelNote());
  if (answer.next_offset) {
    popup.append(el("button", { type: "button", class: "more-inline", onclick: () => inlineSearch(query, answer.next_offset) }, "More results"));
  }
  popup.hidden = false;
}

function inlineFileId(result) {
  return result.photo_file_id || result.document_file_id || result.video_file_id || result.gif_file_id || result.sticker_file_id;
}

async function shareResult(result) {
  try {
    await api("/api/share", { user: state.me.id, chat: state.chatId, file_id: inlineFileId(result), caption: result.caption || "" });
  } catch (error) {
    toast(error.message);
    return;
  }
  $("text").value = "";
  closePopup();
  renderChat.jump = true;
}

// News from the server

function apply(changes) {
  for (const change of changes) {
    if (!state.messages.has(change.chat_id)) state.messages.set(change.chat_id, new Map());
    const chat = state.messages.get(change.chat_id);
    if (change.message) chat.set(change.message_id, change.message);
    else chat.delete(change.message_id);
  }
}

async function poll() {
  for (;;) {
    try {
      const news = await api(`/api/messages?after=${state.revision}`);
      state.revision = news.revision;
      if (news.changes.length) {
        apply(news.changes);
        renderChats();
        if (news.changes.some((c) => c.chat_id === state.chatId)) renderChat();
      }
    } catch (error) {
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }
}

async function start() {
  state.world = await api("/api/world");
  const first = await api("/api/messages?after=0&wait=0");
  state.revision = first.revision;
  apply(first.changes);
  const saved = Number(localStorage.getItem("playground-person"));
  state.me = state.world.people.find((p) => p.id === saved) || state.world.people[0];
  state.chatId = visibleChats()[0].id;
  renderChat.jump = true;
  render();
  $("composer").addEventListener("submit", send);
  $("text").addEventListener("input", onTyping);
  $("text").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey) send(event);
    if (event.key === "Escape") { closePopup(); cancelReply(); }
  });
  $("file-input").addEventListener("change", (event) => chooseFiles(event.target.files));
  $("reply-cancel").addEventListener("click", cancelReply);
  $("attach-cancel").addEventListener("click", clearFiles);
  for (const chip of document.querySelectorAll("#reply-chips button")) chip.addEventListener("click", () => fill(chip.dataset.fill));
  const chat = $("chat");
  let depth = 0;
  chat.addEventListener("dragenter", (event) => { event.preventDefault(); depth++; $("drop").hidden = false; });
  chat.addEventListener("dragleave", () => { if (--depth <= 0) { depth = 0; $("drop").hidden = true; } });
  chat.addEventListener("dragover", (event) => event.preventDefault());
  chat.addEventListener("drop", (event) => {
    event.preventDefault();
    depth = 0;
    $("drop").hidden = true;
    chooseFiles(event.dataTransfer.files);
  });
  document.body.dataset.ready = "true";
  poll();
}

start().catch((error) => toast("The playground could not start: " + error.message));
