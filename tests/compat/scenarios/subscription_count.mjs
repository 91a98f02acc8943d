// pusher-js's subscription_count support: Ada watches a public channel while Bob subscribes and unsubscribes.
// Barrier events triggered by the npm SDK mark "after Bob joined" and "after Bob left", so the same run shows
// both an app with enable_subscription_count (counts arrive, channel.subscriptionCount follows) and one without.
//
// Output: {events: [Ada's channel events in order], counts: {after_join, after_leave} (channel.subscriptionCount)}

import {
  Pusher, Recorder, config, connected, pusherOptions, run, sdk, startAuthServer, subscribe, unique,
} from '../lib/harness.mjs';

run(async () => {
  const auth = await startAuthServer();
  const backend = sdk();
  const name = `count-${unique}`;
  const ada = new Pusher(config.key, pusherOptions(auth, { user: 'ada' }));
  const bob = new Pusher(config.key, pusherOptions(auth, { user: 'bob' }));
  await Promise.all([connected(ada, "Ada's connection"), connected(bob, "Bob's connection")]);
  const log = new Recorder();
  const channel = ada.subscribe(name);
  channel.bind_global((event, data) => log.record({ event, data }));
  await subscribe(ada, name);
  const counts = {};

  await subscribe(bob, name);
  await backend.trigger(name, 'after-join', {});
  await log.waitFor((e) => e.event === 'after-join', 'the after-join barrier');
  counts.after_join = channel.subscriptionCount ?? null;

  bob.unsubscribe(name);
  await subscribe(bob, `ack-${unique}`); // answered only after the server handled the unsubscribe before it
  await backend.trigger(name, 'after-leave', {});
  await log.waitFor((e) => e.event === 'after-leave', 'the after-leave barrier');
  counts.after_leave = channel.subscriptionCount ?? null;

  ada.disconnect();
  bob.disconnect();
  await auth.close();
  return { events: log.entries, counts };
});
