import { ResumePositions } from "./resume.js";

// The last serial this page has of each history channel (pusherpy keeps private-conversation.* events): sent as
// resume_after with every channel authorization, so after a reconnect pusherpy replays exactly what was missed.
export const positions = new ResumePositions();

// Laravel Echo's options for pusherpy. "reverb" is Echo's name for a self-hosted Pusher-protocol server:
// the Pusher connector without a cluster. The bearer token goes to /broadcasting/auth with every channel auth,
// through the resume helper's authorizer (which adds resume_after). Call positions.track(echo.connector.pusher)
// once Echo exists.
export function echoOptions(pusher, token) {
  return {
    broadcaster: "reverb",
    key: pusher.key,
    wsHost: pusher.wsHost || location.hostname,
    wsPort: pusher.wsPort,
    wssPort: pusher.wsPort,
    forceTLS: pusher.forceTLS,
    enabledTransports: ["ws", "wss"],
    bearerToken: token,
    authorizer: positions.echoAuthorizer(),
  };
}

export const conversationChannel = (id) => `conversation.${id}`; // private-conversation.{id}
export const presenceChannel = (id) => `conversation.${id}.presence`; // presence-conversation.{id}.presence

// Whether the page must (re)load a conversation from the backend when its channel's subscription succeeds: on the
// first subscription, and after any reconnect that did not resume through pusherpy's history (then pusherpy sends
// pusherpy:resume_failed when it cannot, and the page reloads on that instead).
export const needsReload = (channelName) => !positions.resuming.has(`private-${channelName}`);
