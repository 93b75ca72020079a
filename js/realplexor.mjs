/*
 * ES module entry point for the Dklab_Realplexor browser client.
 *
 *   import Dklab_Realplexor from './realplexor.mjs';
 *   // or: import { Dklab_Realplexor } from './realplexor.mjs';
 *
 * The client itself lives only in the classic script ./dklab_realplexor.js
 * (the file the server also serves at ?identifier=SCRIPT); this module just
 * loads it and re-exports the class, so both stay in the same directory.
 *
 * How the classic script is picked up depends on who loads it:
 *  - a browser (native modules, Vite dev, Rollup without the CommonJS
 *    plugin) runs it as a module in which `module` is undefined, so it
 *    assigns globalThis.Dklab_Realplexor; the namespace has no default;
 *  - Node.js and CommonJS-aware bundlers (webpack, esbuild, Parcel, Rollup
 *    with the CommonJS plugin) see its `module.exports = Dklab_Realplexor`
 *    and hand it over as the namespace's default export, without touching
 *    the global object.
 * Taking the default when there is one, and the global otherwise, covers
 * both.
 */
import * as classic from './dklab_realplexor.js';

const fromModule = classic ? classic['default'] : undefined;

const Dklab_Realplexor = typeof fromModule === 'function' ? fromModule : globalThis.Dklab_Realplexor;

if (typeof Dklab_Realplexor !== 'function') {
  throw new Error('realplexor.mjs: ./dklab_realplexor.js did not define Dklab_Realplexor');
}

export default Dklab_Realplexor;
export { Dklab_Realplexor };
