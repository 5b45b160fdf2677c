// shim.js: preloaded into each run of the binding's tests (see run.sh).
// It gives the binding's Socket back a writable "closed" flag, which Node 18
// and later shadow with a read-only getter on every stream, and it checks
// that the libnanomsg.so.5 mapped into this process is the one the run is
// meant to test, so a test can never pass on the wrong library.
'use strict';
const fs = require('fs');
const Socket = require(process.env.FM_NODE_PKG).Socket;
Object.defineProperty(Socket.prototype, 'closed', {value: false, writable: true, configurable: true});

const maps = fs.readFileSync('/proc/self/maps', 'utf8').split('\n')
    .filter((l) => /libnanomsg\.so/.test(l)).map((l) => fs.realpathSync(l.slice(l.indexOf('/'))));
const want = process.env.FM_NODE_WANT;
if (!maps.length || maps.some((p) => p !== want)) {
    console.error(`shim.js: expected ${want} mapped, found ${[...new Set(maps)].join(', ') || 'none'}`);
    process.exit(1);
}
