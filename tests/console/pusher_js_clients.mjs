// Real pusher-js clients driven line by line from pytest (tests/console/pusher_js.py), so a test can look at the
// console between steps. argv[2]: [{"label", "user"}]. Prints one JSON line per thing that happens:
//   {"type": "ready", "clients": {label: socket_id}}             every client connected
//   {"type": "joined", client, channel}                           after {"do": "join", client, channel}
//   {"type": "whispered", client, channel, event}                 after {"do": "whisper", client, channel, event, data}
//   {"type": "event", client, channel, event, data}               every event a client receives (pusher: ones left out)
//   {"type": "left", client}                                      after {"do": "disconnect", client}
// Exits 0 when stdin closes. pusher-js comes from tests/compat/node_modules (through the compat harness).

import readline from 'node:readline';
import { Pusher, connected, disconnected, pusherOptions, runHeld, startAuthServer, subscribe } from '../compat/lib/harness.mjs';

const print = (message) => process.stdout.write(JSON.stringify(message) + '\n');

async function main() {
  const auth = await startAuthServer();
  const clients = {};
  const ready = {};
  for (const { label, user } of JSON.parse(process.argv[2])) {
    const pusher = new Pusher(process.env.COMPAT_APP_KEY, pusherOptions(auth, { user, name: label }));
    clients[label] = pusher;
    ready[label] = await connected(pusher, `${label}'s connection`);
  }
  print({ type: 'ready', clients: ready });
  const lines = readline.createInterface({ input: process.stdin });
  for await (const line of lines) {
    const command = JSON.parse(line);
    const pusher = clients[command.client];
    if (command.do === 'join') {
      pusher.subscribe(command.channel).bind_global((event, data) => {
        if (!event.startsWith('pusher:')) print({ type: 'event', client: command.client, channel: command.channel, event, data });
      });
      await subscribe(pusher, command.channel);
      print({ type: 'joined', client: command.client, channel: command.channel });
    } else if (command.do === 'whisper') {
      const sent = pusher.channel(command.channel).trigger(command.event, command.data);
      if (!sent) throw new Error(`pusher-js refused to send ${command.event}`);
      print({ type: 'whispered', client: command.client, channel: command.channel, event: command.event });
    } else if (command.do === 'disconnect') {
      pusher.disconnect();
      await disconnected(pusher, `${command.client}'s disconnection`);
      print({ type: 'left', client: command.client });
    } else {
      throw new Error(`unknown command ${line}`);
    }
  }
  for (const pusher of Object.values(clients)) pusher.disconnect();
  await auth.close();
}

runHeld(main, 'pusher_js_clients.mjs');
