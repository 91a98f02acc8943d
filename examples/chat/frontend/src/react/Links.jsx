// The links to the user's conversations, the open one highlighted.
export function ConversationLinks({ all, current }) {
  return (
    <nav className="conversations">
      {all.map((c) => (
        <a key={c.id} href={`?conversation=${c.id}`} className={c.id === current ? "active" : ""}>
          {c.title}
        </a>
      ))}
    </nav>
  );
}
