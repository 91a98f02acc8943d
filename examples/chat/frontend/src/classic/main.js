// The classic page: no framework, just `window.Echo` as a Laravel app's resources/js/bootstrap.js sets it up,
// and DOM code calling Echo.private(...), Echo.join(...), listen, listenForWhisper and whisper.
import Echo from "laravel-echo";
import Pusher from "pusher-js";
import "../shared/chat.css";
import * as api from "../shared/api.js";
import { conversationChannel, echoOptions, needsReload, positions, presenceChannel } from "../shared/echo.js";
import { Timeline } from "../shared/timeline.js";
import { TypingTracker, typingWhisperer } from "../shared/typing.js";

window.Pusher = Pusher;
const $ = (id) => document.getElementById(id);

async function showLogin() {
  $("login").hidden = false;
  for (const user of await api.demoUsers()) {
    const button = document.createElement("button");
    button.dataset.login = user.id;
    const avatar = document.createElement("img");
    avatar.src = user.avatar;
    avatar.alt = "";
    button.append(avatar, user.name);
    button.addEventListener("click", () =>
      api.login(user.id, user.password).then(
        () => location.reload(),
        (e) => ($("login-error").textContent = e.message),
      ),
    );
    $("users").append(button);
  }
}

async function showChat({ token, user: me }) {
  window.Echo = new Echo(echoOptions(await api.pusherConfig(), token));
  positions.track(window.Echo.connector.pusher);
  const list = await api.conversations(token);
  const opened = await api.openConversation(token, list);
  const conversation = opened.conversation;
  $("chat").hidden = false;
  $("me").textContent = me.name;
  $("logout").addEventListener("click", () => {
    api.logout();
    location.reload();
  });
  for (const c of list) {
    const link = document.createElement("a");
    link.href = `?conversation=${c.id}`;
    link.textContent = c.title;
    if (c.id === conversation?.id) link.className = "active";
    $("conversations").append(link);
  }
  if (opened.refused) {
    // The URL names a conversation the backend will not open for this user: say so, instead of showing another.
    $("title").textContent = `Conversation ${opened.wanted}`;
    $("refused").textContent = opened.refused;
    $("refused").hidden = false;
    $("messages").hidden = true;
    $("composer-area").hidden = true;
    return;
  }
  if (!conversation) {
    $("title").textContent = "You are in no conversation.";
    return;
  }
  $("title").textContent = conversation.title;

  const timeline = new Timeline();
  const typing = new TypingTracker(renderTyping);
  const changed = (kind) => (payload) => {
    timeline.receive(kind, payload);
    if (kind === "created" && payload.user) typing.stopped(payload.user.id);
    renderMessages(timeline);
  };

  // Messages: subscribe first, then load the history; the timeline holds live events until it is in. After a
  // reconnect pusherpy replays what the page missed (the subscription resumed after its last serial), so the page
  // reloads only when it could not: a fresh subscription, or pusherpy:resume_failed.
  const channel = conversationChannel(conversation.id);
  const reload = async () => {
    const generation = timeline.beginLoad();
    const data = await api.messages(token, conversation.id);
    if (timeline.finishLoad(generation, data.messages)) renderMessages(timeline);
  };
  window.Echo.private(channel)
    .subscribed(() => {
      if (needsReload(channel)) reload();
    })
    .listen(".pusherpy:resume_failed", reload)
    .listen("MessageCreated", changed("created"))
    .listen("StreamingChunk", changed("chunk"))
    .listen("MessageCompleted", changed("completed"))
    .listen("StreamFailed", changed("failed"));

  // Presence and typing.
  const members = new Map();
  const room = window.Echo.join(presenceChannel(conversation.id))
    .here((users) => {
      members.clear();
      for (const user of users) members.set(String(user.id), user);
      renderPresence(members);
    })
    .joining((user) => {
      members.set(String(user.id), user);
      renderPresence(members);
    })
    .leaving((user) => {
      members.delete(String(user.id));
      renderPresence(members);
    })
    .listenForWhisper("typing", (whisper) => typing.seen(whisper));
  const whisperer = typingWhisperer((data) => room.whisper("typing", data), me);

  const input = $("composer");
  input.addEventListener("input", () => whisperer.typed());
  input.addEventListener("keydown", async (event) => {
    if (event.key !== "Enter" || event.shiftKey) return;
    event.preventDefault();
    const content = input.value.trim();
    if (!content) return;
    input.value = "";
    whisperer.sent();
    try {
      const { message, reply } = await api.sendMessage(token, conversation.id, content);
      timeline.receive("created", message);
      timeline.receive("created", reply);
      $("send-error").textContent = "";
      renderMessages(timeline);
    } catch (e) {
      $("send-error").textContent = e.message;
      input.value = content;
    }
  });

  function renderTyping() {
    $("typing").textContent = typing.label();
    $("typing").dataset.count = String(typing.users.size);
    $("typing").title = typing.names().join(", ");
  }
}

function renderPresence(members) {
  $("presence").replaceChildren(
    ...[...members.values()].map((user) => {
      const item = document.createElement("li");
      item.dataset.userId = user.id;
      item.title = user.name;
      const avatar = document.createElement("img");
      avatar.src = user.avatar;
      avatar.alt = user.name;
      item.append(avatar);
      return item;
    }),
  );
}

// Keyed rendering: one <li> per message id, updated in place, so a growing reply only changes its text.
const rendered = new Map();
function renderMessages(timeline) {
  const list = $("messages");
  const messages = timeline.list();
  for (const message of messages) {
    let item = rendered.get(message.id);
    if (!item) {
      item = messageElement(message);
      rendered.set(message.id, item);
    }
    item.className = `message ${message.role} ${message.status}`;
    item.dataset.status = message.status;
    item.querySelector(".content").textContent = message.content;
    item.querySelector(".dots").hidden = message.status !== "streaming";
    const error = item.querySelector(".error");
    error.hidden = message.status !== "failed";
    error.textContent = message.status === "failed" ? `The reply failed: ${message.error}` : "";
  }
  list.append(...messages.map((message) => rendered.get(message.id))); // in id order; moves, never copies
  list.lastElementChild?.scrollIntoView({ block: "end" });
}

function messageElement(message) {
  const item = document.createElement("li");
  item.dataset.messageId = message.id;
  item.dataset.role = message.role;
  item.innerHTML =
    '<img class="avatar" alt=""><div><div class="author"></div>' +
    '<div class="text"><span class="content"></span><span class="dots"> ●●●</span></div>' +
    '<div class="error" hidden></div></div>';
  item.querySelector(".avatar").src = message.user ? message.user.avatar : "/assistant.svg";
  item.querySelector(".author").textContent = message.user ? message.user.name : "Assistant";
  return item;
}

const current = api.session();
if (current) showChat(current);
else showLogin();
