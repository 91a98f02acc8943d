// Real pusher-js and Laravel Echo clients on history channels, through a relay pytest can cut, authorized by a
// Python backend (pusherpy.publisher's broadcasting_routes). Clients with "resume": true use the documented helper
// (examples/chat/frontend/src/shared/resume.js, the copy docs/history.md shows); the others are plain pusher-js.
// Held open while pytest publishes and cuts; one JSON line each:
//   {"type": "subscribed", client, channel, count, resuming}   every pusher:subscription_succeeded (count: 1, 2...)
//   {"type": "event", client, channel, event, data}              every channel event the app's handlers get
//   {"type": "state", client, current}                            connection state changes
// When stdin closes, it disconnects everyone and exits 0.
//
// argv[2]: {"endpoints": {channelEndpoint, userEndpoint}, "token", "port": the relay's port,
//           "clients": [{"label", "kind": "pusher" | "echo", "resume": bool, "channel": "private-...",
//                        "listen": Echo listen() names, default [".message"]}]}

import { Echo, Pusher, config, pusherOptionsWith, runHeld } from '../lib/harness.mjs';
import { ResumePositions } from '../../../examples/chat/frontend/src/shared/resume.js';

const print = (message) => process.stdout.write(JSON.stringify(message) + '\n');

function pusherClient(spec, client, positions) {
  const headers = { Authorization: `Bearer ${spec.token}` };
  const options = { ...pusherOptionsWith(spec.endpoints, headers), wsPort: spec.port };
  if (positions) options.channelAuthorization = { customHandler: positions.customHandler(spec.endpoints.channelEndpoint, headers) };
  const pusher = new Pusher(config.key, options);
  const channel = pusher.subscribe(client.channel);
  channel.bind_global((event, data) => {
    if (!event.startsWith('pusher:')) print({ type: 'event', client: client.label, channel: client.channel, event, data });
  });
  return { pusher, channel, disconnect: () => pusher.disconnect() };
}

function echoClient(spec, client, positions) {
  const options = {
    broadcaster: 'reverb',
    Pusher,
    key: config.key,
    wsHost: config.host,
    wsPort: spec.port,
    forceTLS: false,
    enabledTransports: ['ws'],
    disableStats: true,
    authEndpoint: spec.endpoints.channelEndpoint,
    bearerToken: spec.token,
  };
  if (positions) options.authorizer = positions.echoAuthorizer();
  const echo = new Echo(options);
  const name = client.channel.replace(/^private-/, '');
  const channel = echo.private(name);
  // '.message' is the raw name; 'MessageCreated' is Echo's namespaced App\\Events\\MessageCreated
  for (const event of client.listen || ['.message']) {
    channel.listen(event, (data) => print({ type: 'event', client: client.label, channel: client.channel, event, data }));
  }
  channel.listen('.pusherpy:resume_failed', (data) =>
    print({ type: 'event', client: client.label, channel: client.channel, event: 'pusherpy:resume_failed', data }),
  );
  return { pusher: echo.connector.pusher, channel: channel.subscription, disconnect: () => echo.disconnect() };
}

async function main() {
  const spec = JSON.parse(process.argv[2]);
  const running = [];
  for (const client of spec.clients) {
    const positions = client.resume ? new ResumePositions() : null;
    const made = client.kind === 'echo' ? echoClient(spec, client, positions) : pusherClient(spec, client, positions);
    if (positions) positions.track(made.pusher);
    let count = 0;
    made.channel.bind('pusher:subscription_succeeded', () => {
      count += 1;
      const resuming = positions ? positions.resuming.has(client.channel) : false;
      print({ type: 'subscribed', client: client.label, channel: client.channel, count, resuming });
    });
    made.channel.bind('pusher:subscription_error', (error) =>
      print({ type: 'subscription_error', client: client.label, channel: client.channel, error }),
    );
    made.pusher.connection.bind('state_change', ({ current }) => print({ type: 'state', client: client.label, current }));
    running.push(made);
  }
  process.stdin.resume();
  await new Promise((resolve) => process.stdin.on('end', resolve));
  for (const made of running) made.disconnect();
}

runHeld(main, 'history_resume.mjs');
