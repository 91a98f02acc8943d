// Real clients through a TLS-terminating proxy that forwards a path prefix (COMPAT_PORT is the proxy's port,
// trusted via NODE_EXTRA_CA_CERTS): pusher-js with `wsPath` and Laravel Echo join one presence channel over wss
// and whisper to each other (client events), and the npm SDK publishes over https with the prefix in `host`.
// Then it waits for an event pytest publishes (with the PyPI SDK) to a public channel, and reports it.
//
// Output, one JSON line each:
//   {"type": "ready", "here", "member_added", "whispers", "node_publish", "node_received", "news"}
//   {"type": "event", "client", "event", "data"}  every event on the public channel named in "news", per client
// When stdin closes, it disconnects everyone and exits 0.
//
// argv[2]: the prefix ("/ws")

import {
  Echo, Pusher, Recorder, config, connected, echoSubscribed, outcome, pusherOptions, runHeld, sdk, startAuthServer,
  subscribe, subscribed,
} from '../lib/harness.mjs';

const print = (message) => process.stdout.write(JSON.stringify(message) + '\n');
const prefix = JSON.parse(process.argv[2]);
const unique = `${process.pid}-${Date.now().toString(36)}`;
/** What a page served from https://example.com puts in its pusher-js / Echo options, with the prefix. */
const overTls = { wsHost: config.host, wsPort: config.port, wssPort: config.port, forceTLS: true, wsPath: prefix,
  enabledTransports: ['ws', 'wss'] };

async function main() {
  const auth = await startAuthServer();
  const log = new Recorder();
  const room = `room-${unique}`;
  const news = `news-${unique}`;

  const ada = new Pusher(config.key, { ...pusherOptions(auth, { user: '1', name: 'Ada' }), ...overTls });
  await connected(ada, "Ada's pusher-js connection");
  const adaRoom = ada.subscribe(`presence-${room}`);
  adaRoom.bind('pusher:member_added', (member) => log.record({ type: 'member_added', member }));
  adaRoom.bind('client-typing', (data) => log.record({ type: 'whisper', to: 'ada', data }));
  adaRoom.bind('from-node', (data) => log.record({ type: 'from-node', to: 'ada', data }));
  await subscribed(adaRoom, 'Ada in the room');

  const bob = new Echo({
    broadcaster: 'reverb', Pusher, key: config.key, ...overTls, disableStats: true,
    authEndpoint: auth.channelEndpoint, auth: { headers: { 'X-User-Id': '2', 'X-User-Name': 'Bob' } },
  });
  await connected(bob.connector.pusher, "Bob's Echo connection");
  const bobRoom = bob.join(room)
    .here((members) => log.record({ type: 'here', members }))
    .listenForWhisper('hello', (data) => log.record({ type: 'whisper', to: 'bob', data }))
    .listen('.from-node', (data) => log.record({ type: 'from-node', to: 'bob', data }));
  await echoSubscribed(bobRoom, 'Bob in the room');
  const here = await log.waitFor((e) => e.type === 'here', "Bob's here()");
  const memberAdded = await log.waitFor((e) => e.type === 'member_added', 'member_added(Bob) at Ada');

  bobRoom.whisper('typing', { from: 'Bob' });
  adaRoom.trigger('client-hello', { from: 'Ada' });
  await log.waitFor((e) => e.type === 'whisper' && e.to === 'ada', "Bob's whisper at Ada");
  await log.waitFor((e) => e.type === 'whisper' && e.to === 'bob', "Ada's client event at Bob");

  const backend = sdk({ host: `${config.host}:${config.port}${prefix}`, port: undefined, useTLS: true });
  const nodePublish = await outcome(backend.trigger(`presence-${room}`, 'from-node', { n: 1 }));
  await log.waitFor((e) => e.type === 'from-node' && e.to === 'ada', 'the npm SDK event at Ada');
  await log.waitFor((e) => e.type === 'from-node' && e.to === 'bob', 'the npm SDK event at Bob');

  ada.subscribe(news).bind_global((event, data) => {
    if (!event.startsWith('pusher:')) print({ type: 'event', client: 'ada', event, data });
  });
  await subscribe(ada, news);
  bob.channel(news).listen('.from-python', (data) => print({ type: 'event', client: 'bob', event: 'from-python', data }));
  await echoSubscribed(bob.channel(news), 'Bob on the news channel');

  print({
    type: 'ready', here: here.members, member_added: memberAdded.member,
    whispers: log.filter((e) => e.type === 'whisper'), node_publish: nodePublish,
    node_received: log.filter((e) => e.type === 'from-node'), news,
  });
  process.stdin.resume();
  await new Promise((resolve) => process.stdin.on('end', resolve));
  ada.disconnect();
  bob.disconnect();
  await auth.close();
}

runHeld(main, 'through_proxy.mjs');
