// Laravel Echo 2 as a Laravel page uses it: listen on public, private and encrypted channels, whisper and
// listenForWhisper, toOthers (socket_id exclusion), and presence here/joining/leaving with Ada plus two tabs of Bob.
//
// Barriers instead of sleeps: a whisper or an SDK-triggered event that Ada receives proves the server already
// handled everything sent before it, so "joining fired once" and "no leaving yet" are checked at exact points.
//
// Output: {ada: [log entries in arrival order], bob1: [...], bob2: [...], checkpoints: {...}}

import {
  Recorder, connected, echoFor, echoSubscribed, run, sdk, startAuthServer, unique,
} from '../lib/harness.mjs';

run(async () => {
  const auth = await startAuthServer();
  const backend = sdk();
  const logs = { ada: new Recorder(), bob1: new Recorder(), bob2: new Recorder() };
  const ada = echoFor(auth, { user: '1', name: 'Ada' });
  const bob1 = echoFor(auth, { user: '2', name: 'Bob' });
  const bob2 = echoFor(auth, { user: '2', name: 'Bob' });
  const sockets = {};
  for (const [label, echo] of Object.entries({ ada, bob1, bob2 })) {
    sockets[label] = await connected(echo.connector.pusher, `${label}'s connection`);
  }
  const log = (label, type) => (payload) => logs[label].record({ type, payload });
  const checkpoints = {};
  const count = (label, type) => logs[label].filter((e) => e.type === type).length;

  // Public channel: a raw event name (leading dot) and a namespaced Laravel event class.
  const orders = ada.channel(`orders-${unique}`)
    .listen('.order.shipped', log('ada', 'order.shipped'))
    .listen('OrderPlaced', log('ada', 'OrderPlaced'));
  await echoSubscribed(orders);
  await backend.trigger(`orders-${unique}`, 'order.shipped', { id: 7 });
  await backend.trigger(`orders-${unique}`, 'App\\Events\\OrderPlaced', { id: 8 });
  await logs.ada.waitFor((e) => e.type === 'OrderPlaced', 'App\\Events\\OrderPlaced via listen("OrderPlaced")');
  await logs.ada.waitFor((e) => e.type === 'order.shipped', 'order.shipped via listen(".order.shipped")');

  // Private channel: listen, whisper / listenForWhisper, and toOthers.
  const chatName = `chat-${unique}`;
  const adaChat = ada.private(chatName).listen('.message', log('ada', 'message'))
    .listenForWhisper('typing', log('ada', 'whisper-typing'));
  const bobChat = bob1.private(chatName).listen('.message', log('bob1', 'message'));
  await Promise.all([echoSubscribed(adaChat), echoSubscribed(bobChat)]);
  bobChat.whisper('typing', { name: 'Bob' });
  await logs.ada.waitFor((e) => e.type === 'whisper-typing', "Bob's whisper on the private channel");
  await backend.trigger(`private-${chatName}`, 'message', { text: 'not for Ada' }, { socket_id: ada.socketId() });
  await backend.trigger(`private-${chatName}`, 'message', { text: 'for everyone' });
  await logs.ada.waitFor((e) => e.type === 'message', 'the message triggered without socket_id');
  await logs.bob1.waitFor((e) => e.type === 'message' && e.payload.text === 'for everyone', 'both messages at Bob');
  checkpoints.ada_socket_id = ada.socketId();

  // Encrypted private channel: the npm SDK encrypts with the master key, pusher-js decrypts with shared_secret.
  const secrets = ada.encryptedPrivate(`secrets-${unique}`).listen('.secret', log('ada', 'secret'));
  await echoSubscribed(secrets);
  await backend.trigger(`private-encrypted-secrets-${unique}`, 'secret', { launch_code: '0000' });
  await logs.ada.waitFor((e) => e.type === 'secret', 'the encrypted event');

  // Presence: Ada, then Bob's first tab, then Bob's second tab; a public marker channel counts connections.
  const roomName = `room-${unique}`;
  const markerName = `marker-${unique}`;
  const adaRoom = ada.join(roomName).here(log('ada', 'here')).joining(log('ada', 'joining'))
    .leaving(log('ada', 'leaving')).listenForWhisper('ping', log('ada', 'whisper-ping'));
  await logs.ada.waitFor((e) => e.type === 'here', "Ada's here()");
  const adaMarker = ada.channel(markerName).listen('.pusher:subscription_count', log('ada', 'subscription_count'));
  await echoSubscribed(adaMarker);

  bob1.join(roomName).here(log('bob1', 'here'));
  await logs.bob1.waitFor((e) => e.type === 'here', "Bob's first tab here()");
  await logs.ada.waitFor((e) => e.type === 'joining', 'joining(Bob) at Ada');
  await echoSubscribed(bob1.channel(markerName));

  const bob2Room = bob2.join(roomName).here(log('bob2', 'here'));
  await logs.bob2.waitFor((e) => e.type === 'here', "Bob's second tab here()");
  await echoSubscribed(bob2.channel(markerName));
  bob2Room.whisper('ping', { n: 1 });
  await logs.ada.waitFor((e) => e.type === 'whisper-ping' && e.payload.n === 1, 'ping 1 from the second tab');
  checkpoints.joining_after_second_tab = count('ada', 'joining');
  await logs.ada.waitFor(
    (e) => e.type === 'subscription_count' && e.payload.subscription_count === 3, 'marker count 3 at Ada',
  );

  bob1.disconnect();
  await logs.ada.waitFor(
    (e) => e.type === 'subscription_count' && e.payload.subscription_count === 2, 'marker count 2 after tab 1 closed',
  );
  bob2Room.whisper('ping', { n: 2 });
  await logs.ada.waitFor((e) => e.type === 'whisper-ping' && e.payload.n === 2, 'ping 2 after the first tab closed');
  checkpoints.leaving_after_first_tab_closed = count('ada', 'leaving');

  bob2.disconnect();
  await logs.ada.waitFor((e) => e.type === 'leaving', 'leaving(Bob) after the last tab closed');
  adaRoom.listen('.final', log('ada', 'final'));
  await backend.trigger(`presence-${roomName}`, 'final', {});
  await logs.ada.waitFor((e) => e.type === 'final', 'the final barrier event');
  checkpoints.leaving_at_end = count('ada', 'leaving');
  checkpoints.joining_at_end = count('ada', 'joining');

  ada.disconnect();
  await auth.close();
  const dump = (label) => logs[label].entries;
  return { sockets, checkpoints, ada: dump('ada'), bob1: dump('bob1'), bob2: dump('bob2') };
});
