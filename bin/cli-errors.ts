/**
 * Failures the CLI reports as one line and an exit code (README, "The CLI"):
 * 0 done · 1 failed (unexpected error, nothing wrong with what was asked) · 2 bad input or usage · 3 state folder busy ·
 * 4 done, and something needs a person (`status`: an alert, a failed audience, a quarantined latest file, a list held
 * mid-ingest).
 */
export const EXIT = { ok: 0, failed: 1, usage: 2, busy: 3, attention: 4 } as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** A failure the user can act on: its message is the whole story, no stack trace. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: ExitCode = EXIT.usage,
  ) {
    super(message);
    this.name = 'CliError';
  }
}
