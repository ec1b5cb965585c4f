import { ValidationError } from './errors';

/** Unquoted MySQL identifiers we accept from config: letters, digits, `_`, `$`; at most 64 chars. */
const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_$]{0,63}$/;

export function isIdentifier(name: string): boolean {
  return IDENTIFIER.test(name);
}

export function assertIdentifier(name: string, what = 'identifier'): string {
  if (!isIdentifier(name)) {
    throw new ValidationError(
      `${what} ${JSON.stringify(name)} is not a valid MySQL identifier (letters, digits, _ and $, starting with a letter or _, at most 64 characters)`,
    );
  }
  return name;
}

/** Validates, then backtick-quotes; identifiers can never be bound as parameters. */
export function quoteIdentifier(name: string, what?: string): string {
  return `\`${assertIdentifier(name, what)}\``;
}
