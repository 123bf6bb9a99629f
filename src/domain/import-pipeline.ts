/**
 * Writes an import's batches with up to `depth` of them in flight, so the store (two PostgreSQL
 * connections, or the SQLite writer thread's queue) works while the next batch is parsed.
 * Order is kept where it matters: a batch that shares a binding key with one still in flight
 * waits for it, so a key given twice keeps its later line. A store failure is kept and thrown
 * by the next call, never left as an unhandled rejection.
 */
import { type Binding, bindingKeyString } from '../model/types.ts';

interface InFlight {
  keys: Set<string>;
  done: Promise<void>;
}

const NO_KEYS = new Set<string>();

export class ImportPipeline {
  /** Bindings whose batch is committed. */
  imported = 0;
  private readonly inFlight: InFlight[] = [];
  private failure: Error | null = null;

  constructor(
    private readonly write: (batch: Binding[]) => Promise<void>,
    /** Turns a store error into the error the import answers with, given how many were imported. */
    private readonly failed: (error: unknown, imported: number) => Error,
    private readonly depth = 2,
  ) {}

  /** Hands a batch to the store; resolves once it is on its way (not once it is committed). */
  async add(batch: Binding[]): Promise<void> {
    // With one in flight, nothing is left to overlap with once it is done: no keys needed.
    const keys = this.depth > 1 ? new Set(batch.map(bindingKeyString)) : NO_KEYS;
    while (this.inFlight.length >= this.depth || this.inFlight.some((w) => shares(w.keys, keys))) {
      await Promise.race(this.inFlight.map((w) => w.done));
    }
    this.throwIfFailed();
    const entry: InFlight = { keys, done: Promise.resolve() };
    entry.done = this.write(batch)
      .then(
        () => void (this.imported += batch.length),
        (error: unknown) => void (this.failure ??= this.failed(error, this.imported)),
      )
      .finally(() => this.inFlight.splice(this.inFlight.indexOf(entry), 1));
    this.inFlight.push(entry);
  }

  /** Waits for every batch; throws the first store failure. Returns how many were imported. */
  async finish(): Promise<number> {
    while (this.inFlight.length > 0) await this.inFlight[0]!.done;
    this.throwIfFailed();
    return this.imported;
  }

  private throwIfFailed(): void {
    if (this.failure) throw this.failure;
  }
}

function shares(a: Set<string>, b: Set<string>): boolean {
  const [small, large] = a.size <= b.size ? [a, b] : [b, a];
  for (const key of small) if (large.has(key)) return true;
  return false;
}
