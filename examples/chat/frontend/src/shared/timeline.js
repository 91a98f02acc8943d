// The messages of one conversation, rebuilt from the stored history plus the live events, without gaps or
// duplicates. No DOM and no Echo here: both pages feed it events and render timeline.list().
//
// How a streaming reply stays exact:
// - every StreamingChunk has a sequence (0, 1, 2, ...); a message keeps `nextSequence` and holds chunks that
//   arrive early in `pending` until the missing ones come, so chunks apply in order whatever order they arrive in;
// - the history (GET .../messages) gives each streaming message its stored text and `last_sequence`; live chunks
//   at or below it are already in that text and are skipped;
// - events that arrive while the history is loading are buffered and applied after it (the page subscribes
//   first, then loads, so nothing falls between the two);
// - MessageCompleted and StreamFailed carry the stored text, which is final.

export class Timeline {
  constructor() {
    this.messages = new Map();
    this.buffer = [];
    this.loading = true;
    this.generation = 0;
  }

  // Start (re)loading the history: live events are held until finishLoad. Returns a token for finishLoad, so
  // that only the newest of overlapping loads (after quick reconnects) is applied.
  beginLoad() {
    this.loading = true;
    this.generation += 1;
    return this.generation;
  }

  // Apply the stored messages, then the events held meanwhile. Returns false for a superseded load.
  finishLoad(generation, stored) {
    if (generation !== this.generation) return false;
    for (const message of stored) this.merge(message);
    this.loading = false;
    const held = this.buffer;
    this.buffer = [];
    for (const [kind, payload] of held) this.apply(kind, payload);
    return true;
  }

  // A live event: kind is "created", "chunk", "completed" or "failed".
  receive(kind, payload) {
    if (this.loading) this.buffer.push([kind, payload]);
    else this.apply(kind, payload);
  }

  apply(kind, payload) {
    if (kind === "created") this.merge(payload);
    else if (kind === "chunk") this.chunk(payload);
    else if (kind === "completed") this.finish(payload, "complete");
    else if (kind === "failed") this.finish(payload, "failed");
  }

  // Add a message, or bring a known one forward to what the server says (never backwards).
  merge(stored) {
    const known = this.messages.get(stored.id);
    if (!known) {
      this.messages.set(stored.id, {
        ...stored,
        nextSequence: stored.last_sequence + 1,
        pending: new Map(),
      });
      this.drain(this.messages.get(stored.id));
      return;
    }
    if (known.status !== "streaming") return; // already final
    if (stored.status !== "streaming") {
      Object.assign(known, { status: stored.status, content: stored.content, error: stored.error });
      known.nextSequence = stored.last_sequence + 1;
      known.pending.clear();
    } else if (stored.last_sequence + 1 > known.nextSequence) {
      known.content = stored.content;
      known.nextSequence = stored.last_sequence + 1;
      this.drain(known);
    }
  }

  chunk({ messageId, conversationId, chunk, sequence }) {
    let message = this.messages.get(messageId);
    if (!message) {
      // A chunk of a reply whose MessageCreated we never saw: start it empty; the history fills any gap.
      message = { id: messageId, conversationId, role: "assistant", content: "", status: "streaming", user: null };
      message.nextSequence = 0;
      message.pending = new Map();
      this.messages.set(messageId, message);
    }
    if (message.status !== "streaming" || sequence < message.nextSequence) return; // known or final: a duplicate
    message.pending.set(sequence, chunk);
    this.drain(message);
  }

  drain(message) {
    while (message.pending.has(message.nextSequence)) {
      message.content += message.pending.get(message.nextSequence);
      message.pending.delete(message.nextSequence);
      message.nextSequence += 1;
    }
    for (const sequence of message.pending.keys()) {
      if (sequence < message.nextSequence) message.pending.delete(sequence);
    }
  }

  finish({ messageId, content, error, last_sequence }, status) {
    const message = this.messages.get(messageId);
    if (!message || message.status !== "streaming") return;
    Object.assign(message, { status, content, error: error ?? null, nextSequence: last_sequence + 1 });
    message.pending.clear();
  }

  // The messages in order, as plain snapshots (safe to hand to React).
  list() {
    return [...this.messages.values()]
      .sort((a, b) => a.id - b.id)
      .map(({ pending, ...message }) => ({ ...message, waiting: pending.size }));
  }
}
