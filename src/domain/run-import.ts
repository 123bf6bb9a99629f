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
  /** The first IMPORT_ERRORS_SHOWN refused lines, with why. */
  errors: { line: number; err_msg: string }[];
}

export interface ImportOptions {
  maxTokenBytes: number;
  /** The error the import stops with when the store fails, given how many lines were imported. */
  storeFailed: (error: unknown, imported: number) => Error;
}

export async function runImport(
  store: BindingStore,
  appId: number,
  lines: AsyncIterable<string[]>,
  options: ImportOptions,
): Promise<ImportReport> {
  const writes = new ImportPipeline(
    (bindings) => store.importBindings(appId, bindings),
    options.storeFailed,
    store.importConcurrency,
  );
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
        await writes.add(batch);
        batch = [];
      }
    }
  }
  if (batch.length > 0) await writes.add(batch);
  return { imported: await writes.finish(), failed, errors };
}
