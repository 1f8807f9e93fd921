import { foldKey } from './text';

/**
 * Values that state a gender unambiguously, folded (lowercase, no accents, letters only).
 * Anything else — `x`, `divers`, `other`, `unknown`, salutations, blanks — is left empty: Meta's GEN is never guessed.
 */
const GENDERS: ReadonlyMap<string, 'm' | 'f'> = new Map([
  ['m', 'm'],
  ['f', 'f'],
  ['male', 'm'],
  ['female', 'f'],
  ['man', 'm'],
  ['woman', 'f'],
  ['mannlich', 'm'], // männlich
  ['maennlich', 'm'],
  ['weiblich', 'f'],
  ['mann', 'm'],
  ['frau', 'f'],
  ['homme', 'm'],
  ['femme', 'f'],
  ['masculin', 'm'],
  ['feminin', 'f'], // féminin, also German feminin
  ['hombre', 'm'],
  ['mujer', 'f'],
  ['masculino', 'm'],
  ['femenino', 'f'],
  ['feminino', 'f'], // Portuguese
  ['maschio', 'm'],
  ['femmina', 'f'],
  ['maschile', 'm'],
  ['femminile', 'f'],
  ['mannelijk', 'm'],
  ['vrouwelijk', 'f'],
  ['vrouw', 'f'],
]);

/** Meta GEN rule: `m` or `f` from an explicit value in a handful of languages; anything else → undefined. */
export function normalizeGender(value: string): 'm' | 'f' | undefined {
  return GENDERS.get(foldKey(value));
}
