// Stops `npm start` / `npm test` early, with what to do, when the Node they run on (the one the
// install brought, first on PATH in npm scripts) is too old for bindery: on a platform with no
// node-linux-* package, the machine's own Node is used, and it may be.
import { tooOld, tooOldMessage } from '../bin/runtime.js';

if (tooOld()) {
  process.stderr.write(tooOldMessage());
  process.exit(1);
}
