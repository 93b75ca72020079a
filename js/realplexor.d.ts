/*
 * TypeScript declarations for the Dklab_Realplexor browser client
 * (dklab_realplexor.js, and its ES module entry realplexor.mjs).
 *
 * Classic script (global):
 *   /// <reference path="realplexor.d.ts" />
 *   const rpl = new Dklab_Realplexor('https://rpl.example.com/', 'ns_');
 *
 * ES module (or list this file in tsconfig "files"/"include"):
 *   import Dklab_Realplexor from './realplexor.mjs';
 *   import { Dklab_Realplexor, RealplexorCallback } from './realplexor.mjs';
 *
 * This is a global declaration file on purpose: it declares the global the
 * classic script defines, and wildcard modules that match any import path
 * ending in /realplexor.mjs (ES module) or /dklab_realplexor.js (CommonJS).
 */

/**
 * Called with each message published to a subscribed id.
 * @param data   the published JSON value, already parsed
 * @param id     the id, without the login and namespace prefix
 * @param cursor the message's cursor, as a string (never converted to a number)
 */
type RealplexorCallback = (data: any, id: string, cursor: string) => void;

/**
 * Settings the original loader page took from the server configuration.
 * Every field is optional; the defaults are shown.
 */
interface RealplexorOptions {
  /** Name of the query parameter carrying the id list (IDENTIFIER). Default 'identifier'. */
  identifier?: string;
  /** Server's wait timeout in seconds (WAIT_TIMEOUT); 0 disables the watchdog. Default 300. */
  waitTimeout?: number;
  /** Bounces tolerated before the reconnect delay grows (JS_MAX_BOUNCES). Default 10. */
  maxBounces?: number;
  /** Delay before the next poll, in seconds (JS_WAIT_RECONNECT_DELAY). Default 0.01. */
  reconnectDelay?: number;
  /** Log requests and replies to the console (JS_DEBUG). Default false. */
  debug?: boolean;
  /** fetch() credentials mode for the long poll. Default: fetch's own ('same-origin'). */
  credentials?: 'omit' | 'same-origin' | 'include';
}

interface Dklab_Realplexor {
  /** Sets (or, with null or '', clears) a login: ids are then sent as `<login>_<namespace><id>`. */
  logon(login: string | null): void;
  /**
   * Sets the cursor to resume `id` from (creating the entry if missing).
   * 0 asks for the whole queue; null drops the cursor, so the id listens
   * from "now" again.
   */
  setCursor(id: string, cursor: string | number | null): this;
  /** Adds a callback for `id` (the same function twice is ignored). Takes effect on the next execute(). */
  subscribe(id: string, callback: RealplexorCallback): this;
  /** Removes one callback, or all of them with null. Callbacks stop at once; the id leaves the next poll. */
  unsubscribe(id: string, callback: RealplexorCallback | null): this;
  /** (Re)starts long polling with the current subscriptions. */
  execute(): void;
}

interface Dklab_RealplexorConstructor {
  /**
   * @param fullUrl   absolute URL of the WAIT server, e.g. 'https://rpl.example.com/'
   *                  (throws a string when it is not scheme://host...)
   * @param namespace prefix added to every id
   * @param viaDocumentWriteOrOptions the original's iframe flag (ignored now), or the options
   * @param options   overrides of the server-side settings; wins over options given third
   */
  new (
    fullUrl: string,
    namespace?: string | null,
    viaDocumentWriteOrOptions?: boolean | RealplexorOptions,
    options?: RealplexorOptions
  ): Dklab_Realplexor;
  readonly prototype: Dklab_Realplexor;
}

/** The client, as the classic script defines it (also window.Dklab_Realplexor). */
declare var Dklab_Realplexor: Dklab_RealplexorConstructor;

declare module '*/realplexor.mjs' {
  type Instance = globalThis.Dklab_Realplexor;
  const Dklab_Realplexor: Dklab_RealplexorConstructor;
  type Dklab_Realplexor = Instance;
  export type RealplexorCallback = globalThis.RealplexorCallback;
  export type RealplexorOptions = globalThis.RealplexorOptions;
  export type Dklab_RealplexorConstructor = globalThis.Dklab_RealplexorConstructor;
  export { Dklab_Realplexor };
  export default Dklab_Realplexor;
}

declare module '*/dklab_realplexor.js' {
  const Dklab_Realplexor: Dklab_RealplexorConstructor;
  export = Dklab_Realplexor;
}
