// Raw TCP connections for tests of what a server does with connections that never make a request.
import { connect, type Socket } from 'node:net';

/** A TCP connection to 127.0.0.1:port, once connected. It reads what comes (so it sees the server close it); errors after connecting end in its close. */
export function openConnection(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    let connected = false;
    const socket = connect(port, '127.0.0.1', () => {
      connected = true;
      resolve(socket);
    });
    socket.on('error', (err) => {
      if (!connected) reject(err);
    });
    socket.resume();
  });
}

/** When the socket closes, in ms from now; Infinity (and the socket destroyed) if it is still open after `withinMs`. */
export function closedAfterMs(socket: Socket, withinMs: number): Promise<number> {
  const started = performance.now();
  return new Promise((resolve) => {
    if (socket.closed) return resolve(0);
    const timer = setTimeout(() => {
      socket.destroy();
      resolve(Infinity);
    }, withinMs);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve(performance.now() - started);
    });
  });
}
