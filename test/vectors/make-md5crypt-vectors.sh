#!/usr/bin/env bash
# Regenerates md5crypt.tsv: md5crypt ($1$) and Apache ($apr1$) hashes made by
# OpenSSL (`openssl passwd -1` / `-apr1`) and by libxcrypt (python3's crypt
# module), independent of this project's code. Columns: maker, password as
# hex (so any byte can appear), stored hash.
#   bash test/vectors/make-md5crypt-vectors.sh > test/vectors/md5crypt.tsv
set -euo pipefail
hex() { printf '%s' "$1" | od -v -An -tx1 | tr -d ' \n'; }
printf 'maker\tpassword_hex\thash\n'
passwords=(demo a 'correct horse battery staple' '0123456789abcdef' '0123456789abcdefg' 'pässwörd' 'ünïcødé-密码' "$(printf 'x%.0s' {1..255})" 'with space and $dollar:colon')
salts=(s sa saltsalt '' ab/./ZZ9 toolongsaltvalue)
for i in "${!passwords[@]}"; do
  pw=${passwords[$i]}
  salt=${salts[$((i % ${#salts[@]}))]}
  printf 'openssl-1\t%s\t%s\n' "$(hex "$pw")" "$(printf '%s' "$pw" | openssl passwd -1 -salt "$salt" -stdin)"
  printf 'openssl-apr1\t%s\t%s\n' "$(hex "$pw")" "$(printf '%s' "$pw" | openssl passwd -apr1 -salt "$salt" -stdin)"
done
# Bytes that are not UTF-8: OpenSSL reads them raw from stdin.
raw=$'\xff\xfe\x80bin'
printf 'openssl-1\t%s\t%s\n' "$(hex "$raw")" "$(printf '%s' "$raw" | openssl passwd -1 -salt raw -stdin)"
# libxcrypt, the implementation glibc systems use for crypt(3).
python3 -W ignore - <<'PY'
import crypt
for pw, salt in [('demo', 'demosalt'), ('secret', 'abc'), ('pässwörd', 'Xy./12'), ('p' * 100, 'longpw')]:
    print('libxcrypt\t%s\t%s' % (pw.encode().hex(), crypt.crypt(pw, '$1$' + salt + '$')))
PY
