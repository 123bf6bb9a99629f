/** The answer of a request applied item by item (batchoperate, feedback, seen): a code per item and a summary. */
import { RetCode } from '../errors.ts';
import { type StatusResponse, status } from './tpns/schemas.ts';

/** How many item failures err_msg spells out before summarising. */
const MESSAGES_SHOWN = 3;

export interface ItemResult {
  code: number;
  /** What was wrong and where (the item's path first), for a failed item. */
  message?: string;
}

/** `result`: one code per item, as a string (TPNS); ret_code 0, 1008026 (some failed) or 1008027 (all failed). */
export function perItemAnswer(items: ItemResult[], noun: string): StatusResponse & { result: string[] } {
  const result = items.map((item) => String(item.code));
  const failures = items.filter((item) => item.code !== RetCode.OK).map((item) => item.message ?? 'failed');
  if (failures.length === 0) return { ...status(RetCode.OK, 'ok'), result };
  const all = failures.length === items.length;
  const shown = failures.slice(0, MESSAGES_SHOWN).join('; ');
  const more = failures.length > MESSAGES_SHOWN ? `; and ${failures.length - MESSAGES_SHOWN} more` : '';
  const summary = all
    ? `all ${items.length} ${noun} failed`
    : `${failures.length} of ${items.length} ${noun} failed, the others were applied`;
  return { ...status(all ? RetCode.ALL_FAILED : RetCode.SOME_FAILED, `${summary}: ${shown}${more}`), result };
}
