// Runs a WASI preview1 command module under node, for comparing outputs:
//   node --no-warnings tests/node-wasi.mjs [--env K=V]... [--dir HOST::GUEST]... MODULE [ARGS...]
import { WASI } from 'node:wasi';
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';

const argv = process.argv.slice(2);
const env = {};
const preopens = {};
while (argv[0] === '--env' || argv[0] === '--dir') {
  if (argv[0] === '--env') {
    const [k, ...v] = argv[1].split('=');
    env[k] = v.join('=');
  } else {
    const [host, guest] = argv[1].split('::');
    preopens[guest ?? host] = host;
  }
  argv.splice(0, 2);
}
const [module, ...args] = argv;
const wasi = new WASI({ version: 'preview1', args: [basename(module), ...args], env, preopens, returnOnExit: true });
const compiled = await WebAssembly.compile(readFileSync(module));
const instance = await WebAssembly.instantiate(compiled, { wasi_snapshot_preview1: wasi.wasiImport });
process.exitCode = wasi.start(instance);
