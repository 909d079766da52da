import { describe, expect, it } from 'vitest';
import { nodeVersionProblem } from '../../src/cli/node-version.js';

describe('the Node.js version check', () => {
  it.each(['20.12.0', '20.19.2', '22.0.0', '24.1.0'])('lets %s run', (version) => {
    expect(nodeVersionProblem(version)).toBeUndefined();
  });

  it.each(['18.19.0', '20.11.1', '16.20.2'])('stops %s with what to install', (version) => {
    expect(nodeVersionProblem(version)).toMatch(new RegExp(`needs Node\\.js 20\\.12 or newer, and this is ${version.replace(/\./g, '\\.')}\\. Debian 12 ships Node\\.js 18: install Node\\.js 20 or 22`));
  });
});
