// SPDX-License-Identifier: Apache-2.0
// Runs ONNX models in ONNX Runtime (onnxruntime-node) for qforge's tests and benchmarks.
// Usage: node scripts/ort_run.js JOBS.json RESULTS.json
// JOBS: [{"model": path, "inputs": {name: npy path}, "output_dir": dir,
//         "optimization": "all"|"disabled" (default all), "threads": N}]
// Each job writes its outputs as <output_dir>/<index>.npy (in session output order) and
// RESULTS gets [{"ok": bool, "error": "...", "outputs": [names]}]: one bad model never stops
// the others.
'use strict';
const fs = require('fs');
const path = require('path');
const ort = require(path.join(__dirname, '..', 'third_party', 'npm', 'node_modules', 'onnxruntime-node'));

const NPY_TYPES = {
  '<f4': ['float32', Float32Array], '<f8': ['float64', Float64Array], '|i1': ['int8', Int8Array],
  '|u1': ['uint8', Uint8Array], '<i2': ['int16', Int16Array], '<u2': ['uint16', Uint16Array],
  '<i4': ['int32', Int32Array], '<u4': ['uint32', Uint32Array], '<i8': ['int64', BigInt64Array],
  '<u8': ['uint64', BigUint64Array], '|b1': ['bool', Uint8Array], '<f2': ['float16', Uint16Array],
};

function readNpy(file) {
  const buf = fs.readFileSync(file);
  const major = buf[6];
  const headerLen = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const start = major === 1 ? 10 : 12;
  const header = buf.toString('latin1', start, start + headerLen);
  const descr = /'descr':\s*'([^']+)'/.exec(header)[1];
  const shape = (/'shape':\s*\(([^)]*)\)/.exec(header)[1].match(/\d+/g) || []).map(Number);
  const [type, Ctor] = NPY_TYPES[descr];
  const dataStart = start + headerLen;
  const bytes = buf.subarray(dataStart);
  const copy = new Uint8Array(bytes.length);
  copy.set(bytes);
  let data = new Ctor(copy.buffer, 0, bytes.length / Ctor.BYTES_PER_ELEMENT);
  if (type === 'bool') data = Uint8Array.from(data);
  return new ort.Tensor(type, type === 'bool' ? Uint8Array.from(data) : data, shape);
}

const DESCR = {
  float32: '<f4', float64: '<f8', int8: '|i1', uint8: '|u1', int16: '<i2', uint16: '<u2', int32: '<i4',
  uint32: '<u4', int64: '<i8', uint64: '<u8', bool: '|b1', float16: '<f2',
};

function writeNpy(file, tensor) {
  const descr = DESCR[tensor.type];
  if (!descr) throw new Error(`cannot save output of type ${tensor.type}`);
  let shape = tensor.dims.join(', ');
  if (tensor.dims.length === 1) shape += ',';
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': (${shape}), }`;
  const unpadded = 10 + header.length + 1;
  header += ' '.repeat((64 - (unpadded % 64)) % 64) + '\n';
  const pre = Buffer.alloc(10);
  Buffer.from('\x93NUMPY', 'latin1').copy(pre, 0);
  pre[6] = 1; pre[7] = 0; pre.writeUInt16LE(header.length, 8);
  let data = tensor.data;
  if (tensor.type === 'bool') data = Uint8Array.from(data, (v) => (v ? 1 : 0));
  const body = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  fs.writeFileSync(file, Buffer.concat([pre, Buffer.from(header, 'latin1'), body]));
}

async function runJob(job) {
  const options = {
    graphOptimizationLevel: job.optimization === 'disabled' ? 'disabled' : 'all',
    intraOpNumThreads: job.threads || 0, interOpNumThreads: 1, logSeverityLevel: 3,
  };
  const session = await ort.InferenceSession.create(job.model, options);
  const feeds = {};
  for (const [name, file] of Object.entries(job.inputs || {})) feeds[name] = readNpy(file);
  const results = await session.run(feeds);
  const names = session.outputNames;
  if (job.output_dir) {
    fs.mkdirSync(job.output_dir, { recursive: true });
    names.forEach((name, i) => writeNpy(path.join(job.output_dir, `${i}.npy`), results[name]));
  }
  if (job.repeat) {  // timing mode for benchmarks: median of `repeat` runs after warm-up
    for (let i = 0; i < (job.warmup || 3); ++i) await session.run(feeds);
    const times = [];
    for (let i = 0; i < job.repeat; ++i) {
      const t0 = process.hrtime.bigint();
      await session.run(feeds);
      times.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
    times.sort((a, b) => a - b);
    return { ok: true, outputs: names, median_ms: times[Math.floor(times.length / 2)] };
  }
  return { ok: true, outputs: names };
}

async function main() {
  const [jobsFile, resultsFile] = process.argv.slice(2);
  const jobs = JSON.parse(fs.readFileSync(jobsFile, 'utf8'));
  const results = [];
  for (const job of jobs) {
    try {
      results.push(await runJob(job));
    } catch (e) {
      results.push({ ok: false, error: String(e && e.message ? e.message : e).split('\n')[0] });
    }
  }
  fs.writeFileSync(resultsFile, JSON.stringify(results, null, 1));
}

main().catch((e) => { console.error(e); process.exit(1); });
