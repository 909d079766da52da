#!/bin/sh
# /usr/sbin/saslauthd-mysql: the daemon and its commands (saslauthd-mysql(8)),
# run by the distribution's Node.js (/usr/bin/node on Debian and RHEL alike) with the V8
# settings the daemon is measured with.
exec /usr/bin/node --v8-pool-size=1 --max-semi-space-size=1 --heap-growing-percent=50 /usr/lib/saslauthd-mysql/dist/cli/main.js "$@"
