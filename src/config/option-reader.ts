/**
 * Reads the daemon's options as their rows say (options.ts): the command-line
 * flag, else the SASLAUTHD_MYSQL_* variable, else saslauthd's own settings file
 * when one is taken over (saslauthd-sysconfig.ts), else the row's default; a
 * number within the row's range, a choice among its words. Records what each
 * resolved to, for reload's "restart needed".
 */
import { daemonOption, type DaemonFlags, type OptionName } from './options.js';
import { parseBoolean, parseChoice, parseFileMode, parseInteger } from './parse.js';
import type { SaslauthdSysconfig } from './saslauthd-sysconfig.js';

type Env = Readonly<Record<string, string | undefined>>;

/** A value with the name of the flag, variable or file line it came from, for error messages. */
export interface Sourced<T> {
  readonly key: string;
  readonly value: T;
}

/** Where a value came from, strongest first. */
export type Layer = 'flag' | 'variable' | 'sysconfig';

export class OptionReader {
  readonly settings: Partial<Record<OptionName, unknown>> = {};
  readonly #flags: DaemonFlags;
  readonly #env: Env;
  readonly #sysconfig: SaslauthdSysconfig | undefined;

  constructor(flags: DaemonFlags, env: Env, sysconfig?: SaslauthdSysconfig) {
    this.#flags = flags;
    this.#env = env;
    this.#sysconfig = sysconfig;
  }

  /** Which layer gives the option, if any (a switch given as false by no layer counts as not given). */
  layer(name: OptionName): Layer | undefined {
    if (this.#flags[name] !== undefined && this.#flags[name] !== false) return 'flag';
    const { variable } = daemonOption(name);
    const fromEnv = variable === undefined ? undefined : this.#env[variable];
    if (fromEnv !== undefined && fromEnv !== '') return 'variable';
    return this.#sysconfig?.flags[name] !== undefined ? 'sysconfig' : undefined;
  }

  /** The text given for an option and where it came from, if any. */
  text(name: OptionName): Sourced<string> | undefined {
    const found = this.#given(name);
    const value = typeof found?.value === 'string' ? { key: found.key, value: found.value } : undefined;
    this.settings[name] = value?.value;
    return value;
  }

  /** The text given, else the row's default text. */
  textOrDefault(name: OptionName): string {
    const found = this.text(name);
    const fallback = daemonOption(name).default;
    if (found) return found.value;
    if (typeof fallback !== 'string') throw new Error(`option ${name} has no default text`);
    this.settings[name] = fallback;
    return fallback;
  }

  switch(name: OptionName): boolean {
    const found = this.#given(name);
    const on = found === undefined ? false : typeof found.value === 'boolean' ? found.value : parseBoolean(found.key, found.value);
    this.settings[name] = on;
    return on;
  }

  /** A whole number in the row's range: the given one, the row's default, or `computed` where the row's default is worked out. */
  integer(name: OptionName, computed?: number): number | undefined {
    const { value, default: fallback } = daemonOption(name);
    if (value.kind !== 'integer') throw new Error(`option ${name} is not a number`);
    const found = this.text(name);
    const resolved = found ? parseInteger(found.key, found.value, value.min, value.max) : typeof fallback === 'number' ? fallback : computed;
    this.settings[name] = resolved;
    return resolved;
  }

  /** The same, for an option that always has a value. */
  number(name: OptionName, computed?: number): number {
    const resolved = this.integer(name, computed);
    if (resolved === undefined) throw new Error(`option ${name} has no default`);
    return resolved;
  }

  choice<T extends string>(name: OptionName, choices: readonly T[], computed?: T): T | undefined {
    const { value, default: fallback } = daemonOption(name);
    if (value.kind !== 'choice') throw new Error(`option ${name} is not a choice`);
    const found = this.text(name);
    const resolved = found ? parseChoice(found.key, found.value, choices) : (choices.find((choice) => choice === fallback) ?? computed);
    this.settings[name] = resolved;
    return resolved;
  }

  mode(name: OptionName): number {
    const found = this.text(name);
    const resolved = found ? parseFileMode(found.key, found.value) : Number.parseInt(String(daemonOption(name).default), 8);
    this.settings[name] = resolved;
    return resolved;
  }

  /** Stand for an option by more than its text: a file's contents, which a reload can change. */
  note(name: OptionName, resolved: unknown): void {
    this.settings[name] = resolved;
  }

  /** The strongest layer's value: a flag's text or true, a variable's text, or the taken-over file's. */
  #given(name: OptionName): Sourced<string | boolean> | undefined {
    const { label, variable } = daemonOption(name);
    switch (this.layer(name)) {
      case 'flag':
        return { key: label, value: this.#flags[name]! };
      case 'variable':
        return { key: variable!, value: this.#env[variable!]! };
      case 'sysconfig':
        return { key: this.#sysconfig!.origins[name]!, value: this.#sysconfig!.flags[name]! };
      case undefined:
        return undefined;
    }
  }
}
