// Memos of pure decisions that every message repeats with the same inputs (its recipient domain
// at RCPT, at enqueue and at each attempt). A compiled model is deep-frozen and replaced, never
// changed, on reload, so a result kept per model object is valid exactly as long as that model
// is live; the WeakMap lets an old model's results go with it. Each table is bounded: past
// `limit` distinct keys it starts again, so a flood of one-off domains costs memory once.

const DEFAULT_LIMIT = 10_000;

/** A bounded memo of a pure function of one string key. */
export class KeyMemo<V> {
  private readonly table = new Map<string, V>();
  constructor(private readonly limit = DEFAULT_LIMIT) {}

  get(key: string, compute: (key: string) => V): V {
    const hit = this.table.get(key);
    if (hit !== undefined || this.table.has(key)) return hit as V;
    const value = compute(key);
    if (this.table.size >= this.limit) this.table.clear();
    this.table.set(key, value);
    return value;
  }
}

/** A bounded memo per model object of a pure function of (model, key). */
export class ModelMemo<M extends object, V> {
  private readonly byModel = new WeakMap<M, KeyMemo<V>>();
  constructor(private readonly limit = DEFAULT_LIMIT) {}

  get(model: M, key: string, compute: (key: string) => V): V {
    let memo = this.byModel.get(model);
    if (!memo) {
      memo = new KeyMemo<V>(this.limit);
      this.byModel.set(model, memo);
    }
    return memo.get(key, compute);
  }
}
