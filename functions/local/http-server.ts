import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { json, type HttpRequest, type HttpResponse } from '../shared/http';

export interface LocalHttpServer {
  url: string;
  port: number;
  close(): Promise<void>;
}

export interface LocalHttpServerOptions {
  handle: (request: HttpRequest) => Promise<HttpResponse>;
  host?: string;
  port: number;
  maxBodyBytes: number;
}

class BodyTooLargeError extends Error {}

async function readBody(message: IncomingMessage, limit: number): Promise<string | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of message) {
    size += (chunk as Buffer).length;
    if (size > limit) throw new BodyTooLargeError();
    chunks.push(chunk as Buffer);
  }
  return chunks.length === 0 ? undefined : Buffer.concat(chunks).toString('utf8');
}

/** Serves an HTTP handler locally, the way API Gateway would hand it requests. */
export async function startLocalHttpServer(options: LocalHttpServerOptions): Promise<LocalHttpServer> {
  const host = options.host ?? '127.0.0.1';
  const server: Server = createServer(async (message, reply) => {
    let response: HttpResponse;
    try {
      const headers: Record<string, string | undefined> = {};
      for (const [name, value] of Object.entries(message.headers)) headers[name] = Array.isArray(value) ? value.join(', ') : value;
      const request: HttpRequest = {
        method: message.method ?? 'GET',
        path: message.url ?? '/',
        headers,
        body: await readBody(message, options.maxBodyBytes),
      };
      response = await options.handle(request);
    } catch (error) {
      response =
        error instanceof BodyTooLargeError
          ? json(413, { error: 'PayloadTooLarge', message: `request body exceeds ${options.maxBodyBytes} bytes` })
          : json(500, { error: 'InternalError', message: 'internal error' });
      reply.setHeader('connection', 'close');
    }
    reply.writeHead(response.status, response.headers);
    reply.end(response.body);
  });
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://${host}:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
}
