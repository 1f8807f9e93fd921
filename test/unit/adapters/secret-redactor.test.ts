/** The shared helper every platform adapter runs its messages through: the exact secret never survives, in any form. */
import { describe, expect, it } from 'vitest';
import { REDACTED_SECRET, SecretRedactor } from '../../../functions/adapters/secret-redactor';
import { DestinationError } from '../../../functions/core/ports';

const TOKEN = 's3cr3t/Tok+en=42 ü';

describe('SecretRedactor', () => {
  it('removes the secret verbatim, URL-encoded, form-encoded and in lower-case hex, wherever it appears', () => {
    const r = new SecretRedactor([TOKEN]);
    const text = [
      `token ${TOKEN} is invalid`,
      `?access_token=${encodeURIComponent(TOKEN)}&x=1`,
      `body ${new URLSearchParams({ t: TOKEN })}`,
      `path /${encodeURI(TOKEN)}/`,
      `lower ${encodeURIComponent(TOKEN).replace(/%[0-9A-F]{2}/g, (h) => h.toLowerCase())}`,
    ].join(' | ');
    const out = r.text(text);
    expect(out).not.toContain('s3cr3t');
    expect(out).toContain(`token ${REDACTED_SECRET} is invalid`);
    expect(out).toContain(`access_token=${REDACTED_SECRET}&x=1`);
  });

  it('leaves text without the secret alone, and ignores empty secrets', () => {
    const r = new SecretRedactor(['', undefined]);
    expect(r.text('Meta add users failed (code 100): bad')).toBe('Meta add users failed (code 100): bad');
    expect(new SecretRedactor(['abcdef']).text('nothing secret here')).toBe('nothing secret here');
  });

  it('redacts an error in place: message, stack, string details and cause', () => {
    const r = new SecretRedactor(['first']).add('second-token');
    const cause = new Error('cause mentions second-token');
    const e = new DestinationError('permanent', 'Meta said first and second-token', {
      code: 100,
      link: 'https://example.test/?t=second-token',
    });
    (e as { cause?: unknown }).cause = cause;
    const same = r.error(e);
    expect(same).toBe(e);
    expect(same).toBeInstanceOf(DestinationError);
    expect(e.message).toBe(`Meta said ${REDACTED_SECRET} and ${REDACTED_SECRET}`);
    expect(e.stack).not.toMatch(/first|second-token/);
    expect(e.details).toEqual({ code: 100, link: `https://example.test/?t=${REDACTED_SECRET}` });
    expect(cause.message).toBe(`cause mentions ${REDACTED_SECRET}`);
    expect(r.error('plain second-token').message).toBe(`plain ${REDACTED_SECRET}`);
  });
});
