import type net from 'node:net';
import type { WebSocket } from 'ws';

/**
 * The kubelet's WebSocket port-forward protocol (v4.channel.k8s.io): for each requested port a data
 * channel (0) and an error channel (1); the server first sends the port number (uint16,
 * little-endian) on both, then pod bytes on channel 0. Client frames are prefixed with the channel
 * byte. A failed dial is reported as text on the error channel, then the socket closes.
 */
export function handlePortForward(ws: WebSocket, port: number, dial: () => Promise<net.Socket>): void {
  const portBytes = Buffer.alloc(2);
  portBytes.writeUInt16LE(port);
  ws.send(Buffer.concat([Buffer.from([0]), portBytes]));
  ws.send(Buffer.concat([Buffer.from([1]), portBytes]));

  const pending: Buffer[] = [];
  let target: net.Socket | undefined;
  ws.on('message', (data: Buffer, isBinary) => {
    const buf = isBinary ? data : Buffer.from(data.toString());
    if (buf.length < 1 || buf[0] !== 0) return;
    const payload = buf.subarray(1);
    if (target) target.write(payload);
    else pending.push(payload);
  });
  ws.on('close', () => target?.end());

  dial().then(
    (socket) => {
      target = socket;
      for (const p of pending.splice(0)) socket.write(p);
      socket.on('data', (chunk: Buffer) => {
        if (ws.readyState === ws.OPEN) ws.send(Buffer.concat([Buffer.from([0]), chunk]));
      });
      socket.on('end', () => ws.close());
      socket.on('error', (err) => {
        if (ws.readyState === ws.OPEN) ws.send(Buffer.concat([Buffer.from([1]), Buffer.from(err.message)]));
        ws.close();
      });
    },
    (err: Error) => {
      if (ws.readyState === ws.OPEN) ws.send(Buffer.concat([Buffer.from([1]), Buffer.from(`error forwarding port ${port}: ${err.message}`)]));
      ws.close();
    },
  );
}
