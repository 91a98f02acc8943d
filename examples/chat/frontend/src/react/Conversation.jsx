import { useEcho, useEchoPresence } from "@laravel/echo-react";
import { useCallback, useEffect, useMemo, useReducer, useRef, useState } from "react";
import { messages as loadMessages, sendMessage } from "../shared/api.js";
import { conversationChannel, needsReload, presenceChannel } from "../shared/echo.js";
import { Timeline } from "../shared/timeline.js";
import { TypingTracker, typingWhisperer } from "../shared/typing.js";
import { ConversationLinks } from "./Links.jsx";

// One conversation: its messages (private channel) and who is here and typing (presence channel).
export function Conversation({ conversation, all, session, onLogout }) {
  const { token, user: me } = session;
  const [, rerender] = useReducer((n) => n + 1, 0);
  const timeline = useRef(new Timeline()).current;
  const typing = useMemo(() => new TypingTracker(rerender), []);
  useEffect(() => () => typing.dispose(), [typing]);

  // Messages. Echo prefixes "App.Events", so "MessageCreated" binds App\Events\MessageCreated. The history is
  // loaded when the subscription succeeds (events meanwhile wait). After a reconnect pusherpy replays what the page
  // missed, so it reloads only when that was not possible: a fresh subscription, or pusherpy:resume_failed.
  const channel = conversationChannel(conversation.id);
  const reload = useCallback(async () => {
    const generation = timeline.beginLoad();
    const data = await loadMessages(token, conversation.id);
    if (timeline.finishLoad(generation, data.messages)) rerender();
  }, [timeline, token, conversation.id]);
  const subscribed = useCallback(() => needsReload(channel) && reload(), [channel, reload]);
  useEcho(channel, ".pusher:subscription_succeeded", subscribed, [subscribed]);
  useEcho(channel, ".pusherpy:resume_failed", reload, [reload]);
  const live = (kind) => (payload) => {
    timeline.receive(kind, payload);
    if (kind === "created" && payload.user) typing.stopped(payload.user.id);
    rerender();
  };
  useEcho(channel, "MessageCreated", live("created"), []);
  useEcho(channel, "StreamingChunk", live("chunk"), []);
  useEcho(channel, "MessageCompleted", live("completed"), []);
  useEcho(channel, "StreamFailed", live("failed"), []);

  // Presence: the avatars of everyone with this conversation open, and their typing whispers.
  const presence = presenceChannel(conversation.id);
  const [members, setMembers] = useState([]);
  const here = useEchoPresence(
    presence,
    ".pusher:subscription_succeeded",
    (present) => setMembers(Object.values(present.members)),
    [],
  );
  useEchoPresence(
    presence,
    ".pusher:member_added",
    (member) => setMembers((list) => [...list.filter((u) => u.id !== member.info.id), member.info]),
    [],
  );
  useEchoPresence(
    presence,
    ".pusher:member_removed",
    (member) => setMembers((list) => list.filter((u) => String(u.id) !== String(member.id))),
    [],
  );
  useEchoPresence(presence, ".client-typing", (whisper) => typing.seen(whisper), [typing]);
  const whisperer = useMemo(
    () => typingWhisperer((data) => here.channel()?.whisper("typing", data), me),
    [here, me],
  );

  const [draft, setDraft] = useState("");
  const [error, setError] = useState(null);
  const send = async () => {
    const content = draft.trim();
    if (!content) return;
    setDraft("");
    whisperer.sent();
    try {
      const { message, reply } = await sendMessage(token, conversation.id, content);
      timeline.receive("created", message);
      timeline.receive("created", reply);
      setError(null);
      rerender();
    } catch (e) {
      setError(e.message);
      setDraft(content);
    }
  };

  const list = timeline.list();
  const bottom = useRef(null);
  useEffect(() => {
    bottom.current?.scrollIntoView({ block: "end" }); // braces: scrollIntoView may return a promise
  });

  return (
    <>
      <header>
        <h1>{conversation.title}</h1>
        <ConversationLinks all={all} current={conversation.id} />
        <ul className="presence" aria-label="Here now">
          {members.map((member) => (
            <li key={member.id} data-user-id={member.id} title={member.name}>
              <img src={member.avatar} alt={member.name} />
            </li>
          ))}
        </ul>
        <span className="who">
          {me.name}
          <button onClick={onLogout}>Log out</button>
        </span>
      </header>
      <ul className="messages">
        {list.map((message) => (
          <Message key={message.id} message={message} />
        ))}
        <li ref={bottom} />
      </ul>
      <footer className="composer">
        <div id="typing" className="typing" data-count={typing.users.size} title={typing.names().join(", ")}>
          {typing.label()}
        </div>
        {error && <div className="error">{error}</div>}
        <input
          id="composer"
          value={draft}
          placeholder="Write a message and press Enter"
          autoComplete="off"
          onChange={(event) => {
            setDraft(event.target.value);
            whisperer.typed();
          }}
          onKeyDown={(event) => {
            if (event.key === "Enter" && !event.shiftKey) {
              event.preventDefault();
              send();
            }
          }}
        />
      </footer>
    </>
  );
}

function Message({ message }) {
  const { id, role, status, content, user, error } = message;
  return (
    <li className={`message ${role} ${status}`} data-message-id={id} data-role={role} data-status={status}>
      <img className="avatar" src={user ? user.avatar : "/assistant.svg"} alt="" />
      <div>
        <div className="author">{user ? user.name : "Assistant"}</div>
        <div className="text">
          <span className="content">{content}</span>
          {status === "streaming" && <span className="dots"> ●●●</span>}
        </div>
        {status === "failed" && <div className="error">The reply failed: {error}</div>}
      </div>
    </li>
  );
}
