// Under a path prefix (the server runs with path_prefix = args[0]): pusher-js connects with `wsPath`, and the
// official npm SDK publishes with the prefix in `host` and no `port` (its only way to send one: it signs the path
// without it). Both go through a relay that records the request lines, to show what they sent.
//
// Output: {state, request_lines: [...], trigger: outcome, channels: outcome, received: [{event, data}], channel}

import net from 'node:net';

import { Pusher, Recorder, config, connected, outcome, run, sdk, subscribe, unique } from '../lib/harness.mjs';

const [prefix] = process.argv.slice(2).map((a) => JSON.parse(a));

/** A TCP relay to the server that records each request line the clients send (keep-alive ones too). */
async function startRelay(lines) {
  const relay = net.createServer((socket) => {
    const upstream = net.connect(config.port, config.host);
    socket.on('data', (chunk) => {
      const line = chunk.toString('latin1').split('\r\n')[0];
      if (/^(GET|POST) \/\S* HTTP\/1\.1$/.test(line)) lines.push(line);
    });
    socket.pipe(upstream).pipe(socket);
    socket.on('error', () => upstream.destroy());
    upstream.on('error', () => socket.destroy());
  });
  await new Promise((resolve) => relay.listen(0, config.host, resolve));
  return relay;
}

run(async () => {
  const channel = `prefixed-${unique}`;
  const log = new Recorder();
  const lines = [];
  const relay = await startRelay(lines);
  const port = relay.address().port;
  const pusher = new Pusher(config.key, {
    wsHost: config.host, wsPort: port, wsPath: prefix, forceTLS: false, enabledTransports: ['ws'], cluster: 'mt1',
    disableStats: true,
  });
  const state = await connected(pusher, `pusher-js with wsPath ${prefix}`).then(() => pusher.connection.state);
  pusher.subscribe(channel).bind_global((event, data) => {
    if (!event.startsWith('pusher')) log.record({ event, data });
  });
  await subscribe(pusher, channel);
  const backend = sdk({ host: `${config.host}:${port}${prefix}`, port: undefined });
  const trigger = await outcome(backend.trigger(channel, 'through-prefix', { n: 1 }));
  await log.waitFor((e) => e.event === 'through-prefix', 'the event published through the prefix');
  const channels = await outcome(backend.get({ path: '/channels', params: {} }));
  pusher.disconnect();
  relay.close();
  return { state, request_lines: lines, trigger, channels, received: log.entries, channel };
});
