/**
 * Import bodies are spooled to a file first, so that a large body can be authenticated by
 * signature and checked against an Idempotency-Key before a line is applied. The spool is
 * bindery's own directory (mode 0700; files 0600: they hold bindings in clear text), emptied of
 * what a crash left there at start.
 */
import { createHash, createHmac, randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { chmod, mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { FastifyRequest } from 'fastify';
import { ApiError, apiError, RetCode } from '../../errors.ts';
import type { SignableBody } from '../auth.ts';

const PREFIX = 'import-';

export interface Spooled extends SignableBody {
  path: string;
  sha256: string;
}

/** Creates the spool directory (mode 0700) if it is missing. */
export async function ensureSpoolDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);
}

function running(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Creates the spool directory and removes the files that processes no longer running left there
 * (a crash mid-import); files of a live process (another instance sharing the directory) stay.
 * Returns how many were removed.
 */
export async function prepareSpoolDir(dir: string): Promise<number> {
  await ensureSpoolDir(dir);
  const leftovers = (await readdir(dir)).filter((name) => {
    const pid = Number(/^import-(\d+)-/.exec(name)?.[1]);
    return name.startsWith(PREFIX) && !(pid > 0 && running(pid));
  });
  await Promise.all(leftovers.map((name) => rm(join(dir, name), { force: true })));
  return leftovers.length;
}

/** A failure of this machine (disk full, I/O error, no permission), not of the client's upload. */
function isServerSide(error: unknown): boolean {
  const e = error as NodeJS.ErrnoException;
  return typeof e.syscall === 'string' && e.code !== 'ECONNRESET' && e.code !== 'EPIPE';
}

export async function spool(request: FastifyRequest, dir: string, limit: number): Promise<Spooled> {
  const path = join(dir, `${PREFIX}${process.pid}-${randomUUID()}.ndjson`);
  const hash = createHash('sha256');
  let bytes = 0;
  const meter = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      bytes += chunk.length;
      if (bytes > limit) return done(apiError.bodyTooLarge(limit));
      hash.update(chunk);
      done(null, chunk);
    },
  });
  try {
    await pipeline(request.raw, meter, createWriteStream(path, { flags: 'wx', mode: 0o600 }));
  } catch (error) {
    await rm(path, { force: true });
    // Answered before the body was read to its end: the rest of it must not be taken for the next request.
    const close = { connection: 'close' };
    if (error instanceof ApiError)
      throw new ApiError(error.retCode, error.httpStatus, error.message, { ...error.headers, ...close });
    if (isServerSide(error)) {
      request.log.error({ err: error }, 'could not spool an import body');
      const reason = (error as NodeJS.ErrnoException).code ?? 'I/O error';
      throw new ApiError(
        RetCode.INTERNAL,
        503,
        `server could not store the body (${reason}): nothing was imported; retry later`,
        { 'retry-after': '30', ...close },
      );
    }
    throw new ApiError(RetCode.INVALID_PARAMETER, 400, `body: could not be read (${(error as Error).message})`, close);
  }
  return {
    path,
    sha256: hash.digest('hex'),
    async sign(secret, prefix) {
      const hmac = createHmac('sha256', secret).update(prefix);
      for await (const chunk of createReadStream(path)) hmac.update(chunk as Buffer);
      return Buffer.from(hmac.digest('hex')).toString('base64');
    },
  };
}
