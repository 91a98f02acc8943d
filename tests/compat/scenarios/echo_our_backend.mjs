// Laravel Echo 2 against a Python backend under test: its /broadcasting/auth and /broadcasting/user-auth are
// pusherpy.publisher's broadcasting_routes, its users come from bearer tokens. Ada and Bob are in the
// conversation, Eve is not, and "anon" has no token. Held open while pytest publishes; one JSON line each:
//   {"type": "ready", "results": {...}}                 what every subscription, here(), joining() and sign-in gave
//   {"type": "event", client, channel, event, data}     events Echo's listen('.message') received
//   {"type": "user_event", client, event, data}         server-to-user events after sign-in
// When stdin closes, it disconnects everyone and exits 0.
//
// argv[2]: {"endpoints": {channelEndpoint, userEndpoint}, "tokens": {ada, bob, eve}, "conversation": id}

import { Recorder, connected, echoOutcome, echoWith, runHeld, signedIn } from '../lib/harness.mjs';

const print = (message) => process.stdout.write(JSON.stringify(message) + '\n');

async function main() {
  const { endpoints, tokens, conversation } = JSON.parse(process.argv[2]);
  const bearer = (token) => ({ Authorization: `Bearer ${token}` });
  const echos = {
    ada: echoWith(endpoints, bearer(tokens.ada)),
    bob: echoWith(endpoints, bearer(tokens.bob)),
    eve: echoWith(endpoints, bearer(tokens.eve)),
    anon: echoWith(endpoints),
  };
  for (const [label, echo] of Object.entries(echos)) await connected(echo.connector.pusher, `${label}'s connection`);
  const { ada, bob, eve, anon } = echos;
  const name = `conversation.${conversation}`;
  const log = new Recorder();
  const results = {};

  const listen = (label, channel) =>
    channel.listen('.message', (data) => print({ type: 'event', client: label, channel: channel.name, event: 'message', data }));
  results.ada_private = await echoOutcome(listen('ada', ada.private(name)), "Ada's private channel");
  results.eve_private = await echoOutcome(eve.private(name), "Eve's private channel");
  results.anon_private = await echoOutcome(anon.private(name), "the anonymous private channel");

  ada.join(name)
    .here((members) => log.record({ type: 'here', client: 'ada', members }))
    .joining((member) => log.record({ type: 'joining', client: 'ada', member }));
  results.ada_here = (await log.waitFor((e) => e.type === 'here' && e.client === 'ada', "Ada's here()")).members;
  bob.join(name).here((members) => log.record({ type: 'here', client: 'bob', members }));
  results.bob_here = (await log.waitFor((e) => e.type === 'here' && e.client === 'bob', "Bob's here()")).members;
  results.ada_joining = (await log.waitFor((e) => e.type === 'joining', "joining(Bob) at Ada")).member;
  results.eve_presence = await echoOutcome(eve.join(name), "Eve's presence channel");

  const adaPusher = ada.connector.pusher;
  adaPusher.user.bind_global((event, data) => print({ type: 'user_event', client: 'ada', event, data }));
  results.ada_user_data = await signedIn(adaPusher, "Ada's sign-in through Echo's pusher");
  results.ada_socket_id = ada.socketId();

  print({ type: 'ready', results });
  process.stdin.resume();
  await new Promise((resolve) => process.stdin.on('end', resolve));
  for (const echo of Object.values(echos)) echo.disconnect();
}

runHeld(main, 'echo_our_backend.mjs');
