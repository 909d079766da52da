<?php
// A port of Drupal 7's _password_crypt() (includes/password.inc): SHA-512,
// 2^count iterations, phpass base64. Used only to make test vectors; its
// output for "hashcat" is cross-checked against hashcat's published example.
function itoa64() { return './0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz'; }
function b64($input, $count) {
  $itoa = itoa64(); $output = ''; $i = 0;
  do {
    $value = ord($input[$i++]);
    $output .= $itoa[$value & 0x3f];
    if ($i < $count) $value |= ord($input[$i]) << 8;
    $output .= $itoa[($value >> 6) & 0x3f];
    if ($i++ >= $count) break;
    if ($i < $count) $value |= ord($input[$i]) << 16;
    $output .= $itoa[($value >> 12) & 0x3f];
    if ($i++ >= $count) break;
    $output .= $itoa[($value >> 18) & 0x3f];
  } while ($i < $count);
  return $output;
}
function drupal7($password, $countLog2, $salt) {
  $setting = '$S$' . itoa64()[$countLog2] . $salt;
  $count = 1 << $countLog2;
  $hash = hash('sha512', $salt . $password, TRUE);
  do { $hash = hash('sha512', $hash . $password, TRUE); } while (--$count);
  $output = $setting . b64($hash, strlen($hash));
  return substr($output, 0, 55);
}
foreach ([['secret', 15, 'AbCdEfGh'], ['pässwörd', 8, '12345678'], ['hashcat', 14, '33783772']] as [$pw, $log2, $salt]) {
  echo "php-drupal7\t\$S\$ drupal7\t", bin2hex($pw), "\t-\t", drupal7($pw, $log2, $salt), "\n";
}
