// Cache channels of every kind: an event triggered (npm SDK) before anyone subscribed is replayed to the first
// subscriber right after subscription_succeeded, under its original name, and only the latest one; a cache channel
// that never had an event gets pusher:cache_miss instead. A live event afterwards proves nothing else was queued.
//
// Output: {kind: {replayed: [events in order], missed: [events in order]}} (subscription counts left out)

import {
  Pusher, Recorder, config, connected, pusherOptions, run, sdk, startAuthServer, subscribe, unique,
} from '../lib/harness.mjs';

const KINDS = ['cache', 'private-cache', 'presence-cache', 'private-encrypted-cache'];

run(async () => {
  const auth = await startAuthServer();
  const backend = sdk();
  const pusher = new Pusher(config.key, pusherOptions(auth, { user: 'cacher', name: 'Cacher' }));
  await connected(pusher);
  const log = new Recorder();
  const result = {};
  for (const kind of KINDS) {
    const replayed = `${kind}-replay-${unique}`;
    const missed = `${kind}-miss-${unique}`;
    await backend.trigger(replayed, 'price', { version: 1 });
    await backend.trigger(replayed, 'price', { version: 2 });
    for (const [role, name] of [['replayed', replayed], ['missed', missed]]) {
      pusher.subscribe(name).bind_global((event, data) => log.record({ kind, role, event, data }));
      await subscribe(pusher, name);
      await backend.trigger(name, 'live', { after: 'subscribe' });
      await log.waitFor((e) => e.kind === kind && e.role === role && e.event === 'live', `live event on ${name}`);
    }
    result[kind] = Object.fromEntries(['replayed', 'missed'].map((role) => [
      role,
      log.filter((e) => e.kind === kind && e.role === role && e.event !== 'pusher:subscription_count')
        .map(({ event, data }) => ({ event, data: event === 'pusher:subscription_succeeded' ? null : data })),
    ]));
  }
  pusher.disconnect();
  await auth.close();
  return result;
});
