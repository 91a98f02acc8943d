// The pusher-js snippet `pusherpy serve` prints, run exactly as printed (SNIPPET), in Node: connect, subscribe to
// a public channel, say "subscribed" on stdout, then print the first event that arrives as one JSON line.

import Pusher from 'pusher-js';

const snippet = process.env.SNIPPET;
if (!snippet) throw new Error('SNIPPET is not set (tests/first_hour sets it)');
const deadline = setTimeout(() => {
  console.error('no event within 10 s');
  process.exit(1);
}, 10_000);

// The snippet is one `new Pusher(...)` expression statement, as a developer pastes it into a page.
const pusher = new Function('Pusher', `return ${snippet.trim().replace(/;$/, '')}`)(Pusher);
const channel = pusher.subscribe('first-hour');
channel.bind('pusher:subscription_succeeded', () => console.log('subscribed'));
channel.bind('greeting', (data) => {
  console.log(JSON.stringify({ socket_id: pusher.connection.socket_id, data }));
  clearTimeout(deadline);
  pusher.disconnect();
  process.exit(0);
});
