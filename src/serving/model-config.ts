import type { Datatype, Signature, TensorSpec } from '../domain/signature.js';
import { type BatchPolicy, isBatchable } from './batcher.js';

/**
 * The largest batch a batchable model is said to take (`max_batch_size` in its Triton model
 * configuration). Until the dynamic batcher reports its own limit, every model whose inputs and
 * outputs all start with a dynamic dimension is batchable up to this many rows.
 */
export const MAX_BATCH_SIZE = 1024;

/** Triton's model-configuration name for each datatype (`BYTES` is `TYPE_STRING` there). */
export const TRITON_TYPE: Readonly<Record<Datatype, string>> = {
  BOOL: 'TYPE_BOOL',
  UINT8: 'TYPE_UINT8',
  UINT16: 'TYPE_UINT16',
  UINT32: 'TYPE_UINT32',
  UINT64: 'TYPE_UINT64',
  INT8: 'TYPE_INT8',
  INT16: 'TYPE_INT16',
  INT32: 'TYPE_INT32',
  INT64: 'TYPE_INT64',
  FP32: 'TYPE_FP32',
  FP64: 'TYPE_FP64',
  BYTES: 'TYPE_STRING',
};

/** One input or output of a Triton model configuration. */
export interface TritonTensorConfig {
  readonly name: string;
  readonly data_type: string;
  /** The shape without the batch dimension when `max_batch_size > 0`; -1 marks any size. */
  readonly dims: number[];
}

/** Triton's `dynamic_batching` block, as far as Slipway has a use for it. */
export interface TritonDynamicBatching {
  readonly max_queue_delay_microseconds: number;
  readonly preferred_batch_size?: number[];
}

/** The model configuration Triton answers at `GET /v2/models/{m}/config` (the fields clients read). */
export interface TritonModelConfig {
  readonly name: string;
  readonly platform: 'onnxruntime_onnx';
  readonly backend: 'onnxruntime';
  /** 0 when the model takes no batch dimension; `dims` are then the full shapes. */
  readonly max_batch_size: number;
  readonly input: TritonTensorConfig[];
  readonly output: TritonTensorConfig[];
  /** Present only while requests to the model are batched together by the server. */
  readonly dynamic_batching?: TritonDynamicBatching;
}

export interface TritonModelConfigOptions {
  /** The batch limit for a batchable model. Default: `MAX_BATCH_SIZE`. */
  readonly maxBatchSize?: number;
  /** The server's dynamic batching for the model, when it is on. Default: none (off). */
  readonly dynamicBatching?: TritonDynamicBatching;
}

/**
 * Triton's model configuration for a signature. perf_analyzer reads `max_batch_size` from it to
 * decide whether `-b` is allowed and whether to strip the first dimension of the metadata shapes.
 */
export function tritonModelConfig(
  name: string,
  signature: Signature,
  options: TritonModelConfigOptions = {},
): TritonModelConfig {
  const batchable = isBatchable(signature);
  const tensor = ({ name, datatype, shape }: TensorSpec): TritonTensorConfig => ({
    name,
    data_type: TRITON_TYPE[datatype],
    dims: batchable ? shape.slice(1) : [...shape],
  });
  return {
    name,
    platform: 'onnxruntime_onnx',
    backend: 'onnxruntime',
    max_batch_size: batchable ? (options.maxBatchSize ?? MAX_BATCH_SIZE) : 0,
    input: signature.inputs.map(tensor),
    output: signature.outputs.map(tensor),
    ...(batchable && options.dynamicBatching ? { dynamic_batching: options.dynamicBatching } : {}),
  };
}

/**
 * The configuration Slipway answers for a served model (HTTP `GET /v2/models/{m}/config` and gRPC
 * `ModelConfig` alike): `max_batch_size` is what one request may carry, `dynamic_batching` how Slipway
 * merges requests (absent when batching is off for the model).
 */
export function servedModelConfig(
  name: string,
  signature: Signature,
  batching: BatchPolicy,
): TritonModelConfig {
  return tritonModelConfig(name, signature, {
    ...(batching.maxBatchSize > 1
      ? {
          dynamicBatching: {
            max_queue_delay_microseconds: Math.round(batching.maxQueueDelayMs * 1000),
            preferred_batch_size: [batching.maxBatchSize],
          },
        }
      : {}),
  });
}
