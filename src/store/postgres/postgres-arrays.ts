/**
 * Lists as PostgreSQL array literals, for the `$n::type[]` parameters every batch statement takes.
 * pg serializes an array parameter itself, but by concatenating one element at a time,
 * and under durable batchoperate that was the largest allocation of bindery's process: ~92 KB of the
 * ~410 KB allocated per write, each survivor of a scavenge copied (BENCHMARKS.md). The
 * literal made here is the same text, built with one join.
 */

type Scalar = string | number | boolean | null | undefined;

const SPECIAL = /["\\]/;
const SPECIALS = /["\\]/g;

/** `{"a","b\"c",NULL,1}`: text quoted (`"` and `\` escaped), null as NULL, numbers and booleans as PostgreSQL reads them. */
export function arrayLiteral(values: readonly Scalar[]): string {
  const parts = new Array<string>(values.length);
  for (let i = 0; i < values.length; i++) {
    const value = values[i];
    if (value === null || value === undefined) parts[i] = 'NULL';
    else if (typeof value === 'string')
      parts[i] = SPECIAL.test(value) ? `"${value.replace(SPECIALS, '\\$&')}"` : `"${value}"`;
    else if (typeof value === 'boolean') parts[i] = value ? 't' : 'f';
    else parts[i] = String(value);
  }
  return `{${parts.join(',')}}`;
}

/** The parameters with each list as its literal; the others as they are. */
export function withArrayLiterals(params: readonly unknown[]): unknown[] {
  return params.map((param) => (Array.isArray(param) ? arrayLiteral(param as Scalar[]) : param));
}
