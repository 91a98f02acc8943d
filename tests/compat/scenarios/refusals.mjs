// What pusher-js sees when the server refuses something, and that the connection stays usable afterwards:
// a private and a presence subscription whose auth was signed with the wrong secret, and a client event on a
// public channel (client events are for private and presence channels only).
//
// Output: {channels: {label: [events]}, connection_errors: [...], state, bob_public: [events], barrier: bool}

import {
  Pusher, Recorder, config, connected, pusherOptions, run, sdk, startAuthServer, subscribe, unique, watchConnection,
} from '../lib/harness.mjs';

run(async () => {
  const auth = await startAuthServer();
  const backend = sdk();
  const log = new Recorder();
  const ada = new Pusher(config.key, pusherOptions(auth, { user: 'ada' }));
  const bob = new Pusher(config.key, pusherOptions(auth, { user: 'bob' }));
  watchConnection(ada, log, 'ada');
  await Promise.all([connected(ada, "Ada's connection"), connected(bob, "Bob's connection")]);
  const names = {
    private: `private-forged-${unique}`,
    presence: `presence-forged-${unique}`,
    public: `public-${unique}`,
  };
  for (const [label, name] of Object.entries({ private: names.private, presence: names.presence })) {
    ada.subscribe(name).bind_global((event, data) => log.record({ type: 'channel', label, event, data }));
    await log.waitFor((e) => e.type === 'channel' && e.label === label, `a reply to the forged ${label} subscription`);
  }

  ada.subscribe(names.public).bind_global((event, data) => log.record({ type: 'channel', label: 'public', event, data }));
  await subscribe(ada, names.public);
  bob.subscribe(names.public).bind_global((event, data) => log.record({ type: 'bob', event, data }));
  await subscribe(bob, names.public);
  let thrown = null;
  try {
    ada.channel(names.public).trigger('client-hello', { from: 'ada' });
  } catch (error) {
    thrown = String(error);
  }
  await log.waitFor((e) => e.type === 'connection_error', 'the refusal of the public client event');
  await backend.trigger(names.public, 'barrier', {});
  await log.waitFor((e) => e.type === 'bob' && e.event === 'barrier', 'the barrier at Bob');
  await log.waitFor((e) => e.label === 'public' && e.event === 'barrier', 'the barrier at Ada');

  const result = {
    channels: Object.fromEntries(['private', 'presence', 'public'].map((label) => [
      label, log.filter((e) => e.type === 'channel' && e.label === label).map(({ event, data }) => ({ event, data })),
    ])),
    subscribed: { private: ada.channel(names.private).subscribed, presence: ada.channel(names.presence).subscribed },
    client_event_thrown: thrown,
    connection_errors: log.filter((e) => e.type === 'connection_error').map(({ error, data }) => ({ error, data })),
    states: log.filter((e) => e.type === 'state').map((e) => e.current),
    bob_public: log.filter((e) => e.type === 'bob').map(({ event }) => event),
  };
  ada.disconnect();
  bob.disconnect();
  await auth.close();
  return result;
});
