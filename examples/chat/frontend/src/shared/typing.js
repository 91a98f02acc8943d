// "N users typing…" from Echo whispers (client-typing events that go browser to browser through pusherpy,
// never through the backend). A typing user whispers at most once a second while keys are pressed; a
// receiver shows them for 3 s after their last whisper, so the indicator ends by itself when they stop.

export const TYPING_TTL_MS = 3000;
export const WHISPER_EVERY_MS = 1000;

export class TypingTracker {
  constructor(onChange) {
    this.onChange = onChange;
    this.users = new Map(); // id -> { name, until }
    this.timer = null;
  }

  // A whisper from another user: { id, name, typing }.
  seen({ id, name, typing }) {
    if (!id) return;
    if (typing === false) this.users.delete(id);
    else this.users.set(id, { name, until: Date.now() + TYPING_TTL_MS });
    this.schedule();
  }

  // The user sent a message: they are not typing any more, whatever their last whisper said.
  stopped(id) {
    if (this.users.delete(id)) this.schedule();
  }

  names() {
    return [...this.users.values()].map((user) => user.name);
  }

  label() {
    const count = this.users.size;
    if (count === 0) return "";
    return `${count} user${count === 1 ? "" : "s"} typing…`;
  }

  schedule() {
    clearTimeout(this.timer);
    const now = Date.now();
    for (const [id, user] of this.users) if (user.until <= now) this.users.delete(id);
    if (this.users.size > 0) {
      const next = Math.min(...[...this.users.values()].map((user) => user.until));
      this.timer = setTimeout(() => this.schedule(), next - now);
    }
    this.onChange();
  }

  dispose() {
    clearTimeout(this.timer);
  }
}

// Whispers for the local user: typed() on every key press (throttled), sent() when the message goes out.
export function typingWhisperer(whisper, me) {
  let last = 0;
  return {
    typed() {
      const now = Date.now();
      if (now - last < WHISPER_EVERY_MS) return;
      last = now;
      whisper({ id: me.id, name: me.name, typing: true });
    },
    sent() {
      last = 0;
      whisper({ id: me.id, name: me.name, typing: false });
    },
  };
}
