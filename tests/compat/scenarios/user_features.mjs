// User authentication with pusher-js signin(): server-to-user events (npm SDK sendToUser), watchlist
// online/offline events, and terminateUserConnections closing only the user's signed-in connections.
//
// Cast: "watcher" watches alice and bob; alice has two signed-in tabs plus one connection that only joined a
// presence channel as alice (never signed in, so terminate must leave it alone); "late" signs in while alice is
// online. Barriers (a server-to-user event or channel event the client receives) mark exact checkpoints.
//
// Output: {users: {label: user_data}, checkpoints: {...}, log: {label: [entries]}, terminate: {status, body}}

import {
  Pusher, Recorder, config, connected, disconnected, outcome, pusherOptions, run, sdk, signedIn, startAuthServer,
  subscribe, unique, watchConnection,
} from '../lib/harness.mjs';

run(async () => {
  const auth = await startAuthServer();
  const backend = sdk();
  const alice = `alice-${unique}`;
  const bob = `bob-${unique}`;
  const watchlist = [alice, bob];
  const log = new Recorder();
  const clients = {};
  const open = async (label, user, extra = {}) => {
    const pusher = new Pusher(config.key, pusherOptions(auth, { user, name: label, ...extra }));
    clients[label] = pusher;
    watchConnection(pusher, log, label);
    pusher.user.watchlist.bind('online', (e) => log.record({ client: label, type: 'online', user_ids: e.user_ids }));
    pusher.user.watchlist.bind('offline', (e) => log.record({ client: label, type: 'offline', user_ids: e.user_ids }));
    pusher.user.bind('notice', (data) => log.record({ client: label, type: 'notice', data }));
    pusher.connection.bind('message', (frame) => {
      if (frame.channel && frame.channel.startsWith('#server-to-user-')) {
        log.record({ client: label, type: 'user_channel_frame', event: frame.event });
      }
    });
    await connected(pusher, `${label}'s connection`);
    return pusher;
  };
  const has = (label, type, test = () => true) => (e) => e.client === label && e.type === type && test(e);
  const count = (label, type, user) => log.filter(has(label, type, (e) => e.user_ids.includes(user))).length;
  const users = {};
  const checkpoints = {};
  let notices = 0;
  const notify = async (label, user) => {
    notices += 1;
    const n = notices;
    await backend.sendToUser(user, 'notice', { n });
    await log.waitFor(has(label, 'notice', (e) => e.data.n === n), `notice ${n} at ${label}`);
  };

  users.watcher = await signedIn(await open('watcher', `watcher-${unique}`, { watchlist }), 'watcher sign-in');
  await notify('watcher', `watcher-${unique}`);
  checkpoints.watcher_initial = log.filter((e) => e.client === 'watcher' && ['online', 'offline'].includes(e.type));

  users.alice1 = await signedIn(await open('alice1', alice), "alice's first tab sign-in");
  await log.waitFor(has('watcher', 'online', (e) => e.user_ids.includes(alice)), 'watcher sees alice online');
  users.alice2 = await signedIn(await open('alice2', alice), "alice's second tab sign-in");
  await notify('watcher', `watcher-${unique}`);
  checkpoints.online_events_for_alice_after_second_tab = count('watcher', 'online', alice);

  users.late = await signedIn(await open('late', `late-${unique}`, { watchlist }), 'late watcher sign-in');
  await notify('late', `late-${unique}`);
  checkpoints.late_initial = log.filter((e) => e.client === 'late' && ['online', 'offline'].includes(e.type));

  // Both of alice's tabs get events sent to her user.
  await backend.sendToUser(alice, 'notice', { to: 'alice' });
  await log.waitFor(has('alice1', 'notice'), "alice's first tab receives sendToUser");
  await log.waitFor(has('alice2', 'notice'), "alice's second tab receives sendToUser");

  // A connection that is alice only by presence membership, not by sign-in.
  const presenceOnly = await open('alice_presence_only', alice);
  const room = `presence-terminate-${unique}`;
  const roomChannel = presenceOnly.subscribe(room);
  roomChannel.bind('after-terminate', (data) => log.record({ client: 'alice_presence_only', type: 'after', data }));
  await subscribe(presenceOnly, room);

  const closing = [disconnected(clients.alice1, "alice1's close"), disconnected(clients.alice2, "alice2's close")];
  const terminate = await outcome(backend.terminateUserConnections(alice));
  checkpoints.final_states = await Promise.all(closing);
  await log.waitFor(has('watcher', 'offline', (e) => e.user_ids.includes(alice)), 'watcher sees alice offline');
  await backend.trigger(room, 'after-terminate', { still: 'here' });
  await log.waitFor(has('alice_presence_only', 'after'), 'the presence-only connection still receives events');
  await notify('watcher', `watcher-${unique}`);
  checkpoints.presence_only_state = presenceOnly.connection.state;
  checkpoints.alice_states = ['alice1', 'alice2'].map((label) => clients[label].connection.state);

  for (const pusher of Object.values(clients)) pusher.disconnect();
  await auth.close();
  const byClient = {};
  for (const entry of log.entries) (byClient[entry.client] ||= []).push(entry);
  return { users, checkpoints, terminate, log: byClient };
});
