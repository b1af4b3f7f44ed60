// The slice of the WebGPU API this backend uses, declared here so that the project compiles
// without the optional `webgpu` package (and its `@webgpu/types`) installed. Names and members are
// the standard's (https://www.w3.org/TR/webgpu/); Dawn's Node binding and browsers both satisfy them.

export interface GPULike {
  requestAdapter(options?: { powerPreference?: 'low-power' | 'high-performance' }): Promise<GPUAdapterLike | null>;
}

export interface GPUAdapterInfoLike {
  readonly vendor: string;
  readonly architecture: string;
  readonly device: string;
  readonly description: string;
}

export type GPULimitsLike = Readonly<Record<string, number>>;

export interface GPUAdapterLike {
  readonly info: GPUAdapterInfoLike;
  readonly limits: GPULimitsLike;
  readonly features: ReadonlySet<string>;
  requestDevice(descriptor?: { requiredLimits?: Record<string, number>; label?: string }): Promise<GPUDeviceLike>;
}

export interface GPUBufferLike {
  readonly size: number;
  readonly usage: number;
  readonly mapState: 'unmapped' | 'pending' | 'mapped';
  mapAsync(mode: number, offset?: number, size?: number): Promise<void>;
  getMappedRange(offset?: number, size?: number): ArrayBuffer;
  unmap(): void;
  destroy(): void;
}

export interface GPUBindGroupLike { readonly label: string }
export interface GPUBindGroupLayoutLike { readonly label: string }
export interface GPUShaderModuleLike {
  getCompilationInfo(): Promise<{ messages: readonly { type: string; message: string; lineNum: number; linePos: number }[] }>;
}
export interface GPUComputePipelineLike {
  getBindGroupLayout(index: number): GPUBindGroupLayoutLike;
}

export interface GPUComputePassLike {
  setPipeline(p: GPUComputePipelineLike): void;
  setBindGroup(index: number, group: GPUBindGroupLike): void;
  dispatchWorkgroups(x: number, y?: number, z?: number): void;
  end(): void;
}

export interface GPUCommandBufferLike { readonly label: string }

export interface GPUCommandEncoderLike {
  beginComputePass(descriptor?: { label?: string }): GPUComputePassLike;
  copyBufferToBuffer(src: GPUBufferLike, srcOffset: number, dst: GPUBufferLike, dstOffset: number, size: number): void;
  clearBuffer(buffer: GPUBufferLike, offset?: number, size?: number): void;
  finish(): GPUCommandBufferLike;
}

export interface GPUQueueLike {
  submit(buffers: GPUCommandBufferLike[]): void;
  writeBuffer(buffer: GPUBufferLike, offset: number, data: ArrayBufferView | ArrayBuffer, dataOffset?: number, size?: number): void;
  onSubmittedWorkDone(): Promise<void>;
}

export interface GPUBufferBinding {
  binding: number;
  resource: { buffer: GPUBufferLike; offset?: number; size?: number };
}

export interface GPUErrorEventLike {
  readonly error: { message: string };
  preventDefault?(): void;
}

export interface GPUDeviceLike {
  readonly limits: GPULimitsLike;
  readonly queue: GPUQueueLike;
  readonly lost: Promise<{ reason: string; message: string }>;
  onuncapturederror: ((ev: GPUErrorEventLike) => void) | null;
  addEventListener?(type: 'uncapturederror', listener: (ev: GPUErrorEventLike) => void): void;
  createBuffer(descriptor: { size: number; usage: number; mappedAtCreation?: boolean; label?: string }): GPUBufferLike;
  createShaderModule(descriptor: { code: string; label?: string }): GPUShaderModuleLike;
  createComputePipeline(descriptor: { layout: 'auto'; compute: { module: GPUShaderModuleLike; entryPoint: string }; label?: string }): GPUComputePipelineLike;
  createBindGroup(descriptor: { layout: GPUBindGroupLayoutLike; entries: GPUBufferBinding[] }): GPUBindGroupLike;
  createCommandEncoder(): GPUCommandEncoderLike;
  pushErrorScope(filter: 'validation' | 'out-of-memory' | 'internal'): void;
  popErrorScope(): Promise<{ message: string } | null>;
  destroy(): void;
}

// The standard's flag values (GPUBufferUsage, GPUMapMode), fixed by the specification, so that
// nothing depends on globals the Node binding would otherwise have to install.
export const BufferUsage = {
  MAP_READ: 0x0001,
  MAP_WRITE: 0x0002,
  COPY_SRC: 0x0004,
  COPY_DST: 0x0008,
  UNIFORM: 0x0040,
  STORAGE: 0x0080,
} as const;

export const MapMode = { READ: 0x0001, WRITE: 0x0002 } as const;
