// Real pusher-js clients whose auth requests go to a Python backend under test (pusherpy.publisher's
// broadcasting_routes), held open while pytest publishes with pusherpy's own publisher. One JSON line each:
//   {"type": "ready", "clients": {label: {socket_id, channels: {name: {subscribed, error?}}}}}
//   {"type": "event", client, channel, event, data}     every channel event (decrypted for encrypted channels)
// A refused subscription is reported in "ready" (with what pusher:subscription_error carried), not a failure.
// When stdin closes, it disconnects everyone and exits 0.
//
// argv[2]: {"endpoints": {channelEndpoint, userEndpoint},
//           "clients": [{"label", "token": bearer token or null, "channels": [names]}]}

import { Pusher, config, connected, deadline, pusherOptionsWith, runHeld } from '../lib/harness.mjs';

const print = (message) => process.stdout.write(JSON.stringify(message) + '\n');

function subscription(channel, name) {
  return deadline(
    new Promise((resolve) => {
      channel.bind('pusher:subscription_succeeded', () => resolve({ subscribed: true }));
      channel.bind('pusher:subscription_error', (error) => resolve({ subscribed: false, error }));
    }),
    `the outcome of subscribing to ${name}`,
  );
}

async function main() {
  const spec = JSON.parse(process.argv[2]);
  const clients = {};
  const ready = {};
  for (const { label, token, channels = [] } of spec.clients) {
    const headers = token ? { Authorization: `Bearer ${token}` } : {};
    const pusher = new Pusher(config.key, pusherOptionsWith(spec.endpoints, headers));
    clients[label] = pusher;
    const socketId = await connected(pusher, `${label}'s connection`);
    const outcomes = {};
    for (const name of channels) {
      const channel = pusher.subscribe(name);
      channel.bind_global((event, data) => {
        if (!event.startsWith('pusher:')) print({ type: 'event', client: label, channel: name, event, data });
      });
      outcomes[name] = await subscription(channel, name);
    }
    ready[label] = { socket_id: socketId, channels: outcomes };
  }
  print({ type: 'ready', clients: ready });
  process.stdin.resume();
  await new Promise((resolve) => process.stdin.on('end', resolve));
  for (const pusher of Object.values(clients)) pusher.disconnect();
}

runHeld(main, 'our_backend_listener.mjs');
