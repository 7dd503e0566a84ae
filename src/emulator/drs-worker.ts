// A worker thread of CloudDrs.deviceKeys: issues the certificates of its share of a large batch of
// devices and writes each one's thumbprint and public-key hash into the shared result buffer.
import { workerData } from 'node:worker_threads';
import { CloudDrs, type DrsWorkerTask } from './drs.js';

const task = workerData as DrsWorkerTask;
const status = new Int32Array(task.status);
try {
  const drs = CloudDrs.fromSecret(task.secret);
  const out = new Uint8Array(task.out);
  task.deviceIds.forEach((deviceId, i) => {
    out.set(drs.deviceKeyBytes(deviceId, new Date(task.registered[i] ?? 0)), (task.offset + i) * 52);
  });
  Atomics.store(status, task.slot, 1);
} catch {
  // The calling thread does this share itself.
  Atomics.store(status, task.slot, -1);
}
Atomics.notify(status, task.slot);
