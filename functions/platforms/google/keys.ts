/** Google Data Manager identifiers in the order requests list them. */
export const GOOGLE_KEY_ORDER: readonly string[] = [
  'email',
  'phone',
  'firstName',
  'lastName',
  'countryCode',
  'postalCode',
];
