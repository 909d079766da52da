/**
 * The backend the configuration names, built (and so validated) at start-up
 * and on every reload: a configuration it cannot use throws here, before
 * anything changes.
 */
import type { Logger } from 'pino';
import type { BackendConfig } from '../config/daemon-config.js';
import type { Backend } from './backend.js';
import { MysqlBackend } from './mysql/mysql-backend.js';
import { PamBackend } from './pam/pam-backend.js';
import { PasswdFileBackend } from './passwd-file.js';

export function createBackend(backend: BackendConfig, logger: Logger): Backend {
  switch (backend.kind) {
    case 'passwd-file':
      return new PasswdFileBackend(backend.file, logger.child({ component: 'passwd-file' }));
    case 'pam':
      return new PamBackend({ pamDir: backend.pamDir, tuning: backend.tuning, logger: logger.child({ component: 'pam' }) });
    case 'mysql':
      return new MysqlBackend(backend.settings, logger.child({ component: 'mysql' }));
  }
}
