// The CLI's own error: something the user can fix (bad flag value, missing file). One line, exit 2.

import { NablaError } from '../errors.js';

export class UsageError extends NablaError {
  constructor(message: string) {
    super('E_USAGE', message);
  }
}
