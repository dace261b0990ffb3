// Runs every exported model of a cases folder (tests/onnx/test_export.cpp, "onnx cases") in onnxruntime and
// compares with xgrad's outputs: max |ort - xgrad| / max |xgrad| <= the case's tolerance (float32 1e-5,
// float64 1e-12), for every (batch, time) run of the one file. A case marked "mismatch" (a wrong gate
// order) must differ by more than 1e-3. Exit status 1 on any failure.
//   NODE_PATH=<build>/onnxrt/node_modules node tests/onnx/run.js <cases folder>
'use strict';
const fs = require('fs');
const path = require('path');
const ort = require('onnxruntime-node');

const typed = { float32: Float32Array, float64: Float64Array };

async function main() {
  const dir = process.argv[2];
  const cases = fs.readdirSync(dir).filter((f) => f.endsWith('.json')).sort();
  if (cases.length === 0) throw new Error(`no cases (*.json) in ${dir}`);
  let failed = 0;
  for (const file of cases) {
    const c = JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8'));
    try {
      failed += await check(dir, c) ? 0 : 1;
    } catch (e) {
      console.log(`FAIL ${c.model}: ${e.message}`);
      failed++;
    }
  }
  console.log(`${cases.length - failed}/${cases.length} cases as expected`);
  process.exit(failed ? 1 : 0);
}

async function check(dir, c) {
  let failed = 0;
  {
    const session = await ort.InferenceSession.create(path.join(dir, c.model));
    let worst = 0;
    for (const run of c.runs) {
      const x = c.input_type === 'int64'
        ? new ort.Tensor('int64', BigInt64Array.from(run.x, (v) => BigInt(v)), run.x_shape)
        : new ort.Tensor(c.input_type, typed[c.input_type].from(run.x), run.x_shape);
      const y = (await session.run({ [c.input]: x }))[c.output];
      if (JSON.stringify(Array.from(y.dims)) !== JSON.stringify(run.y_shape)) {
        console.log(`FAIL ${c.model}: shape ${JSON.stringify(y.dims)}, xgrad ${JSON.stringify(run.y_shape)}`);
        failed++;
        continue;
      }
      let diff = 0, scale = 0;
      for (let i = 0; i < run.y.length; i++) {
        diff = Math.max(diff, Math.abs(y.data[i] - run.y[i]));
        scale = Math.max(scale, Math.abs(run.y[i]));
      }
      worst = Math.max(worst, diff / (scale || 1));
    }
    const sizes = c.runs.map((r) => r.x_shape.slice(0, 2).join('x')).join(' ');
    const ok = c.expect === 'match' ? worst <= c.tolerance : worst > 1e-3;
    console.log(`${ok ? 'ok  ' : 'FAIL'} ${c.model}: relative error ${worst.toExponential(2)} ` +
                `(expected ${c.expect === 'match' ? '<= ' + c.tolerance : '> 1e-3, a wrong gate order'}); runs ${sizes}`);
    return ok && failed === 0;
  }
}
main().catch((e) => { console.error(e); process.exit(1); });
