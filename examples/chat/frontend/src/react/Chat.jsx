import { useEffect, useState } from "react";
import { conversations, logout, openConversation } from "../shared/api.js";
import { Conversation } from "./Conversation.jsx";
import { ConversationLinks } from "./Links.jsx";

export function Chat({ session }) {
  const [state, setState] = useState(null);
  const [error, setError] = useState(null);
  useEffect(() => {
    conversations(session.token)
      .then(async (list) => setState({ list, opened: await openConversation(session.token, list) }))
      .catch((e) => setError(e.message));
  }, [session.token]);
  const leave = () => {
    logout();
    location.reload();
  };
  if (error) return <p className="notice">{error} <button onClick={leave}>Log in again</button></p>;
  if (!state) return <p className="notice">Loading…</p>;
  const { list, opened } = state;
  const current = opened.conversation;
  return (
    <div className="chat">
      {opened.refused ? (
        <Refused opened={opened} all={list} me={session.user} onLogout={leave} />
      ) : current ? (
        <Conversation key={current.id} conversation={current} all={list} session={session} onLogout={leave} />
      ) : (
        <p className="notice">You are in no conversation.</p>
      )}
    </div>
  );
}

// The URL names a conversation the backend will not open for this user: say so, instead of showing another one.
function Refused({ opened, all, me, onLogout }) {
  return (
    <>
      <header>
        <h1>Conversation {opened.wanted}</h1>
        <ConversationLinks all={all} current={null} />
        <span className="who">
          {me.name}
          <button onClick={onLogout}>Log out</button>
        </span>
      </header>
      <p className="notice refused" role="alert">
        {opened.refused}
      </p>
    </>
  );
}
