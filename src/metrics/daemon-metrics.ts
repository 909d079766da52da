/**
 * Prometheus metrics (prom-client), off unless --metrics-port is given:
 * authentication results and latency, cache hits, throttle delays, open
 * connections, verification queues and Node's own figures (event-loop delay
 * among them). Labels come from bounded sets only: a client chooses the
 * service name, so past a fixed number of distinct services the rest are
 * counted as "other", and a flood of made-up names cannot grow memory.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { AuthEvent } from '../auth/auth-log.js';
import { MAX_TRACKED_KEYS } from '../auth/throttle.js';
import { VERSION } from '../common/version.js';

/** Distinct service label values kept at most; later ones become "other". */
export const MAX_SERVICE_LABELS = 32;

export interface MetricSources {
  /** Connections open on each listener serving (mux, dovecot, policy). */
  readonly openConnections: () => Readonly<Record<string, number>>;
  /** Answers that wait on the throttle, on every listener. */
  readonly heldAnswers: () => number;
  readonly verifyQueue: () => { fast: number; slow: number };
  /** Keys the throttle holds: with failures counted, and with an evaluation in flight, waiting or closed for a delay. */
  readonly throttleKeys: () => { readonly counted: number; readonly active: number };
}

export class DaemonMetrics {
  readonly registry = new Registry();
  readonly #services = new Set<string>();
  readonly #auth: Counter<'listener' | 'service' | 'mech' | 'result' | 'code' | 'scheme'>;
  readonly #duration: Histogram<'listener' | 'service' | 'result'>;
  readonly #cacheHits: Counter<'listener' | 'service' | 'cache'>;
  readonly #throttled: Counter<'listener' | 'service'>;
  readonly #rehashes: Counter<'from' | 'to' | 'result'>;
  readonly #compromises: Counter<'service'>;

  constructor(sources: MetricSources) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: 'saslauthd_mysql_' });
    this.#auth = new Counter({
      name: 'saslauthd_mysql_auth_total',
      help: 'Authentications by listener (mux, dovecot, policy), service, mechanism, result (success, failure, temporary-failure), reason code and stored hash scheme.',
      labelNames: ['listener', 'service', 'mech', 'result', 'code', 'scheme'],
      registers,
    });
    this.#duration = new Histogram({
      name: 'saslauthd_mysql_auth_duration_seconds',
      help: 'Time to decide an answer (throttle delays not included; for the policy listener, from allow to report), by listener, service and result.',
      labelNames: ['listener', 'service', 'result'],
      buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    this.#cacheHits = new Counter({
      name: 'saslauthd_mysql_cache_hits_total',
      help: 'Answers that a cache made cheaper, by listener, service and cache (verified, rejected, credential, outage; rejected on the policy listener: a repeated failed password).',
      labelNames: ['listener', 'service', 'cache'],
      registers,
    });
    this.#throttled = new Counter({ name: 'saslauthd_mysql_throttled_answers_total', help: 'Answers held back by the brute-force throttle (on the policy listener: failures that closed the name or address for a delay), by listener and service.', labelNames: ['listener', 'service'], registers });
    this.#rehashes = new Counter({
      name: 'saslauthd_mysql_rehash_total',
      help: 'Re-hashes on login (rehash_to), by the scheme read and the scheme written, and result: written; row-changed (a new password came first); failed (logged; tried again at the next login); deferred (threads busy, or too many under way).',
      labelNames: ['from', 'to', 'result'],
      registers,
    });
    this.#compromises = new Counter({
      name: 'saslauthd_mysql_compromise_signals_total',
      help: 'Compromised-account signals: an account logged in from --compromise-networks networks within --compromise-window, by the service of the login that raised it.',
      labelNames: ['service'],
      registers,
    });
    new Gauge({
      name: 'saslauthd_mysql_open_connections',
      help: 'Client connections open, by listener (mux, dovecot, policy).',
      labelNames: ['listener'],
      registers,
      collect() {
        for (const [listener, open] of Object.entries(sources.openConnections())) this.set({ listener }, open);
      },
    });
    new Gauge({
      name: 'saslauthd_mysql_held_connections',
      help: 'Answers that wait on the brute-force throttle (their turn, or a delay), kept apart from --max-connections.',
      registers,
      collect() {
        this.set(sources.heldAnswers());
      },
    });
    new Gauge({
      name: 'saslauthd_mysql_throttle_keys',
      help: `Names and addresses the brute-force throttle holds, by state: counted (failures within the window; at most ${MAX_TRACKED_KEYS} per table) and active (an evaluation in flight, waiting, or closed for a delay).`,
      labelNames: ['state'],
      registers,
      collect() {
        const keys = sources.throttleKeys();
        this.set({ state: 'counted' }, keys.counted);
        this.set({ state: 'active' }, keys.active);
      },
    });
    // The running version as a label on a constant 1, Prometheus's usual way to show a build: after an upgrade, the new one.
    new Gauge({ name: 'saslauthd_mysql_build_info', help: 'The version running, as a label; always 1.', labelNames: ['version', 'node'], registers }).set({ version: VERSION, node: process.version }, 1);
    new Gauge({
      name: 'saslauthd_mysql_verify_queue',
      help: 'Password verifications waiting for a worker thread, by lane (fast: md5crypt and the like; slow: bcrypt, argon2, sha-crypt).',
      labelNames: ['lane'],
      registers,
      collect() {
        const queue = sources.verifyQueue();
        this.set({ lane: 'fast' }, queue.fast);
        this.set({ lane: 'slow' }, queue.slow);
      },
    });
  }

  /** One finished authentication, as logged. */
  observe(event: AuthEvent): void {
    const service = this.#serviceLabel(event.service);
    const listener = event.listener ?? 'mux';
    this.#auth.inc({ listener, service, mech: event.mech, result: event.result, code: event.code ?? '', scheme: event.scheme ?? '' });
    this.#duration.observe({ listener, service, result: event.result }, event.durationMs / 1000);
    if (event.cache) this.#cacheHits.inc({ listener, service, cache: event.cache });
    if (event.delayMs !== undefined) this.#throttled.inc({ listener, service });
  }

  /** One re-hash's result; `from` is a verifier scheme name, a bounded set. */
  observeRehash(from: string, to: string, result: string): void {
    this.#rehashes.inc({ from, to, result });
  }

  /** One compromised-account signal (raised on this host). */
  observeCompromise(service: string): void {
    this.#compromises.inc({ service: this.#serviceLabel(service) });
  }

  #serviceLabel(service: string): string {
    if (this.#services.has(service)) return service;
    if (this.#services.size >= MAX_SERVICE_LABELS || !/^[A-Za-z0-9._-]{0,64}$/.test(service)) return 'other';
    this.#services.add(service);
    return service;
  }
}
