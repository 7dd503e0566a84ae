// A worker thread of CloudDrs.deviceKeys: takes chunks of a large batch of devices in turn with
// the other threads, issues their certificates and writes each one's thumbprint and public-key
// hash into the shared result buffer; then says it is done.
import { workerData } from 'node:worker_threads';
import { CloudDrs, runDrsBatch, type DrsBatch } from './drs.js';

const batch = workerData as DrsBatch;
const control = new Int32Array(batch.control);
try {
  runDrsBatch(CloudDrs.fromSecret(batch.secret), batch);
} catch {
  // The chunk it held stays undone; the calling thread does it.
} finally {
  Atomics.add(control, 1, 1);
  Atomics.notify(control, 1);
}
