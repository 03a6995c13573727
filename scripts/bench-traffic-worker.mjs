// The local application of the port-forwarding figures (test/helpers/port-traffic.ts),
// in a worker thread of the bench: generating, sending and hashing its bytes then costs
// the simulator's thread nothing, as the raw ws row's client costs its server nothing.
// workerData: { port, specs }; posts 'ready', runs the transfers on any message, posts
// their results.
import { parentPort, workerData } from 'node:worker_threads';
import { transfer } from '../test/helpers/port-traffic.ts';

parentPort.once('message', async () => {
  const results = await Promise.all(workerData.specs.map((spec) => transfer({ port: workerData.port }, { timeoutMs: 240_000, ...spec }).done));
  parentPort.postMessage(results);
});
parentPort.postMessage('ready');
