// Hold real pusher-js connections open while pytest drives the server with the PyPI SDK, and report what they
// see as it happens, one JSON line each:
//   {"type": "ready", "clients": {label: {socket_id, user_data}}}   once every client is connected/subscribed/signed in
//   {"type": "event", client, channel, event, data}                  every channel event (decrypted for encrypted)
//   {"type": "user_event", client, event, data}                      every server-to-user event
//   {"type": "state", client, previous, current}                     every connection state change
// When stdin closes, it disconnects everyone and exits 0.
//
// argv[2]: {"clients": [{"label", "user", "signin"?: bool, "channels": [names]}]}

import {
  Pusher, config, connected, pusherOptions, runHeld, signedIn, startAuthServer, subscribe,
} from '../lib/harness.mjs';

const print = (message) => process.stdout.write(JSON.stringify(message) + '\n');

async function main() {
  const spec = JSON.parse(process.argv[2]);
  const auth = await startAuthServer();
  const clients = {};
  const ready = {};
  for (const { label, user, signin = false, channels = [] } of spec.clients) {
    const pusher = new Pusher(config.key, pusherOptions(auth, { user, name: label }));
    clients[label] = pusher;
    pusher.connection.bind('state_change', ({ previous, current }) => print({ type: 'state', client: label, previous, current }));
    pusher.user.bind_global((event, data) => print({ type: 'user_event', client: label, event, data }));
    const socketId = await connected(pusher, `${label}'s connection`);
    for (const name of channels) {
      pusher.subscribe(name).bind_global((event, data) => {
        if (!event.startsWith('pusher:')) print({ type: 'event', client: label, channel: name, event, data });
      });
      await subscribe(pusher, name);
    }
    const userData = signin ? await signedIn(pusher, `${label}'s sign-in`) : null;
    ready[label] = { socket_id: socketId, user_data: userData };
  }
  print({ type: 'ready', clients: ready });
  process.stdin.resume();
  await new Promise((resolve) => process.stdin.on('end', resolve));
  for (const pusher of Object.values(clients)) pusher.disconnect();
  await auth.close();
}

runHeld(main, 'hold.mjs');
