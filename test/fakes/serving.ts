import type { IncomingMessage, ServerResponse } from 'node:http';

/**
 * A fake service's request handler: a request its client abandoned mid-way (a bot process killed while it sent or
 * waited) is dropped, as a real server drops it; any other error still surfaces as an unhandled rejection.
 */
export function serving(handle: (req: IncomingMessage, res: ServerResponse) => Promise<void>) {
  return (req: IncomingMessage, res: ServerResponse): void =>
    void handle(req, res).catch((err: unknown) => {
      if (req.destroyed || (err as NodeJS.ErrnoException).code === 'ECONNRESET') return void res.destroy();
      throw err;
    });
}
