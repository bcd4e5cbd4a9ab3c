import type { Server } from 'node:net';

/** Listens on the port (0 picks a free one); the error names the port and what could not listen there. */
export function listen<S extends Server>(server: S, port: number, what: string, host?: string): Promise<S> {
  return new Promise((resolve, reject) => {
    const refuse = (err: NodeJS.ErrnoException) => reject(new Error(`cannot listen on port ${port} for the ${what}: ${err.code ?? err.message}`));
    server.once('error', refuse);
    server.listen(port, host, () => {
      server.off('error', refuse);
      resolve(server);
    });
  });
}
