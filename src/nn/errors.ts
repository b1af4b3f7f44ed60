// Typed errors of the nn package. Shape and dtype problems reuse ShapeError / DTypeError; these two
// cover what is specific to modules: state dicts whose keys do not match a model, and model
// descriptions that name a layer type outside the fixed registry.

import { NablaError } from '../errors.js';

/** loadStateDict with strict=true found keys missing from, or unexpected in, the state dict. */
export class StateDictError extends NablaError {
  readonly missingKeys: readonly string[];
  readonly unexpectedKeys: readonly string[];
  constructor(message: string, missingKeys: readonly string[], unexpectedKeys: readonly string[]) {
    super('E_STATE_DICT', message);
    this.missingKeys = missingKeys;
    this.unexpectedKeys = unexpectedKeys;
  }
}

/** buildModule met a `type` that is not in the layer registry (model files never name code). */
export class UnknownLayerError extends NablaError {
  readonly layerType: string;
  constructor(message: string, layerType: string) {
    super('E_UNKNOWN_LAYER', message);
    this.layerType = layerType;
  }
}
