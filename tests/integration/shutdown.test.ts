import { Agent, request } from 'node:http';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { EXAMPLE, penguinManifest, startServer } from '../helpers/server.js';

/**
 * Stopping the server lets the requests in progress finish, then closes their keep-alive
 * connections at once: it does not wait out the keep-alive timeout (72 s) of a connection whose
 * request ended after the shutdown began.
 */
describe('shutdown', () => {
  it('answers a request in progress, and then closes its keep-alive connection at once', async () => {
    const server = await startServer();
    const pushed = await server.push('penguins', join(EXAMPLE, 'model.onnx'), penguinManifest());
    expect(pushed.status, pushed.text).toBe(201);
    const body = JSON.stringify({ instances: penguinManifest().sample.slice(0, 1) });
    const agent = new Agent({ keepAlive: true });
    const url = new URL('/v1/models/penguins:predict', server.url);
    const answered = new Promise<{ status: number; text: string }>((resolve, reject) => {
      const call = request(
        url,
        {
          method: 'POST',
          agent,
          headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
        },
        (response) => {
          let text = '';
          response.on('data', (chunk) => (text += chunk));
          response.on('end', () => resolve({ status: response.statusCode ?? 0, text }));
        },
      );
      call.on('error', reject);
      // Half the body now: the request is routed and in progress when the shutdown starts.
      call.write(body.slice(0, 10));
      setTimeout(() => call.end(body.slice(10)), 500);
    });
    await new Promise((resolve) => setTimeout(resolve, 200));
    const started = performance.now();
    const stopped = server.stop();
    const answer = await answered;
    expect(answer.status, answer.text).toBe(200);
    await stopped;
    expect(performance.now() - started).toBeLessThan(5_000);
    agent.destroy();
  });
});
