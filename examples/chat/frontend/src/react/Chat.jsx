import { useEffect, useState } from "react";
import { conversations, logout, pickConversation } from "../shared/api.js";
import { Conversation } from "./Conversation.jsx";

export function Chat({ session }) {
  const [list, setList] = useState(null);
  const [error, setError] = useState(null);
  useEffect(() => {
    conversations(session.token).then(setList, (e) => setError(e.message));
  }, [session.token]);
  const leave = () => {
    logout();
    location.reload();
  };
  if (error) return <p className="notice">{error} <button onClick={leave}>Log in again</button></p>;
  if (!list) return <p className="notice">Loading…</p>;
  const current = pickConversation(list);
  return (
    <div className="chat">
      {current ? (
        <Conversation key={current.id} conversation={current} all={list} session={session} onLogout={leave} />
      ) : (
        <p className="notice">You are in no conversation.</p>
      )}
    </div>
  );
}
