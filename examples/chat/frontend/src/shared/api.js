// The backend's HTTP API, shared by the React page and the classic page.
// The token lives in sessionStorage: one login per tab, so two tabs can be two users.

const TOKEN_KEY = "chat-token";
const USER_KEY = "chat-user";

export function session() {
  const token = sessionStorage.getItem(TOKEN_KEY);
  const user = sessionStorage.getItem(USER_KEY);
  return token && user ? { token, user: JSON.parse(user) } : null;
}

export function logout() {
  sessionStorage.removeItem(TOKEN_KEY);
  sessionStorage.removeItem(USER_KEY);
}

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

async function request(method, path, { token, body } = {}) {
  const headers = { Accept: "application/json" };
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    if (response.status === 401 && token) logout(); // an old token (e.g. the server restarted): log in again
    throw new ApiError(response.status, data.error || `${method} ${path} failed with ${response.status}`);
  }
  return data;
}

export async function login(username, password) {
  const { token, user } = await request("POST", "/api/login", { body: { username, password } });
  sessionStorage.setItem(TOKEN_KEY, token);
  sessionStorage.setItem(USER_KEY, JSON.stringify(user));
  return { token, user };
}

export const demoUsers = () => request("GET", "/api/demo-users");
export const pusherConfig = () => request("GET", "/api/config").then((config) => config.pusher);
export const conversations = (token) => request("GET", "/api/conversations", { token });
export const messages = (token, conversationId) =>
  request("GET", `/api/conversations/${conversationId}/messages`, { token });
export const sendMessage = (token, conversationId, content) =>
  request("POST", `/api/conversations/${conversationId}/messages`, { token, body: { content } });

// The conversation the page opens: `{ conversation }`, the one ?conversation=ID names (else the first of `list`,
// the user's conversations), or `{ wanted, refused }`: the id the URL names and why the user cannot open it. The backend decides:
// it refuses a conversation's messages and channels to non-members (403) and knows no other ids (404).
export async function openConversation(token, list) {
  const wanted = new URLSearchParams(location.search).get("conversation");
  if (!wanted) return { conversation: list[0] || null };
  const conversation = list.find((c) => String(c.id) === wanted);
  if (conversation) return { conversation };
  try {
    await messages(token, encodeURIComponent(wanted));
  } catch (e) {
    if (e instanceof ApiError && (e.status === 403 || e.status === 404)) {
      return { wanted, refused: `You cannot open conversation ${wanted}: ${e.message}.` };
    }
    throw e;
  }
  return { wanted, refused: `Conversation ${wanted} is not in your list yet: reload the page to open it.` };
}
