#!/usr/bin/env bash
# Regenerates hashes.tsv: stored password values in every format the verifier
# supports, each made by an implementation independent of this project:
#   doveadm pw (Dovecot 2.3), libxcrypt through python3's crypt module,
#   passlib and python3-bcrypt / argon2-cffi (Debian python3-passlib,
#   python3-bcrypt, python3-argon2), htpasswd (apache2-utils), PHP 8.2
#   (password_hash, crypt, md5), OpenSSL, MariaDB's PASSWORD().
# Drupal 7 ($S$) has no Debian implementation: drupal7.php ports Drupal 7's
# _password_crypt(); its output is checked against hashcat's published
# example in hashes.tsv (row maker "hashcat").
# Columns: maker, label, password as hex, default scheme for unprefixed
# values ("-" when the value names its scheme), stored value.
#   bash test/vectors/make-hash-vectors.sh > test/vectors/hashes.tsv
set -euo pipefail
cd "$(dirname "$0")"
PY=/usr/bin/python3
hex() { printf '%s' "$1" | od -v -An -tx1 | tr -d ' \n'; }
row() { printf '%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$(hex "$3")" "$4" "$5"; }
printf 'maker\tlabel\tpassword_hex\tdefault\tstored\n'

for pw in secret 'pässwörd'; do
  # Dovecot schemes, with and without .HEX/.B64 suffixes.
  for scheme in PLAIN CLEARTEXT MD5-CRYPT SHA256-CRYPT SHA512-CRYPT BLF-CRYPT DES-CRYPT ARGON2I ARGON2ID \
                SHA SHA1 SHA256 SHA512 SSHA SSHA256 SSHA512 PLAIN-MD5 LDAP-MD5 SMD5 \
                SHA.HEX SHA256.HEX SHA512.B64 SSHA.HEX SSHA512.HEX PLAIN-MD5.B64 LDAP-MD5.HEX SMD5.HEX; do
    row doveadm "{$scheme}" "$pw" - "$(doveadm pw -s "$scheme" -p "$pw")"
  done
  row doveadm '{SHA512-CRYPT} rounds=6000' "$pw" - "$(doveadm pw -s SHA512-CRYPT -r 6000 -p "$pw")"
  row doveadm '{CRYPT} (bcrypt in Dovecot 2.3)' "$pw" - "$(doveadm pw -s CRYPT -p "$pw")"
  # Prefixes are case-insensitive: the same value with a lower-case prefix.
  v=$(doveadm pw -s SSHA256 -p "$pw"); row doveadm '{ssha256} lower-case prefix' "$pw" - "{ssha256}${v#\{SSHA256\}}"
done

# crypt(3) strings without a prefix, from libxcrypt.
$PY -W ignore - <<'PY'
import crypt
def row(label, pw, stored, default='-'):
    print('libxcrypt\t%s\t%s\t%s\t%s' % (label, pw.encode().hex(), default, stored))
for pw in ['secret', 'pässwörd', 'a' * 80]:
    row('$1$ md5crypt', pw, crypt.crypt(pw, '$1$8salt.8$'))
    row('$5$ sha256crypt', pw, crypt.crypt(pw, '$5$saltsaltsaltsalt$'))
    row('$5$ rounds=12345', pw, crypt.crypt(pw, '$5$rounds=12345$shortsalt$'))
    row('$6$ sha512crypt', pw, crypt.crypt(pw, '$6$saltsaltsaltsalt$'))
    row('$6$ rounds=1000 (the minimum)', pw, crypt.crypt(pw, '$6$rounds=1000$s$'))
    row('$2b$ bcrypt', pw, crypt.crypt(pw, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16)))
    row('DES (13 characters)', pw, crypt.crypt(pw, 'ab'))
PY

# Passwords that are not UTF-8 (bytes 0xff 0xfe), and other makers.
$PY -W ignore - <<'PY'
import base64, hashlib, bcrypt, argon2
from passlib import hash as h
raw = b'\xff\xfe-bytes'
def row(maker, label, pw, stored, default='-'):
    if isinstance(pw, str): pw = pw.encode()
    print('%s\t%s\t%s\t%s\t%s' % (maker, label, pw.hex(), default, stored))
row('passlib', '$6$ non-UTF-8 password', raw, h.sha512_crypt.using(rounds=5000, salt='rawsalt').hash(raw))
row('passlib', '$5$ non-UTF-8 password', raw, h.sha256_crypt.using(rounds=5000, salt='rawsalt').hash(raw))
row('passlib', '$1$ non-UTF-8 password', raw, h.md5_crypt.using(salt='rawsalt').hash(raw))
row('passlib', 'DES non-UTF-8 password', raw, h.des_crypt.using(salt='zz').hash(raw))
row('python-bcrypt', '$2b$ non-UTF-8 password', raw, bcrypt.hashpw(raw, bcrypt.gensalt(5)).decode())
row('python-bcrypt', '$2a$ bcrypt', 'secret', bcrypt.hashpw(b'secret', bcrypt.gensalt(5, prefix=b'2a')).decode())
row('argon2-cffi', '$argon2id$ non-UTF-8 password', raw, argon2.PasswordHasher(time_cost=2, memory_cost=1024).hash(raw))
row('argon2-cffi', '$argon2i$', 'secret', argon2.PasswordHasher(time_cost=2, memory_cost=1024, type=argon2.Type.I).hash('secret'))
row('passlib', '$P$ phpass', 'secret', h.phpass.using(rounds=10).hash('secret'))
row('passlib', '$H$ phpass', 'pässwörd', h.phpass.using(ident='H', rounds=8).hash('pässwörd'))
row('passlib', '$apr1$', 'secret', h.apr_md5_crypt.hash('secret'))
# pam_mysql crypt=7 (ssha): base64(SHA1(pw + salt) + salt), no prefix.
salt = b'\x01\x02\x03\x04\x05\x06\x07\x08'
row('python-hashlib', 'crypt=7 ssha', 'secret', base64.b64encode(hashlib.sha1(b'secret' + salt).digest() + salt).decode(), 'ssha')
# Digest strings used by pam_mysql crypt=3/4/8/9 (hex, no prefix).
for pw in [b'secret', raw]:
    row('python-hashlib', 'crypt=3 md5 hex', pw, hashlib.md5(pw).hexdigest(), 'md5')
    row('python-hashlib', 'crypt=4 sha1 hex', pw, hashlib.sha1(pw).hexdigest(), 'sha1')
    row('python-hashlib', 'crypt=8 sha512 hex', pw, hashlib.sha512(pw).hexdigest(), 'sha512')
    row('python-hashlib', 'crypt=9 sha256 hex', pw, hashlib.sha256(pw).hexdigest(), 'sha256')
# Courier authlib: {MD5} base64, {MD5RAW} hex, {SHA256} base64.
row('python-hashlib', '{MD5} authlib base64', 'secret', '{MD5}' + base64.b64encode(hashlib.md5(b'secret').digest()).decode())
row('python-hashlib', '{md5raw} authlib hex', 'secret', '{md5raw}' + hashlib.md5(b'secret').hexdigest())
row('python-hashlib', '{crypt} authlib', 'secret', '{crypt}' + h.md5_crypt.using(salt='authlib').hash('secret'))
PY

# bcrypt $2y$ from htpasswd, as PostfixAdmin's PHP writes it.
for pw in secret 'pässwörd'; do
  row htpasswd '$2y$ bcrypt' "$pw" - "$(htpasswd -bnBC 6 user "$pw" | cut -d: -f2-)"
done

# PHP: password_hash (PostfixAdmin's argon2 and bcrypt), crypt, PostfixAdmin's {SHA512-CRYPT.B64}, Joomla 1.5, Drupal 7.
php -r '
function row($maker, $label, $pw, $default, $stored) { echo "$maker\t$label\t", bin2hex($pw), "\t$default\t$stored\n"; }
foreach (["secret", "pässwörd"] as $pw) {
  row("php", "\$argon2id\$ password_hash", $pw, "-", password_hash($pw, PASSWORD_ARGON2ID, ["memory_cost" => 4096, "time_cost" => 2]));
  row("php", "\$argon2i\$ password_hash", $pw, "-", password_hash($pw, PASSWORD_ARGON2I, ["memory_cost" => 4096, "time_cost" => 2]));
  row("php", "{ARGON2ID} prefixed", $pw, "-", "{ARGON2ID}" . password_hash($pw, PASSWORD_ARGON2ID, ["memory_cost" => 4096, "time_cost" => 2]));
  row("php", "{SHA512-CRYPT.B64} PostfixAdmin", $pw, "-", "{SHA512-CRYPT.B64}" . base64_encode(crypt($pw, "\$6\$pfasaltpfasalt12\$")));
  row("php", "{MD5-CRYPT} PostfixAdmin", $pw, "-", "{MD5-CRYPT}" . crypt($pw, "\$1\$pfasalt1\$"));
  $salt = "AbCdEfGhIjKlMnOpQrStUvWxYz012345";
  row("php", "crypt=6 joomla15", $pw, "joomla15", md5($pw . $salt) . ":" . $salt);
}
'
php drupal7.php

# MySQL/MariaDB PASSWORD(): pam_mysql crypt=2.
for pw in secret 'pässwörd'; do
  row mariadb 'crypt=2 PASSWORD()' "$pw" mysql "$(mariadb -N -B -e "SELECT PASSWORD('$pw')")"
done

# Plaintext under the plain default (crypt=0) and crypt(3) under the crypt default (crypt=1).
row literal 'crypt=0 plain' 'secret' plain 'secret'
row libxcrypt 'crypt=1 DES under the crypt default' 'secret' crypt "$($PY -W ignore -c "import crypt; print(crypt.crypt('secret', 'xy'))")"

# Published examples (hashcat's example-hashes list), password "hashcat".
row hashcat 'drupal7 example (hashcat 7900)' 'hashcat' - '$S$C33783772bRXEx1aCsvY.dqgaaSu76XmVlKrW9Qu8IQlvxHlmzLf'
row hashcat 'phpass example (hashcat 400)' 'hashcat' - '$P$984478476IagS59wHZvyQMArzfx58u.'
