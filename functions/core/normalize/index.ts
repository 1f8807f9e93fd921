/** Match-key normalization and hashing: shared field normalizers, one key table per platform, regulatory zones. */
export {
  type BirthdayKeys,
  MIN_BIRTH_YEAR,
  normalizeBirthDay,
  normalizeBirthday,
  normalizeBirthMonth,
  normalizeBirthYear,
} from './birthday';
export { COUNTRY_TABLE, countryIso2, normalizeCountry } from './country';
export { canonicalGmail, isPlausibleEmail, normalizeEmail } from './email';
export { normalizeExternalId } from './external-id';
export { normalizeGender } from './gender';
export {
  GOOGLE_RULES,
  googleKeys,
  googleRegionCode,
  normalizeGoogleEmail,
  normalizeGoogleFamilyName,
  normalizeGoogleGivenName,
  normalizeGooglePhone,
  normalizeGooglePostalCode,
} from './google';
export { hashOnce, isSha256Hex, sha256Hex } from './hash';
export { normalizeCity, normalizeState, normalizeZip, usStateCode } from './location';
export { normalizeMadid } from './madid';
export { normalizeFirstInitial, normalizeName, splitFullName } from './name';
export { normalizePhone, normalizePhoneDigits, type PhoneResult } from './phone';
export {
  applyRules,
  type IdentityField,
  type KeyOptions,
  type KeyProblem,
  type KeyProblemReason,
  type KeyRule,
  type KeysResult,
  type RowContext,
  rowContext,
} from './row';
export { trimAll } from './text';
export { zoneOf, zoneOfUncached } from './zones';
