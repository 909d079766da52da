/**
 * The scheme for stored values that carry neither a {SCHEME} prefix nor a
 * crypt $id$: pam_mysql's crypt= setting, by number or by name.
 */
export const DEFAULT_SCHEMES = ['plain', 'crypt', 'mysql', 'md5', 'sha1', 'drupal7', 'joomla15', 'ssha', 'sha512', 'sha256'] as const;
export type DefaultScheme = (typeof DEFAULT_SCHEMES)[number];

/** pam_mysql's aliases: crypt=Y means crypt(3), crypt=N plaintext. */
const ALIASES: Readonly<Record<string, DefaultScheme>> = { y: 'crypt', n: 'plain' };

/** Parse "1", "crypt", "Y", "sha256", ...; undefined when it is none of them. */
export function parseDefaultScheme(value: string): DefaultScheme | undefined {
  const word = value.trim().toLowerCase();
  if (/^\d$/.test(word)) return DEFAULT_SCHEMES[Number(word)];
  return ALIASES[word] ?? DEFAULT_SCHEMES.find((scheme) => scheme === word);
}
