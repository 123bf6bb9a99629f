/** The admin API, as the console calls it: the admin token in sessionStorage, errors as messages people can act on. */

const TOKEN_KEY = 'bindery-admin-token';

export const savedToken = (): string | null => sessionStorage.getItem(TOKEN_KEY);
export const saveToken = (token: string | null): void =>
  token === null ? sessionStorage.removeItem(TOKEN_KEY) : sessionStorage.setItem(TOKEN_KEY, token);

export class ApiFailure extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

export async function api<T>(
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE',
  path: string,
  body?: unknown,
  token = savedToken(),
): Promise<T> {
  let response: Response;
  try {
    response = await fetch(`/admin/v1${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token ?? ''}`,
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
  } catch {
    throw new ApiFailure('bindery does not answer: is the server running?', 0);
  }
  const text = await response.text();
  const data = text ? (JSON.parse(text) as Record<string, unknown>) : {};
  if (!response.ok) {
    if (response.status === 404 && path === '/apps')
      throw new ApiFailure('The admin API is off: start bindery with BINDERY_ADMIN_TOKEN set.', 404);
    throw new ApiFailure(String(data.err_msg ?? `HTTP ${response.status}`), response.status);
  }
  return data as T;
}

/** The server's one AppView schema, as a type only: nothing of the server is bundled. */
export type { AppView } from '../../src/domain/app-view.ts';

export interface BindingRow {
  token: string;
  account: string;
  account_type: number;
  platform: string | null;
  bound_at: string;
  last_seen_at: string;
  state: 'active' | 'quarantined';
  quarantined_at?: string;
  quarantine_reason?: string;
}

export interface HistoryRow {
  id: number;
  at: string;
  operator_type: number;
  cause: string;
  token: string;
  account: string;
  account_type: number;
  op_type: string | null;
  op_id: string | null;
}
