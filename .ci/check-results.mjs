// Reads vitest's JSON report: fails when a required suite did not run (or
// ran no test), and prints a plain closing line with the totals.
import { readFileSync } from 'node:fs';

const REQUIRED_SUITES = ['test/e2e/', 'test/e2e/postfix.test.ts', 'test/e2e/postfix-migration.test.ts', 'test/e2e/cyrus-imap.test.ts', 'test/e2e/exim.test.ts', 'test/e2e/postfix-dovecot-sasl.test.ts', 'test/e2e/dovecot-reference.test.ts', 'test/e2e/postfixadmin.test.ts', 'test/integration/postfixadmin-preset.test.ts', 'test/integration/rehash.test.ts', 'test/integration/galera.test.ts', 'test/integration/throttle-store.test.ts', 'test/integration/network-faults.test.ts', 'test/integration/multi-host.test.ts', 'test/packaging/deb.test.ts', 'test/packaging/man-page.test.ts', 'test/packaging/operations-kit.test.ts', 'test/cli/npm-install.test.ts', 'test/integration/', 'test/cli/', 'test/server/', 'test/security/', 'test/unit/'];

const report = JSON.parse(readFileSync(process.argv[2], 'utf8'));
let ok = true;
for (const suite of REQUIRED_SUITES) {
  const files = report.testResults.filter((file) => file.name.includes(`/${suite}`));
  const passed = files.flatMap((file) => file.assertionResults).filter((test) => test.status === 'passed').length;
  const notPassed = files.flatMap((file) => file.assertionResults).filter((test) => test.status !== 'passed').length;
  console.log(`${suite}: ${files.length} files, ${passed} passed, ${notPassed} not passed`);
  if (files.length === 0 || passed === 0 || notPassed > 0) {
    console.error(`required suite ${suite} did not run completely`);
    ok = false;
  }
}
console.log(`tests: ${report.numPassedTests} passed, ${report.numFailedTests} failed`);
process.exit(ok && report.success ? 0 : 1);
