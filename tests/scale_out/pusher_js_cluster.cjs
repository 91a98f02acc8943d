// Real, unmodified pusher-js clients on two different pusherpy nodes of one cluster, and the npm `pusher` SDK as
// the backend on a third. Run by tests/scale_out/test_pusher_js.py with NODE_PATH=tests/compat/node_modules.
// Prints one JSON document of what the clients saw; pytest asserts on it. Every wait has a deadline.

const Pusher = require('pusher-js');
const PusherServer = require('pusher');

const env = process.env;
const ports = env.CLUSTER_PORTS.split(',').map(Number);
const app = { appId: env.APP_ID, key: env.APP_KEY, secret: env.APP_SECRET };
const channelName = `presence-js-${process.pid}`;

function backend(port) {
  return new PusherServer({ ...app, host: '127.0.0.1', port: String(port), useTLS: false });
}

function client(port, userId) {
  const signer = backend(port);
  return new Pusher(app.key, {
    wsHost: '127.0.0.1',
    wsPort: port,
    forceTLS: false,
    enabledTransports: ['ws'],
    cluster: 'mt1',
    channelAuthorization: {
      customHandler: ({ socketId, channelName: name }, callback) =>
        callback(null, signer.authorizeChannel(socketId, name, { user_id: userId, user_info: { name: userId } })),
    },
  });
}

function within(promise, what, ms = 5000) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function once(channel, event) {
  return new Promise((resolve) => channel.bind(event, resolve));
}

async function main() {
  const ann = client(ports[0], 'ann');
  const annChannel = ann.subscribe(channelName);
  await within(once(annChannel, 'pusher:subscription_succeeded'), 'ann subscribed');

  const bob = client(ports[1], 'bob');
  const bobChannel = bob.subscribe(channelName);
  const added = once(annChannel, 'pusher:member_added');
  const bobMembers = await within(once(bobChannel, 'pusher:subscription_succeeded'), 'bob subscribed');
  const addedMember = await within(added, 'member_added on ann');
  const bobSaw = { ids: [], count: bobMembers.count };
  bobMembers.each((member) => bobSaw.ids.push(member.id));

  const annGreeting = once(annChannel, 'greeting');
  const bobGreeting = once(bobChannel, 'greeting');
  await backend(ports[2]).trigger(channelName, 'greeting', { text: 'hello cluster' });
  const greetings = await within(Promise.all([annGreeting, bobGreeting]), 'the greeting on both nodes');

  const removed = once(annChannel, 'pusher:member_removed');
  bob.disconnect();
  const removedMember = await within(removed, 'member_removed on ann');
  const annCountAfter = annChannel.members.count;
  ann.disconnect();

  process.stdout.write(
    JSON.stringify({
      bob_sees_members: bobSaw.ids.sort(),
      bob_sees_count: bobSaw.count,
      ann_saw_added: { id: addedMember.id, info: addedMember.info },
      greetings,
      ann_saw_removed: removedMember.id,
      ann_count_after: annCountAfter,
    }),
  );
}

main().then(
  () => process.exit(0),
  (error) => {
    process.stderr.write(`${error.stack || error}\n`);
    process.exit(1);
  },
);
