// pusherpy exact resume for the unmodified pusher-js 8 and Laravel Echo 2 (docs/history.md).
// pusher-js drops unknown fields of a frame, so the serials are read from the raw frames of its transport; the last
// one per channel goes to the backend's auth endpoint as `resume_after`, which signs it into the subscription.
export class ResumePositions {
  constructor() {
    this.serials = new Map(); // channel name -> the last serial this page has
    this.resuming = new Set(); // channels whose latest authorization asked to resume
  }

  // Read serials from `pusher`'s frames (for Echo: echo.connector.pusher), on this and every later connection.
  // Call it right after creating the client: its authorizations go through `pusher`.
  track(pusher) {
    this.pusher = pusher;
    let transport = null;
    const read = (message) => {
      let frame;
      try {
        frame = JSON.parse(message.data);
      } catch {
        return;
      }
      if (!frame || typeof frame.serial !== "number" || !frame.channel) return;
      // subscription_succeeded: where a new subscription starts; a resuming one already has its position
      if (frame.event === "pusher_internal:subscription_succeeded" && this.serials.has(frame.channel)) return;
      this.serials.set(frame.channel, frame.serial);
    };
    const bind = () => {
      const next = pusher.connection.connection && pusher.connection.connection.transport;
      if (next === transport) return;
      if (transport) transport.unbind("message", read);
      transport = next;
      if (transport) transport.bind("message", read);
    };
    pusher.connection.bind("connected", bind);
    bind();
    return this;
  }

  // Forget a channel's position (the page left it, or reloaded it from its own store).
  forget(channel) {
    this.serials.delete(channel);
    this.resuming.delete(channel);
  }

  // POST socket_id, channel_name and resume_after (when known) to `endpoint` with pusher-js's own request, so a
  // refusal reaches pusher:subscription_error (Echo's .error()) with its status, as without the helper.
  authorize(endpoint, headers, socketId, channel, callback) {
    let query = `socket_id=${encodeURIComponent(socketId)}&channel_name=${encodeURIComponent(channel)}`;
    const after = this.serials.get(channel);
    if (after === undefined) this.resuming.delete(channel);
    else {
      query += `&resume_after=${after}`;
      this.resuming.add(channel);
    }
    const Runtime = this.pusher.constructor.Runtime; // Pusher.Runtime: pusher-js's platform layer
    Runtime.getAuthorizers().ajax(Runtime, query, { endpoint, headers }, "ChannelAuthorization", callback);
  }

  // pusher-js: new Pusher(key, {channelAuthorization: {customHandler: positions.customHandler(endpoint, headers)}})
  customHandler(endpoint, headers = {}) {
    return ({ socketId, channelName }, callback) => this.authorize(endpoint, headers, socketId, channelName, callback);
  }

  // Laravel Echo: new Echo({..., authorizer: positions.echoAuthorizer()}); uses Echo's authEndpoint and auth.headers.
  echoAuthorizer() {
    return (channel, options) => ({
      authorize: (socketId, callback) =>
        this.authorize(options.authEndpoint, (options.auth || {}).headers || {}, socketId, channel.name, callback),
    });
  }
}
