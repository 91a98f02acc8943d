// One pusher-js client subscribes to a channel of every kind; the npm SDK triggers one event on each (the
// encrypted ones encrypted with encryptionMasterKeyBase64); pusher-js must receive every event, decrypted.
//
// Output: {socket_id, auth_requests, channels: {kind: {name, succeeded, cache_miss, received: [{event, data}]}}}

import {
  Pusher, Recorder, config, connected, pusherOptions, run, sdk, startAuthServer, subscribe, unique,
} from '../lib/harness.mjs';

const KINDS = [
  'public', 'private', 'presence', 'private-encrypted',
  'cache', 'private-cache', 'presence-cache', 'private-encrypted-cache',
];

run(async () => {
  const auth = await startAuthServer();
  const pusher = new Pusher(config.key, pusherOptions(auth, { user: 'ada', name: 'Ada' }));
  const recorder = new Recorder();
  const socketId = await connected(pusher);
  const names = Object.fromEntries(KINDS.map((kind) => [kind, `${kind === 'public' ? '' : kind + '-'}kinds-${unique}`]));
  const channels = {};
  await Promise.all(KINDS.map(async (kind) => {
    const channel = pusher.subscribe(names[kind]);
    channel.bind_global((event, data) => recorder.record({ kind, event, data }));
    const succeeded = await subscribe(pusher, names[kind]);
    channels[kind] = { name: names[kind], succeeded: kind.startsWith('presence') ? {
      count: channel.members.count, me: channel.members.me, ids: Object.keys(channel.members.members),
    } : succeeded ?? null };
  }));
  const backend = sdk();
  for (const kind of KINDS) {
    const response = await backend.trigger(names[kind], 'kind-event', { kind, text: `hello ${kind}` });
    channels[kind].trigger_status = response.status;
    await recorder.waitFor((e) => e.kind === kind && e.event === 'kind-event', `kind-event on ${names[kind]}`);
  }
  for (const kind of KINDS) {
    channels[kind].received = recorder.filter((e) => e.kind === kind && !e.event.startsWith('pusher:'))
      .map(({ event, data }) => ({ event, data }));
    channels[kind].cache_miss = recorder.filter((e) => e.kind === kind && e.event === 'pusher:cache_miss').length;
  }
  pusher.disconnect();
  await auth.close();
  return { socket_id: socketId, auth_requests: auth.requests, channels };
});
