import { useEffect, useState } from "react";
import { demoUsers, login } from "../shared/api.js";

// The login picker: one button per demo user (their demo passwords come from /api/demo-users).
export function Login({ onLogin }) {
  const [users, setUsers] = useState([]);
  const [error, setError] = useState(null);
  useEffect(() => {
    demoUsers().then(setUsers, (e) => setError(e.message));
  }, []);
  const pick = (user) => login(user.id, user.password).then(onLogin, (e) => setError(e.message));
  return (
    <main className="login">
      <h1>pusherpy chat</h1>
      <p>Log in as one of the demo users. Open another window as someone else to chat with them and the assistant.</p>
      <div className="users">
        {users.map((user) => (
          <button key={user.id} data-login={user.id} onClick={() => pick(user)}>
            <img src={user.avatar} alt="" />
            {user.name}
          </button>
        ))}
      </div>
      {error && <p className="error">{error}</p>}
      <p className="hint">React + @laravel/echo-react · <a href="/classic.html">classic JavaScript version</a></p>
    </main>
  );
}
