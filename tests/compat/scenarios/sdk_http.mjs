// The official npm `pusher` SDK against every HTTP API endpoint, while real pusher-js clients hold channels open:
// trigger (with and without info, with socket_id exclusion), triggerBatch (with and without info), the channels
// list (prefix filter, user_count), one channel's info (subscription_count, user_count, cache), the users of a
// presence channel, terminateUserConnections, and the error cases (wrong secret, too-large data).
//
// Output: {calls: {name: {ok, status, body | error...}}, received: {client: [{channel, event, data}]}, ...}

import {
  Pusher, Recorder, config, connected, disconnected, outcome, pusherOptions, run, sdk, signedIn, startAuthServer,
  subscribe, unique,
} from '../lib/harness.mjs';

run(async () => {
  const auth = await startAuthServer();
  const backend = sdk();
  const prefix = `api-${unique}`;
  const names = {
    public: `${prefix}-news`,
    private: `private-${prefix}-inbox`,
    presence: `presence-${prefix}-room`,
    cache: `cache-${prefix}-price`,
    emptyCache: `cache-${prefix}-nothing`,
    encrypted: `private-encrypted-${prefix}-vault`,
  };
  const log = new Recorder();
  const clients = {};
  const open = async (label, user, channels) => {
    const pusher = new Pusher(config.key, pusherOptions(auth, { user, name: label }));
    clients[label] = pusher;
    await connected(pusher, `${label}'s connection`);
    for (const name of channels) {
      pusher.subscribe(name).bind_global((event, data) => {
        if (!event.startsWith('pusher')) log.record({ client: label, channel: name, event, data });
      });
      await subscribe(pusher, name);
    }
    return pusher;
  };
  await open('ada', 'ada', [names.public, names.private, names.presence, names.cache, names.encrypted]);
  await open('bob', 'bob', [names.public, names.presence]);
  await open('bob_tab2', 'bob', [names.presence]);
  const terminated = await open('carol', `carol-${unique}`, []);
  await signedIn(terminated, "carol's sign-in");

  const calls = {};
  const got = (client, channel, event) =>
    log.waitFor((e) => e.client === client && e.channel === channel && e.event === event, `${event} at ${client}`);

  calls.trigger = await outcome(backend.trigger([names.public, names.private], 'plain', { n: 1 }));
  await Promise.all([got('ada', names.public, 'plain'), got('ada', names.private, 'plain'), got('bob', names.public, 'plain')]);

  calls.trigger_with_info = await outcome(backend.trigger([names.public, names.presence], 'informed', { n: 2 }, {
    info: 'subscription_count,user_count',
  }));
  calls.trigger_excluding_socket = await outcome(backend.trigger(names.public, 'not-for-ada', { n: 3 }, {
    socket_id: clients.ada.connection.socket_id,
  }));
  calls.trigger_encrypted = await outcome(backend.trigger(names.encrypted, 'sealed', { secret: 'npm' }));
  await got('ada', names.encrypted, 'sealed');
  calls.trigger_cache = await outcome(backend.trigger(names.cache, 'price', { eur: 42 }));
  await got('ada', names.cache, 'price');

  calls.trigger_batch = await outcome(backend.triggerBatch([
    { channel: names.public, name: 'batched', data: JSON.stringify({ i: 0 }) },
    { channel: names.private, name: 'batched', data: JSON.stringify({ i: 1 }) },
  ]));
  calls.trigger_batch_with_info = await outcome(backend.triggerBatch([
    { channel: names.public, name: 'batched-info', data: JSON.stringify({ i: 2 }), info: 'subscription_count' },
    { channel: names.presence, name: 'batched-info', data: JSON.stringify({ i: 3 }), info: 'user_count,subscription_count' },
    { channel: names.private, name: 'batched-info', data: JSON.stringify({ i: 4 }) },
  ]));
  await got('ada', names.private, 'batched-info');
  await got('bob', names.presence, 'batched-info');
  await got('bob', names.public, 'batched');

  calls.channels = await outcome(backend.get({ path: '/channels', params: { filter_by_prefix: `cache-${prefix}` } }));
  calls.channels_presence_user_count = await outcome(backend.get({
    path: '/channels', params: { filter_by_prefix: 'presence-', info: 'user_count' },
  }));
  calls.channels_user_count_without_presence_prefix = await outcome(backend.get({
    path: '/channels', params: { info: 'user_count' },
  }));
  calls.channel_public = await outcome(backend.get({
    path: `/channels/${names.public}`, params: { info: 'subscription_count' },
  }));
  calls.channel_presence = await outcome(backend.get({ path: `/channels/${names.presence}`, params: { info: 'user_count' } }));
  calls.channel_cache = await outcome(backend.get({ path: `/channels/${names.cache}`, params: { info: 'cache' } }));
  calls.channel_empty_cache = await outcome(backend.get({ path: `/channels/${names.emptyCache}`, params: { info: 'cache' } }));
  calls.channel_unoccupied = await outcome(backend.get({ path: `/channels/${prefix}-nobody` }));
  calls.users = await outcome(backend.get({ path: `/channels/${names.presence}/users` }));
  calls.users_of_public_channel = await outcome(backend.get({ path: `/channels/${names.public}/users` }));

  const closing = disconnected(terminated, "carol's close");
  calls.terminate_user_connections = await outcome(backend.terminateUserConnections(`carol-${unique}`));
  const carolState = await closing;

  calls.wrong_secret = await outcome(sdk({ secret: 'not-the-secret' }).trigger(names.public, 'forged', {}));
  calls.wrong_secret_get = await outcome(sdk({ secret: 'not-the-secret' }).get({ path: '/channels' }));
  calls.too_large = await outcome(backend.trigger(names.public, 'huge', 'x'.repeat(20 * 1024)));
  calls.too_large_batch = await outcome(backend.triggerBatch([
    { channel: names.public, name: 'huge', data: 'x'.repeat(20 * 1024) },
  ]));

  // Barrier: an event after the refused ones proves none of them was delivered.
  await backend.trigger(names.public, 'last', {});
  await got('ada', names.public, 'last');
  await got('bob', names.public, 'last');

  for (const pusher of Object.values(clients)) pusher.disconnect();
  await auth.close();
  const received = {};
  for (const { client, ...rest } of log.entries) (received[client] ||= []).push(rest);
  return { names, calls, carol_state: carolState, received };
});
