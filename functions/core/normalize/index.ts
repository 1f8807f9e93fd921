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
export { GOOGLE_RULES, googleKeys, normalizeGoogleEmail, normalizeGoogleName } from './google';
export { hashOnce, isSha256Hex, sha256Hex } from './hash';
export { normalizeCity, normalizePostalCode, normalizeState, normalizeZip, usStateCode } from './location';
export { contactId, META_RULES, metaKeys } from './meta';
export { nameWords, normalizeFirstInitial, normalizeName, splitFullName } from './name';
export { normalizePhone, normalizePhoneDigits, type PhoneResult } from './phone';
export type { IdentityField, KeyOptions, KeyProblem, KeyProblemReason, KeyRule, KeysResult } from './row';
export { trimAll } from './text';
export { zoneOf } from './zones';
