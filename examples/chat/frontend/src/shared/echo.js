// Laravel Echo's options for pusherpy. "reverb" is Echo's name for a self-hosted Pusher-protocol server:
// the Pusher connector without a cluster. The bearer token goes to /broadcasting/auth with every channel auth.
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
  };
}

export const conversationChannel = (id) => `conversation.${id}`; // private-conversation.{id}
export const presenceChannel = (id) => `conversation.${id}.presence`; // presence-conversation.{id}.presence
