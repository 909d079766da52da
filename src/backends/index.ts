/**
 * The backend the configuration names, built (and so validated) at start-up
 * and on every reload: a configuration it cannot use throws here, before
 * anything changes.
 */
import type { Logger } from 'pino';
import type { Backend } from './backend.js';
import { MysqlBackend } from './mysql/mysql-backend.js';
import type { ConnectionTuning } from './mysql/native-config.js';
import type { MysqlBackendSettings } from './mysql/settings.js';
import { PamBackend } from './pam/pam-backend.js';
import { PasswdFileBackend } from './passwd-file.js';

/** Where users come from, with everything the mechanism needs, validated at start-up. */
export type BackendConfig =
  | { readonly kind: 'passwd-file'; readonly file: string }
  /** saslauthd -a pam: the request's service names /etc/pam.d/<service>; its pam_mysql lines say the rest. */
  | { readonly kind: 'pam'; readonly pamDir: string; readonly tuning: ConnectionTuning; readonly ignoreModules: readonly string[] }
  | { readonly kind: 'mysql'; readonly settings: MysqlBackendSettings };

export function createBackend(backend: BackendConfig, logger: Logger): Backend {
  switch (backend.kind) {
    case 'passwd-file':
      return new PasswdFileBackend(backend.file, logger.child({ component: 'passwd-file' }));
    case 'pam':
      return new PamBackend({ pamDir: backend.pamDir, tuning: backend.tuning, ignoreModules: backend.ignoreModules, logger: logger.child({ component: 'pam' }) });
    case 'mysql':
      return new MysqlBackend(backend.settings, logger.child({ component: 'mysql' }));
  }
}
