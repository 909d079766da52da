/**
 * The SELinux policy module the RPM ships (packaging/selinux/), as far as this
 * machine can take it without an SELinux kernel: compiled with checkmodule and
 * semodule_package through the reference policy's development Makefile (Debian's
 * selinux-policy-dev, the headers RHEL's policy grew from), linked against
 * Debian's whole compiled reference policy and expanded (every type it names
 * must exist there, RHEL's names included, and no neverallow may be broken),
 * then asked with sesearch what systemd, Postfix and the daemon may do.
 * Needs .ci/unpack-selinux-policy (build/selinux-policy); fails without it.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { suiteTempDir } from '../helpers/temp.js';

const SOURCES = new URL('../../packaging/selinux/', import.meta.url).pathname;
const POLICY = new URL('../../build/selinux-policy/', import.meta.url).pathname;

function run(command: string, args: readonly string[], cwd?: string): string {
  return execFileSync(command, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 * 1024 * 1024 });
}

let work: string;
let expanded: string;

interface Query {
  readonly ruletype: 'allow' | 'type_transition';
  readonly source?: string;
  readonly target?: string;
  readonly tclass?: string;
  readonly perms?: readonly string[];
}

/** The rules setools finds in the linked policy for each query (one load of the policy for all). */
function rules(queries: readonly Query[]): string[][] {
  const answer = execFileSync('/usr/bin/python3', [new URL('../helpers/sepolicy-query.py', import.meta.url).pathname], { input: JSON.stringify({ policy: expanded, queries }), encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  return JSON.parse(answer) as string[][];
}

const allow = (source: string, target: string, tclass: string, perm: string): Query => ({ ruletype: 'allow', source, target, tclass, perms: [perm] });

describe('the SELinux module', () => {
  beforeAll(() => {
    expect(existsSync(path.join(POLICY, 'base.pp')), 'run .ci/unpack-selinux-policy first').toBe(true);
    const temp = suiteTempDir();
    afterAll(temp.remove);
    work = temp.dir;
    for (const file of readdirSync(SOURCES)) copyFileSync(path.join(SOURCES, file), path.join(work, file));
    run('make', ['-f', '/usr/share/selinux/devel/Makefile', 'saslauthd_mysql.pp'], work);
    const modules = readdirSync(POLICY).filter((file) => file.endsWith('.pp') && file !== 'base.pp').map((file) => path.join(POLICY, file));
    run('semodule_link', ['-o', path.join(work, 'linked.pp'), path.join(POLICY, 'base.pp'), ...modules, path.join(work, 'saslauthd_mysql.pp')]);
    expanded = path.join(work, 'policy.bin');
    run('semodule_expand', [path.join(work, 'linked.pp'), expanded]);
  }, 180_000);

  it('compiles, links against the whole reference policy and expands', () => {
    expect(existsSync(expanded)).toBe(true);
  });

  it('is the domain systemd starts the daemon in', () => {
    expect(rules([{ ruletype: 'type_transition', source: 'init_t', target: 'saslauthd_mysql_exec_t', tclass: 'process' }])[0]).toEqual(['type_transition init_t saslauthd_mysql_exec_t:process saslauthd_mysql_t;']);
    run('semodule_unpackage', [path.join(work, 'saslauthd_mysql.pp'), path.join(work, 'unpacked.mod'), path.join(work, 'unpacked.fc')]);
    const contexts = readFileSync(path.join(work, 'unpacked.fc'), 'utf8');
    expect(contexts).toMatch(/^\/usr\/sbin\/saslauthd-mysql\s+--\s+system_u:object_r:saslauthd_mysql_exec_t(:s0)?$/m);
    expect(contexts).toMatch(/^\/usr\/lib\/saslauthd-mysql\(\/\.\*\)\?\s+system_u:object_r:saslauthd_mysql_lib_t/m);
  });

  it("lets Postfix's smtpd, Cyrus IMAP and Dovecot connect to its sockets in saslauthd's directory", () => {
    const clients = ['postfix_smtpd_t', 'cyrus_t', 'dovecot_auth_t', 'dovecot_t'];
    const found = rules(clients.flatMap((client) => [allow(client, 'saslauthd_mysql_t', 'unix_stream_socket', 'connectto'), allow(client, 'saslauthd_var_run_t', 'sock_file', 'write')]));
    expect(found.map((matches, index) => `${clients[Math.floor(index / 2)]}: ${matches.length}`).filter((line) => line.endsWith(': 0'))).toEqual([]);
  });

  it('lets the daemon run Node.js, read its settings and PAM files, and reach MySQL and Redis', () => {
    const needed = [
      allow('saslauthd_mysql_t', 'saslauthd_mysql_t', 'process', 'execmem'),
      allow('saslauthd_mysql_t', 'bin_t', 'file', 'execute'),
      allow('saslauthd_mysql_t', 'saslauthd_mysql_lib_t', 'file', 'map'),
      allow('saslauthd_mysql_t', 'etc_t', 'file', 'read'),
      allow('saslauthd_mysql_t', 'saslauthd_mysql_conf_t', 'file', 'read'),
      allow('saslauthd_mysql_t', 'mysqld_port_t', 'tcp_socket', 'name_connect'),
      allow('saslauthd_mysql_t', 'redis_port_t', 'tcp_socket', 'name_connect'),
      allow('saslauthd_mysql_t', 'mysqld_t', 'unix_stream_socket', 'connectto'),
      allow('saslauthd_mysql_t', 'saslauthd_var_run_t', 'sock_file', 'create'),
      allow('saslauthd_mysql_t', 'saslauthd_mysql_port_t', 'tcp_socket', 'name_bind'),
      allow('saslauthd_mysql_t', 'init_t', 'unix_dgram_socket', 'sendto'),
    ];
    const found = rules(needed);
    expect(needed.filter((_, index) => found[index]!.length === 0)).toEqual([]);
  });

  it("gives the daemon nothing it does not use: no shadow file, no home directories, no other daemon's ports", () => {
    const denied = [
      allow('saslauthd_mysql_t', 'shadow_t', 'file', 'read'),
      allow('saslauthd_mysql_t', 'user_home_t', 'file', 'read'),
      allow('saslauthd_mysql_t', 'http_port_t', 'tcp_socket', 'name_bind'),
      allow('saslauthd_mysql_t', 'saslauthd_mysql_lib_t', 'file', 'write'),
      // Writable memory made executable is all V8 needs (execmem); not a heap or stack, nor its own files' pages.
      allow('saslauthd_mysql_t', 'saslauthd_mysql_t', 'process', 'execheap'),
      allow('saslauthd_mysql_t', 'saslauthd_mysql_t', 'process', 'execstack'),
      allow('saslauthd_mysql_t', 'saslauthd_mysql_lib_t', 'file', 'execmod'),
    ];
    expect(rules(denied)).toEqual(denied.map(() => []));
  });
});
