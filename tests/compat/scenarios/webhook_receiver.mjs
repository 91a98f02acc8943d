// An app backend's webhook endpoint, checked with the official npm `pusher` SDK's validator exactly as its
// README shows: `pusher.webhook({headers, rawBody}).isValid()` (which also requires Content-Type to be exactly
// application/json). For every request it also checks a forged copy (same headers, altered body) and the
// genuine request against the wrong secret; both must be refused. One JSON line each:
//   {"type": "listening", "url"}                         once, before pytest starts the server that posts here
//   {"type": "webhook", path, contentType, valid, events, forgedValid, wrongSecretValid}
// When stdin closes, it stops listening and exits 0.
//
// Reads only COMPAT_APP_ID, COMPAT_APP_KEY and COMPAT_APP_SECRET: the server it hears from is not running yet.

import http from 'node:http';
import PusherServer from 'pusher';

const print = (message) => process.stdout.write(JSON.stringify(message) + '\n');
const app = { appId: process.env.COMPAT_APP_ID, key: process.env.COMPAT_APP_KEY, secret: process.env.COMPAT_APP_SECRET };
const backend = new PusherServer(app);
const impostor = new PusherServer({ ...app, secret: `${app.secret}-wrong` });

function check(request, rawBody) {
  const genuine = backend.webhook({ headers: request.headers, rawBody });
  const valid = genuine.isValid();
  const forgedBody = JSON.parse(rawBody);
  forgedBody.events = forgedBody.events.map((event) => ({ ...event, channel: `${event.channel}-forged` }));
  const forged = backend.webhook({ headers: request.headers, rawBody: JSON.stringify(forgedBody) });
  return {
    type: 'webhook',
    path: request.url,
    contentType: request.headers['content-type'],
    valid,
    events: valid ? genuine.getEvents() : null,
    forgedValid: forged.isValid(),
    wrongSecretValid: impostor.webhook({ headers: request.headers, rawBody }).isValid(),
  };
}

const server = http.createServer((request, response) => {
  const chunks = [];
  request.on('data', (chunk) => chunks.push(chunk));
  request.on('end', () => {
    let report;
    try {
      report = check(request, Buffer.concat(chunks).toString('utf8'));
    } catch (error) {
      report = { type: 'webhook', path: request.url, error: String(error) };
    }
    print(report);
    response.writeHead(200, { 'Content-Type': 'application/json' });
    response.end('{}');
  });
});

const timer = setTimeout(() => {
  process.stderr.write('webhook_receiver.mjs: not ended by pytest within 60 s\n');
  process.exit(1);
}, 60_000);
server.listen(0, '127.0.0.1', () => {
  print({ type: 'listening', url: `http://127.0.0.1:${server.address().port}` });
});
process.stdin.resume();
process.stdin.on('end', () => {
  clearTimeout(timer);
  server.close(() => process.exit(0));
  server.closeAllConnections();
});
