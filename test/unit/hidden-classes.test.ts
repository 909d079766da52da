/**
 * In Node 20's V8, an object literal that starts with a spread and goes on
 * ({ ...a, b }) gets a hidden class of its own every time it is evaluated: a
 * new map in the old generation, megamorphic property access wherever the
 * object goes, and the object kept through young collections. The login path
 * builds its objects along cached transitions instead (Object.assign, or
 * properties added to a fresh literal), and eslint.config.mjs forbids the
 * pattern there. These checks ask V8 itself (%HaveSameMap, in a child process
 * started with --allow-natives-syntax) whether two objects built the same way
 * share one hidden class.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const DIST = fileURLToPath(new URL('../../dist/', import.meta.url));

/** Runs `body` as an ES module with natives syntax on; it prints a JSON object of booleans. */
function inV8(body: string): Record<string, boolean> {
  const run = spawnSync(process.execPath, ['--allow-natives-syntax', '--input-type=module', '-e', body], { encoding: 'utf8', cwd: DIST });
  if (run.status !== 0) throw new Error(`child failed: ${run.stderr}`);
  return JSON.parse(run.stdout) as Record<string, boolean>;
}

describe('hidden classes on the login path', () => {
  it('in this Node, a spread followed by more properties makes a new hidden class each time, and Object.assign does not (why the lint rule exists)', () => {
    const seen = inV8(`
      const spread = (o) => ({ ...o, cache: 'rejected' });
      const assign = (o) => Object.assign({}, o, { cache: 'rejected' });
      const same = (f) => { for (let i = 0; i < 100; i++) f({ user: 'a' }); return %HaveSameMap(f({ user: 'a' }), f({ user: 'a' })); };
      console.log(JSON.stringify({ spread: same(spread), assign: same(assign) }));
    `);
    // If spread ever shares its map here, Node has fixed it: the rule in eslint.config.mjs can go.
    expect(seen).toEqual({ spread: false, assign: true });
  });

  it('reads two Dovecot requests into names and queries of one hidden class each (every optional field present)', () => {
    const seen = inV8(`
      const { readRequest } = await import('./auth/read-request.js');
      const { Secret } = await import('./protocol/secret.js');
      const request = () => ({
        listener: 'dovecot', login: Buffer.from('user@example.org'), password: new Secret(Buffer.from('pw')),
        service: Buffer.from('imap'), realm: Buffer.from(''), client: { sent: '192.0.2.7', address: '192.0.2.7' },
        claimedClient: '198.51.100.1', secured: true,
      });
      const read = () => readRequest(request(), { joinRealm: true, lowercase: false }, 'PLAIN');
      for (let i = 0; i < 100; i++) read();
      const a = read(), b = read();
      if (!a.ok || !b.ok) throw new Error('refused: ' + JSON.stringify(a));
      console.log(JSON.stringify({ names: %HaveSameMap(a.names, b.names), query: %HaveSameMap(a.query, b.query) }));
    `);
    expect(seen).toEqual({ names: true, query: true });
  });

  it('decodes two mux requests that carry a client address into one hidden class', () => {
    const seen = inV8(`
      const { RequestDecoder } = await import('./protocol/codec.js');
      const field = (text) => { const bytes = Buffer.from(text); const length = Buffer.alloc(2); length.writeUInt16BE(bytes.length); return Buffer.concat([length, bytes]); };
      const wire = Buffer.concat(['user', 'pw', 'smtp', 'example.org', '192.0.2.7'].map(field));
      const decode = () => { const result = new RequestDecoder().push(wire); if (result.status !== 'complete') throw new Error(result.status); return result.request; };
      for (let i = 0; i < 100; i++) decode();
      console.log(JSON.stringify({ request: %HaveSameMap(decode(), decode()) }));
    `);
    expect(seen).toEqual({ request: true });
  });
});
