// Laravel Echo's `.error()` callback when the server refuses a subscription: the auth endpoint signs with the
// wrong secret ("forged" channels), the server answers 4009, and Echo must report it on that channel; a
// well-signed channel on the same connection still works afterwards.
//
// Output: {errors: [the payloads Echo's .error() got], ok_event: {...}}

import { Recorder, connected, echoFor, echoSubscribed, run, sdk, startAuthServer, unique } from '../lib/harness.mjs';

run(async () => {
  const auth = await startAuthServer();
  const backend = sdk();
  const log = new Recorder();
  const ada = echoFor(auth, { user: '1', name: 'Ada' });
  await connected(ada.connector.pusher, "Ada's connection");
  ada.private(`forged-${unique}`).error((error) => log.record({ type: 'error', error }));
  await log.waitFor((e) => e.type === 'error', "Echo's .error() for the refused subscription");
  const fine = ada.private(`fine-${unique}`).listen('.ping', (data) => log.record({ type: 'ping', data }));
  await echoSubscribed(fine);
  await backend.trigger(`private-fine-${unique}`, 'ping', { n: 1 });
  await log.waitFor((e) => e.type === 'ping', 'the event on the well-signed channel');
  const result = {
    errors: log.filter((e) => e.type === 'error').map((e) => e.error),
    ok_event: log.filter((e) => e.type === 'ping')[0].data,
  };
  ada.disconnect();
  await auth.close();
  return result;
});
