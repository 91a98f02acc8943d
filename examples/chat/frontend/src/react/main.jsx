// The React page: log in, then configure Echo once (with the bearer token) and render the chat.
import { configureEcho, echo } from "@laravel/echo-react";
import { createRoot } from "react-dom/client";
import "../shared/chat.css";
import { pusherConfig, session } from "../shared/api.js";
import { echoOptions, positions } from "../shared/echo.js";
import { Chat } from "./Chat.jsx";
import { Login } from "./Login.jsx";

const root = createRoot(document.getElementById("root"));
const current = session();
if (current) {
  pusherConfig().then((pusher) => {
    configureEcho(echoOptions(pusher, current.token));
    window.Echo = echo(); // the instance the hooks use, for the devtools console (and the browser tests)
    positions.track(window.Echo.connector.pusher);
    root.render(<Chat session={current} />);
  });
} else {
  root.render(<Login onLogin={() => location.reload()} />);
}
