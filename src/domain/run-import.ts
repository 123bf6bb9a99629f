/**
 * An import, from lines of text to committed bindings: each line parsed and checked as the export
 * writes it, the good ones written in transactions of IMPORT_BATCH through the store's
 * importBindings (caps are not applied: this copies and restores data), the refused ones counted
 * with their line numbers. The edge brings the lines and turns the report into an answer.
 */
import type { BindingStore } from '../model/store.ts';
import type { Binding } from '../model/types.ts';
import { parseBindingLine } from './binding-lines.ts';
import { ImportPipeline } from './import-pipeline.ts';

/** Lines per transaction: a failed one leaves nothing of itself applied. */
export const IMPORT_BATCH = 5000;
/** Refused lines reported one by one; the others are counted. */
export const IMPORT_ERRORS_SHOWN = 100;

export interface ImportReport {
  imported: number;
  failed: number;
  /**
   * Under the `tpns` binding rules, where a later line's account took a token's account_type slot
   * (as op 2 would): stored bindings it removed, and earlier lines it left unapplied.
   */
  replaced: number;
  superseded: number;
  /** The first IMPORT_ERRORS_SHOWN refused lines, with why. */
  errors: { line: number; err_msg: string }[];
}

export interface ImportOptions {
  maxTokenBytes: number;
  /**
   * The app's `tpns` binding rules: a token holds one account per account_type, so a line takes
   * the slot from an earlier line and from what is stored (the later wins, as with op 2).
   */
  slots?: boolean;
  /** The error the import stops with when the store fails, given how many lines were imported. */
  storeFailed: (error: unknown, imported: number) => Error;
}

export async function runImport(
  store: BindingStore,
  appId: number,
  lines: AsyncIterable<string[]>,
  options: ImportOptions,
): Promise<ImportReport> {
  const slots = options.slots === true;
  let replaced = 0;
  const writes = new ImportPipeline(
    async (bindings) => void (replaced += await store.importBindings(appId, bindings, slots)),
    options.storeFailed,
    // A batch's slots may be another's keys: one batch at a time keeps the later line the winner.
    slots ? 1 : store.importConcurrency,
  );
  let superseded = 0;
  const slotOf = (b: Binding) => `${b.accountType} ${b.token}`;
  /** Under slots, the last line of each token and account_type in a batch; a line of another account before it is superseded. */
  const bySlot = (batch: Binding[]): Binding[] => {
    if (!slots) return batch;
    const last = new Map<string, Binding>();
    for (const b of batch) last.set(slotOf(b), b);
    superseded += batch.filter((b) => last.get(slotOf(b))?.account !== b.account).length;
    // A binding given twice keeps its later line, as without slots.
    return batch.filter((b) => last.get(slotOf(b)) === b);
  };
  const errors: ImportReport['errors'] = [];
  let failed = 0;
  let lineNumber = 0;
  let batch: Binding[] = [];
  // A line without bound_at is bound now, in line order.
  const now = Date.now() * 1000;
  for await (const texts of lines) {
    for (const text of texts) {
      lineNumber++;
      if (text.trim() === '') continue;
      const parsed = parseBindingLine(text, options.maxTokenBytes, now + lineNumber);
      if (typeof parsed === 'string') {
        failed++;
        if (errors.length < IMPORT_ERRORS_SHOWN)
          errors.push({ line: lineNumber, err_msg: `line ${lineNumber}: ${parsed}` });
        continue;
      }
      batch.push(parsed);
      if (batch.length >= IMPORT_BATCH) {
        await writes.add(bySlot(batch));
        batch = [];
      }
    }
  }
  if (batch.length > 0) await writes.add(bySlot(batch));
  return { imported: await writes.finish(), failed, errors, replaced, superseded };
}
