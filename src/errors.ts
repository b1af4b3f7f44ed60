// Typed errors: every error Nabla throws on bad input is one of these, with a stable `code`
// string a caller can switch on, and a message naming what was wrong and what was expected.

export class NablaError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.code = code;
    this.name = new.target.name;
  }
}

/** Shapes that do not fit together (broadcasting, matmul, reshape, ...). */
export class ShapeError extends NablaError {
  constructor(message: string) {
    super('E_SHAPE', message);
  }
}

/** A dtype an op does not accept, or two dtypes that must match and do not. */
export class DTypeError extends NablaError {
  constructor(message: string) {
    super('E_DTYPE', message);
  }
}

/** An axis outside [-ndim, ndim). */
export class AxisError extends NablaError {
  constructor(message: string) {
    super('E_AXIS', message);
  }
}

/** An index outside the range of the dimension it indexes. */
export class IndexError extends NablaError {
  constructor(message: string) {
    super('E_INDEX', message);
  }
}

/** Misuse of autograd: backward on a non-scalar without a gradient, a leaf without requiresGrad, ... */
export class AutogradError extends NablaError {
  constructor(message: string) {
    super('E_AUTOGRAD', message);
  }
}

/**
 * A backend that cannot run here (E_BACKEND_UNAVAILABLE: its library or build is missing or
 * unusable) or no backend at all (E_NO_BACKEND).
 */
export class BackendError extends NablaError {
  constructor(code: 'E_BACKEND_UNAVAILABLE' | 'E_NO_BACKEND' | 'E_BACKEND_FAILED', message: string) {
    super(code, message);
  }
}

/** A bad argument value (negative size, unknown option, non-finite where finite is required, ...). */
export class ValueError extends NablaError {
  constructor(message: string) {
    super('E_VALUE', message);
  }
}

/** A matrix that has no inverse (det, inv, solve). */
export class LinAlgError extends NablaError {
  constructor(message: string) {
    super('E_LINALG', message);
  }
}

/** Tensors of one op on different devices, or a device that no registered backend serves. */
export class DeviceError extends NablaError {
  constructor(message: string) {
    super('E_DEVICE', message);
  }
}

/** A synchronous read (item(), toTypedArray(), tolist(), .data) of storage that a device can only
 *  hand back asynchronously: the message names the async accessor to await instead. */
export class DeviceSyncError extends NablaError {
  constructor(message: string) {
    super('E_DEVICE_SYNC', message);
  }
}

/** A request the server answers with `status` and `{"error": message}` (plus optional headers). */
export class HttpError extends NablaError {
  readonly status: number;
  readonly headers: Record<string, string>;
  constructor(status: number, message: string, headers: Record<string, string> = {}, code = httpCode(status)) {
    super(code, message);
    this.status = status;
    this.headers = headers;
  }
}

function httpCode(status: number): string {
  const known: Record<number, string> = { 400: 'E_BAD_REQUEST', 403: 'E_FORBIDDEN', 404: 'E_NOT_FOUND', 405: 'E_METHOD', 408: 'E_REQUEST_TIMEOUT', 413: 'E_TOO_LARGE', 415: 'E_MEDIA_TYPE', 503: 'E_UNAVAILABLE', 504: 'E_TIMEOUT' };
  return known[status] ?? (status >= 500 ? 'E_INTERNAL' : 'E_BAD_REQUEST');
}

/** A bounded queue that is full: the caller should retry later (the server answers 503). */
export class QueueFullError extends NablaError {
  constructor(message: string) {
    super('E_QUEUE_FULL', message);
  }
}

/** A deadline passed while queued or computing (the server answers 504). */
export class TimeoutError extends NablaError {
  readonly phase: 'queue' | 'compute';
  constructor(message: string, phase: 'queue' | 'compute') {
    super('E_TIMEOUT', message);
    this.phase = phase;
  }
}
