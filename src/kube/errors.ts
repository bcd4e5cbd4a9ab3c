// What went wrong in an API call, read the same way everywhere: the HTTP status, and one line for a log
// or a condition that never carries a request or response body, nor anything shaped like a credential.
import { redactCredentials } from './redact.ts';

export function statusCode(err: unknown): number | undefined {
  if (err && typeof err === 'object' && 'code' in err && typeof (err as { code: unknown }).code === 'number') {
    return (err as { code: number }).code;
  }
  // A refused watch is a plain Error carrying the HTTP status as statusCode.
  const watchStatus = (err as { statusCode?: unknown } | null)?.statusCode;
  return typeof watchStatus === 'number' ? watchStatus : undefined;
}

export const isNotFound = (err: unknown) => statusCode(err) === 404;

/** The object a read returns, or undefined when the API server says it does not exist. */
export async function unlessNotFound<T>(read: Promise<T>): Promise<T | undefined> {
  try {
    return await read;
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}
export const isConflict = (err: unknown) => statusCode(err) === 409;
export const isForbidden = (err: unknown) => statusCode(err) === 403;

/** One line: the API status and the server's message, or the error's first line. */
export function describeError(err: unknown): string {
  return redactCredentials(describe(err));
}

function describe(err: unknown): string {
  const code = statusCode(err);
  if (code !== undefined && err && typeof err === 'object' && 'body' in err) {
    const message = statusMessage((err as { body: unknown }).body);
    if (message) return `API ${code}: ${message}`;
    if ('code' in err) return `API ${code}`;
  }
  const firstLine = err instanceof Error ? err.message.split('\n')[0]! : String(err);
  return code !== undefined ? `API ${code}: ${firstLine}` : firstLine;
}

function statusMessage(body: unknown): string | undefined {
  const status = typeof body === 'string' ? safeJson(body) : body;
  if (status && typeof status === 'object' && 'message' in status) return String((status as { message: unknown }).message);
  return undefined;
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
