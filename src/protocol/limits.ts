/**
 * Limits of the saslauthd mux protocol. Every length prefix is checked against
 * these before any body byte is buffered, so no peer can make us hold more than
 * a few hundred bytes per connection.
 */

/** saslauthd's MAX_REQ_LEN: a longer field is answered "NO " and the connection closed. */
export const MAX_FIELD_LENGTH = 256;

/** Size of the counted-string length prefix: an unsigned 16-bit big-endian integer. */
export const LENGTH_PREFIX_BYTES = 2;

/** login, password, service, realm: what every saslauthd client sends. */
export const REQUIRED_FIELD_COUNT = 4;

/** cyrus-sasl master appends the client address ("addr;port") as a fifth field. */
export const MAX_FIELD_COUNT = 5;

/** saslauthd builds replies in a 1024-byte buffer with a trailing NUL, and libsasl2 reads into one. */
export const MAX_REPLY_LENGTH = 1023;
