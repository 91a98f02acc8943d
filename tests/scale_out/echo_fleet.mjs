// A fleet of real Laravel Echo 2 clients (on the real pusher-js 8), each connected to the cluster node pytest names,
// driven through stdin while pytest breaks the cluster around them. Used by tests/scale_out/echo_fleet.py.
//
// Each stdin line is one JSON command; every thing a client sees is one JSON line on stdout:
//   {"op": "connect", "client": "ann", "port": 6001}     -> {"client", "type": "connected", "socket_id"}
//   {"op": "join", "client": "ann", "room": "lobby"}      -> "here" {users}, then "joining" / "leaving" {user}
//   {"op": "listen", "client": "ann", "channel": "ticks", "event": "tick"}
//                                                         -> "subscribed", then "event" {channel, event, data}
// Connection state changes are reported too ("state" {previous, current}). Users and their names come from the
// auth server (the npm `pusher` SDK signs), as a Laravel app's /broadcasting/auth would answer.

import readline from 'node:readline';
import { Echo, Pusher, config, startAuthServer } from '../compat/lib/harness.mjs';

const auth = await startAuthServer();
const clients = {};

function emit(client, type, fields = {}) {
  process.stdout.write(JSON.stringify({ client, type, ...fields }) + '\n');
}

function echoOn(port, user) {
  const headers = { 'X-User-Id': user, 'X-User-Name': `${user} name` };
  return new Echo({
    broadcaster: 'reverb',
    Pusher,
    key: config.key,
    wsHost: '127.0.0.1',
    wsPort: port,
    forceTLS: false,
    enabledTransports: ['ws'],
    disableStats: true,
    authEndpoint: auth.channelEndpoint,
    auth: { headers },
  });
}

const commands = {
  connect({ client, port }) {
    const echo = echoOn(port, client);
    clients[client] = echo;
    const connection = echo.connector.pusher.connection;
    connection.bind('state_change', ({ previous, current }) => emit(client, 'state', { previous, current }));
    connection.bind('connected', () => emit(client, 'connected', { socket_id: connection.socket_id }));
  },
  join({ client, room }) {
    clients[client].join(room)
      .here((users) => emit(client, 'here', { room, users: users.map((user) => user.id).sort() }))
      .joining((user) => emit(client, 'joining', { room, user: user.id }))
      .leaving((user) => emit(client, 'leaving', { room, user: user.id }))
      .error((error) => emit(client, 'subscription_error', { room, error }));
  },
  listen({ client, channel, event }) {
    clients[client].channel(channel)
      .listen(`.${event}`, (data) => emit(client, 'event', { channel, event, data }))
      .subscribed(() => emit(client, 'subscribed', { channel }))
      .error((error) => emit(client, 'subscription_error', { channel, error }));
  },
  exit() {
    for (const echo of Object.values(clients)) echo.disconnect();
    auth.close().finally(() => process.exit(0));
  },
};

readline.createInterface({ input: process.stdin }).on('line', (line) => {
  const command = JSON.parse(line);
  try {
    commands[command.op](command);
  } catch (error) {
    emit(command.client ?? null, 'driver_error', { op: command.op, message: String(error) });
  }
});
process.stdin.on('end', () => process.exit(0));
emit(null, 'ready');
