// Shared plumbing for the compat scenarios: the real pusher-js, laravel-echo and npm `pusher` SDK, configured
// from the environment that tests/compat/conftest.py sets, plus an auth endpoint signed by the npm SDK.
//
// Every wait has a deadline. A scenario prints one JSON document on stdout and exits 0, or prints the reason on
// stderr and exits 1. Nothing here decides pass or fail beyond "the scenario could run": pytest asserts on the JSON.

import http from 'node:http';
import Pusher from 'pusher-js';
import PusherServer from 'pusher';
import Echo from 'laravel-echo';

export { Pusher, PusherServer, Echo };

const env = process.env;

function required(name) {
  const value = env[name];
  if (!value) throw new Error(`environment variable ${name} is not set (tests/compat/conftest.py sets it)`);
  return value;
}

/** The server and app under test, as pytest passed them. */
export const config = {
  host: required('COMPAT_HOST'),
  port: Number(required('COMPAT_PORT')),
  appId: required('COMPAT_APP_ID'),
  key: required('COMPAT_APP_KEY'),
  secret: required('COMPAT_APP_SECRET'),
  masterKeyBase64: required('COMPAT_MASTER_KEY_BASE64'),
  timeoutMs: Number(env.COMPAT_TIMEOUT_MS || 5000),
};

/** A unique suffix so scenarios sharing one server never share a channel or a user. */
export const unique = `${process.pid}-${Date.now().toString(36)}`;

/** The official npm SDK pointed at the server under test (the "backend"). */
export function sdk(overrides = {}) {
  return new PusherServer({
    appId: config.appId,
    key: config.key,
    secret: config.secret,
    host: config.host,
    port: String(config.port),
    useTLS: false,
    encryptionMasterKeyBase64: config.masterKeyBase64,
    ...overrides,
  });
}

/** Reject with a message naming what was awaited if `promise` takes longer than `ms`. */
export function deadline(promise, what, ms = config.timeoutMs) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Collects things that happen (events, state changes) in arrival order, and waits for conditions on them.
 * `waitFor(predicate, what)` resolves with the first matching entry, including ones recorded before the call.
 */
export class Recorder {
  constructor() {
    this.entries = [];
    this.waiters = [];
  }

  record(entry) {
    this.entries.push(entry);
    for (const waiter of [...this.waiters]) {
      if (waiter.predicate(entry)) {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        waiter.resolve(entry);
      }
    }
  }

  waitFor(predicate, what, ms = config.timeoutMs) {
    const found = this.entries.find(predicate);
    if (found) return Promise.resolve(found);
    const waiter = { predicate };
    const promise = new Promise((resolve) => {
      waiter.resolve = resolve;
    });
    this.waiters.push(waiter);
    return deadline(promise, what, ms).finally(() => {
      const index = this.waiters.indexOf(waiter);
      if (index >= 0) this.waiters.splice(index, 1);
    });
  }

  filter(predicate) {
    return this.entries.filter(predicate);
  }
}

/**
 * A tiny Laravel-like auth backend on 127.0.0.1 and a free port, signing with the npm SDK's `authorizeChannel`
 * and `authenticateUser`. The "logged-in user" comes from request headers, as a session cookie would:
 * X-User-Id, X-User-Name and X-Watchlist (comma-separated). Channels whose name contains "forbidden" get 403;
 * channels whose name contains "forged" get a well-formed answer signed with the wrong secret.
 */
export async function startAuthServer() {
  const honest = sdk();
  const forger = sdk({ secret: 'not-the-secret' });
  const requests = [];
  const server = http.createServer((request, response) => {
    let body = '';
    request.on('data', (chunk) => {
      body += chunk;
    });
    request.on('end', () => {
      const form = new URLSearchParams(body);
      const userId = request.headers['x-user-id'];
      const userName = request.headers['x-user-name'] || `user ${userId}`;
      const socketId = form.get('socket_id');
      let status = 200;
      let answer;
      try {
        if (request.url === '/broadcasting/auth') {
          const channel = form.get('channel_name');
          const signer = channel.includes('forged') ? forger : honest;
          requests.push({ kind: 'channel', channel, userId });
          if (channel.includes('forbidden') || !userId) {
            status = 403;
            answer = { error: 'forbidden' };
          } else if (channel.startsWith('presence-')) {
            answer = signer.authorizeChannel(socketId, channel, {
              user_id: userId,
              user_info: { id: userId, name: userName },
            });
          } else {
            answer = signer.authorizeChannel(socketId, channel);
          }
        } else if (request.url === '/broadcasting/user-auth') {
          requests.push({ kind: 'user', userId });
          const watchlist = (request.headers['x-watchlist'] || '').split(',').filter(Boolean);
          const user = { id: userId, user_info: { name: userName } };
          if (watchlist.length) user.watchlist = watchlist;
          answer = honest.authenticateUser(socketId, user);
        } else {
          status = 404;
          answer = { error: 'not found' };
        }
      } catch (error) {
        status = 500;
        answer = { error: String(error) };
      }
      response.writeHead(status, { 'Content-Type': 'application/json' });
      response.end(JSON.stringify(answer));
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${server.address().port}`;
  return {
    requests,
    channelEndpoint: `${base}/broadcasting/auth`,
    userEndpoint: `${base}/broadcasting/user-auth`,
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}

/** The pusher-js options a Laravel app uses against a self-hosted server, for one logged-in user. */
export function pusherOptions(auth, { user, name, watchlist } = {}) {
  const headers = {};
  if (user !== undefined) headers['X-User-Id'] = user;
  if (name !== undefined) headers['X-User-Name'] = name;
  if (watchlist !== undefined) headers['X-Watchlist'] = watchlist.join(',');
  return {
    wsHost: config.host,
    wsPort: config.port,
    forceTLS: false,
    enabledTransports: ['ws'],
    cluster: 'mt1',
    disableStats: true,
    channelAuthorization: { endpoint: auth.channelEndpoint, transport: 'ajax', headers },
    userAuthentication: { endpoint: auth.userEndpoint, transport: 'ajax', headers },
  };
}

/** Record a pusher-js connection's state changes and errors into `recorder` under `label`. */
export function watchConnection(pusher, recorder, label) {
  pusher.connection.bind('state_change', ({ previous, current }) => {
    recorder.record({ type: 'state', client: label, previous, current });
  });
  pusher.connection.bind('error', (error) => {
    const data = error && error.data ? error.data : undefined;
    recorder.record({ type: 'connection_error', client: label, error: error && error.type, data });
  });
}

/** Wait until a pusher-js (or Echo's) connection is connected; return its socket_id. */
export async function connected(pusher, what = 'the connection') {
  if (pusher.connection.state !== 'connected') {
    await deadline(
      new Promise((resolve) => pusher.connection.bind('connected', resolve)),
      `${what} to reach state "connected" (it is "${pusher.connection.state}")`,
    );
  }
  return pusher.connection.socket_id;
}

/** Subscribe and wait for pusher:subscription_succeeded (resolves with its data) or fail on subscription_error. */
export function subscribe(pusher, name) {
  const channel = pusher.subscribe(name);
  return subscribed(channel, name);
}

/** Wait for an already-created channel's subscription to succeed; resolves with the succeeded data. */
export function subscribed(channel, name = channel.name) {
  if (channel.subscribed) return Promise.resolve(undefined);
  return deadline(
    new Promise((resolve, reject) => {
      channel.bind('pusher:subscription_succeeded', resolve);
      channel.bind('pusher:subscription_error', (error) =>
        reject(new Error(`subscription to ${name} failed: ${JSON.stringify(error)}`)),
      );
    }),
    `subscription to ${name}`,
  );
}

/** Wait until the socket closes (state "disconnected", "failed" or "unavailable"). */
export async function disconnected(pusher, what = 'the connection to close') {
  const done = ['disconnected', 'failed', 'unavailable'];
  if (done.includes(pusher.connection.state)) return pusher.connection.state;
  return deadline(
    new Promise((resolve) =>
      pusher.connection.bind('state_change', ({ current }) => {
        if (done.includes(current)) resolve(current);
      }),
    ),
    what,
  );
}

/** Turn a rejected SDK call into data pytest can assert on (error type, status, body). */
export async function outcome(promise) {
  try {
    const response = await promise;
    const text = await response.text();
    return { ok: true, status: response.status, body: text ? JSON.parse(text) : null };
  } catch (error) {
    return {
      ok: false,
      error: error.name,
      isRequestError: error instanceof PusherServer.RequestError,
      status: error.status ?? null,
      body: error.body ?? null,
      message: error.message,
    };
  }
}

/**
 * Run one scenario: `main()` returns the JSON-able result. Everything is bounded by an overall deadline, and the
 * process exits when done, so a stray socket or timer can never keep it alive.
 */
export function run(main, overallMs = config.timeoutMs * 4) {
  const timer = setTimeout(() => {
    process.stderr.write(`scenario timed out after ${overallMs} ms\n`);
    process.exit(1);
  }, overallMs);
  Promise.resolve()
    .then(main)
    .then(
      (result) => {
        clearTimeout(timer);
        process.stdout.write(JSON.stringify(result) + '\n', () => process.exit(0));
      },
      (error) => {
        clearTimeout(timer);
        process.stderr.write(`scenario failed: ${error && error.stack ? error.stack : error}\n`);
        process.exit(1);
      },
    );
}

/**
 * Run a held scenario: `main()` reports on stdout as it goes and returns once pytest closes its stdin. Bounded by
 * 60 s in all, so a scenario pytest forgot can never outlive the test; exits 0 when `main()` returns, 1 on error.
 */
export function runHeld(main, name) {
  const timer = setTimeout(() => {
    process.stderr.write(`${name}: not ended by pytest within 60 s\n`);
    process.exit(1);
  }, 60_000);
  main().then(
    () => {
      clearTimeout(timer);
      process.exit(0);
    },
    (error) => {
      process.stderr.write(`${name} failed: ${error && error.stack ? error.stack : error}\n`);
      process.exit(1);
    },
  );
}

/**
 * A Laravel Echo 2 instance configured the way a Laravel app's bootstrap/echo.js does for Reverb, for one
 * logged-in user (the auth headers stand in for the session cookie).
 */
export function echoFor(auth, { user, name, broadcaster = 'reverb' }) {
  const headers = { 'X-User-Id': user, 'X-User-Name': name };
  return new Echo({
    broadcaster,
    Pusher,
    key: config.key,
    wsHost: config.host,
    wsPort: config.port,
    forceTLS: false,
    enabledTransports: ['ws'],
    disableStats: true,
    authEndpoint: auth.channelEndpoint,
    auth: { headers },
    userAuthentication: { endpoint: auth.userEndpoint, headers },
  });
}

/** Wait until an Echo channel's subscription succeeded (Echo's `subscribed` / `error` callbacks). */
export function echoSubscribed(channel, what = channel.name) {
  return deadline(
    new Promise((resolve, reject) => {
      if (channel.subscription.subscribed) resolve();
      channel.subscribed(resolve);
      channel.error((error) => reject(new Error(`Echo subscription to ${what} failed: ${JSON.stringify(error)}`)));
    }),
    `Echo subscription to ${what}`,
  );
}

/** Wait until pusher-js has signed in and subscribed its #server-to-user-<id> channel. */
export async function signedIn(pusher, what = 'sign-in') {
  await deadline(
    new Promise((resolve, reject) => {
      pusher.connection.bind('message', (event) => {
        if (event.event === 'pusher:signin_success') resolve();
      });
      pusher.user.bind('pusher:signin_error', (error) => reject(new Error(`${what} failed: ${JSON.stringify(error)}`)));
      pusher.signin();
    }),
    `pusher:signin_success for ${what}`,
  );
  await subscribed(pusher.user.serverToUserChannel, `#server-to-user channel after ${what}`);
  return JSON.parse(JSON.stringify(pusher.user.user_data));
}

/**
 * pusher-js options for an app whose auth endpoints live elsewhere (e.g. a Python backend under test), sending
 * `headers` (say `Authorization: Bearer ...`) with every channel authorization and user authentication request.
 * `endpoints` is `{channelEndpoint, userEndpoint}`.
 */
export function pusherOptionsWith(endpoints, headers = {}) {
  const options = pusherOptions(endpoints);
  options.channelAuthorization.headers = { ...headers };
  options.userAuthentication.headers = { ...headers };
  return options;
}

/** A Laravel Echo 2 instance (broadcaster "reverb") whose auth requests go to `endpoints` with `headers`. */
export function echoWith(endpoints, headers = {}) {
  return new Echo({
    broadcaster: 'reverb',
    Pusher,
    key: config.key,
    wsHost: config.host,
    wsPort: config.port,
    forceTLS: false,
    enabledTransports: ['ws'],
    disableStats: true,
    authEndpoint: endpoints.channelEndpoint,
    auth: { headers: { ...headers } },
    userAuthentication: { endpoint: endpoints.userEndpoint, headers: { ...headers } },
  });
}

/**
 * Wait until an Echo channel either subscribes or is refused; resolves `{subscribed: true}` or
 * `{subscribed: false, error}` with what Echo's `.error()` callback got, so a refusal is data, not a failure.
 */
export function echoOutcome(channel, what = channel.name) {
  return deadline(
    new Promise((resolve) => {
      if (channel.subscription.subscribed) resolve({ subscribed: true });
      channel.subscribed(() => resolve({ subscribed: true }));
      channel.error((error) => resolve({ subscribed: false, error }));
    }),
    `Echo's subscribed() or error() for ${what}`,
  );
}
