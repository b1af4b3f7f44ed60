// State dicts to and from .safetensors files (safetensors.torch's load_file / save_file): the way
// weights move between Nabla and PyTorch. Names are the dotted state-dict names, so a file PyTorch
// wrote loads with module.loadStateDict(loadSafetensors(path)), and a file written here loads with
// torch's model.load_state_dict(safetensors.torch.load_file(path)).

import { Module, type StateDict } from '../nn/module.js';
import { Tensor } from '../tensor.js';
import { readSafetensorsFile, serializeSafetensors, writeSafetensorsFile, type ParseOptions, type RawTensor } from './safetensors.js';

/** Every tensor of a .safetensors file, by name, in the file's order (validated strictly; see safetensors.ts). */
export function loadSafetensors(path: string, opts?: ParseOptions): StateDict {
  const { tensors } = readSafetensorsFile(path, opts);
  const out: StateDict = new Map();
  for (const [name, t] of tensors) out.set(name, new Tensor(t.data, [...t.shape]));
  return out;
}

function rawTensors(src: StateDict | Module): Map<string, RawTensor> {
  const sd = src instanceof Module ? src.stateDict() : src;
  const out = new Map<string, RawTensor>();
  for (const [name, t] of sd) out.set(name, { dtype: t.dtype, shape: [...t.shape], data: t.toTypedArray() });
  return out;
}

/** Writes a module's state dict (or a state dict) as .safetensors, atomically (temp file + rename). */
export function saveSafetensors(src: StateDict | Module, path: string, metadata: Record<string, string> = { format: 'pt' }): void {
  writeSafetensorsFile(path, rawTensors(src), metadata);
}

/** The bytes saveSafetensors would write. */
export function safetensorsBytes(src: StateDict | Module, metadata: Record<string, string> = { format: 'pt' }): Uint8Array {
  return serializeSafetensors(rawTensors(src), metadata);
}
