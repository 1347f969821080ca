// Typed errors for known failures. The CLI prints their message as one line and exits 2;
// any other error is a bug and is re-thrown with its stack.

/** The input cannot be read at all: not a zip, not a bugreport, a corrupt archive, a missing file. */
export class InputError extends Error {
  override readonly name = 'InputError';
}

/** The user asked for something that does not exist or is malformed: an unknown analysis, bad SQL, a bad parameter. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** True for errors the CLI reports as one line with exit code 2. */
export function isKnownError(e: unknown): e is InputError | UsageError {
  return e instanceof InputError || e instanceof UsageError;
}
