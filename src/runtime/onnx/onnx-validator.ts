import type { Datatype, Signature, TensorSpec } from '../../domain/signature.js';
import { SlipwayError } from '../../errors/index.js';
import type { ModelInspection } from '../inference-runtime.js';
import {
  DECODER_DEPTH_ERROR,
  decodeOnnxModel,
  type OnnxAttribute,
  type OnnxGraph,
  type OnnxModel,
  type OnnxNode,
  type OnnxSparseTensor,
  type OnnxTensor,
  type OnnxValueInfo,
} from './onnx-schema.js';

/** Limits applied to an uploaded graph before onnxruntime ever sees its bytes. */
export interface ValidationLimits {
  /** Operator domains a model may import or use (model-local functions add their own). */
  readonly allowedDomains: readonly string[];
  /** Deepest nesting of subgraphs (If/Loop/Scan bodies); onnxruntime itself stops at 32. */
  readonly maxSubgraphDepth: number;
  /** Most nodes across the graph, its subgraphs and functions. */
  readonly maxNodes: number;
  /** Most elements one declared tensor or dimension product may have. */
  readonly maxTensorElements: number;
  readonly minIrVersion: number;
  readonly maxIrVersion: number;
}

export const DEFAULT_LIMITS: ValidationLimits = {
  allowedDomains: ['', 'ai.onnx', 'ai.onnx.ml', 'com.microsoft'],
  maxSubgraphDepth: 32,
  maxNodes: 1_000_000,
  maxTensorElements: 2 ** 31,
  minIrVersion: 3,
  maxIrVersion: 12,
};

/** Why a model was refused; the string is `details.reason` in the error body. */
export type ValidationReason =
  | 'PARSE_ERROR'
  | 'MISSING_GRAPH'
  | 'IR_VERSION'
  | 'OPSET'
  | 'OPERATOR_DOMAIN'
  | 'EXTERNAL_DATA'
  | 'SUBGRAPH_DEPTH'
  | 'FUNCTION_RECURSION'
  | 'GRAPH_TOO_LARGE'
  | 'TENSOR_SIZE'
  | 'RAW_DATA_SIZE'
  | 'NON_TENSOR_OUTPUT'
  | 'UNSUPPORTED_TYPE';

const ML_DOMAIN = 'ai.onnx.ml';
const CLASSIFIER_OPS = new Set(['TreeEnsembleClassifier', 'LinearClassifier', 'SVMClassifier', 'ZipMap']);

/** ONNX TensorProto.DataType -> Open Inference Protocol datatype, for the types Slipway serves. */
const SERVABLE_TYPES: Readonly<Record<number, Datatype>> = {
  1: 'FP32',
  2: 'UINT8',
  3: 'INT8',
  4: 'UINT16',
  5: 'INT16',
  6: 'INT32',
  7: 'INT64',
  8: 'BYTES',
  9: 'BOOL',
  11: 'FP64',
  12: 'UINT32',
  13: 'UINT64',
};

const TYPE_NAMES: Readonly<Record<number, string>> = {
  10: 'float16',
  14: 'complex64',
  15: 'complex128',
  16: 'bfloat16',
};

/** Bits per element of each fixed-size ONNX type, for checking `raw_data` lengths. */
const ELEMENT_BITS: Readonly<Record<number, number>> = {
  1: 32,
  2: 8,
  3: 8,
  4: 16,
  5: 16,
  6: 32,
  7: 64,
  9: 8,
  10: 16,
  11: 64,
  12: 32,
  13: 64,
  14: 64,
  15: 128,
  16: 16,
  17: 8,
  18: 8,
  19: 8,
  20: 8,
  21: 4,
  22: 4,
  23: 4,
};

const refuse = (
  reason: ValidationReason,
  message: string,
  extra: Record<string, unknown> = {},
): SlipwayError =>
  new SlipwayError(
    reason === 'NON_TENSOR_OUTPUT' || reason === 'UNSUPPORTED_TYPE' ? 'UNSUPPORTED_MODEL' : 'INVALID_MODEL',
    message,
    {
      reason,
      ...extra,
    },
  );

/**
 * Checks an uploaded ONNX file against the rules in docs/architecture.md ("Upload validation") and
 * returns its signature. Throws `SlipwayError` (INVALID_MODEL or UNSUPPORTED_MODEL) naming the rule.
 *
 * The walk visits every place a tensor or a graph can live: initializers, sparse initializers, node
 * attributes (single and repeated, dense and sparse), subgraphs at any depth, model-local functions
 * (their nodes and attribute defaults) and training graphs. Single-file uploads never legitimately
 * reference external data, so any external reference is refused outright instead of path-checked.
 */
export function inspectOnnxModel(
  bytes: Uint8Array,
  limits: ValidationLimits = DEFAULT_LIMITS,
): ModelInspection {
  if (bytes.byteLength === 0)
    throw refuse('PARSE_ERROR', 'The uploaded file is empty; expected an ONNX model.');
  let model: OnnxModel;
  try {
    model = decodeOnnxModel(bytes);
  } catch (error) {
    const message = (error as Error).message;
    if (message === DECODER_DEPTH_ERROR || message.includes('call stack')) {
      throw refuse(
        'SUBGRAPH_DEPTH',
        `The model nests messages too deeply to parse; at most ${limits.maxSubgraphDepth} levels of subgraphs are allowed.`,
      );
    }
    throw refuse('PARSE_ERROR', `The file is not a valid ONNX model (protobuf ModelProto): ${message}.`);
  }

  const irVersion = model.irVersion ?? 0;
  if (!(irVersion >= limits.minIrVersion && irVersion <= limits.maxIrVersion)) {
    throw refuse(
      'IR_VERSION',
      `ONNX ir_version ${irVersion} is not supported: expected ${limits.minIrVersion} to ${limits.maxIrVersion}.`,
      { ir_version: irVersion },
    );
  }
  if (!model.graph) throw refuse('MISSING_GRAPH', 'The ONNX model has no graph.');
  if (model.opsetImport.length === 0)
    throw refuse('OPSET', 'The ONNX model imports no operator set (opset_import is empty).');

  const functionDomains = new Set(model.functions.map((f) => f.domain ?? ''));
  const allowed = new Set([...limits.allowedDomains, ...functionDomains]);
  const opsets: Record<string, number> = {};
  for (const { domain = '', version } of model.opsetImport) {
    checkDomain(domain, allowed, limits, 'opset_import');
    if (!(Number.isInteger(version) && version >= 1 && version <= 1000)) {
      throw refuse(
        'OPSET',
        `opset_import for domain "${domain}" has version ${version}; expected 1 to 1000.`,
      );
    }
    opsets[domain] = version;
  }

  const walker = new GraphWalker(limits, allowed);
  walker.graph(model.graph, 0, 'graph');
  model.functions.forEach((fn, index) => {
    const where = `functions[${index}] (${fn.name})`;
    for (const { domain = '' } of fn.opsetImport)
      checkDomain(domain, allowed, limits, `${where}.opset_import`);
    for (const attribute of fn.attributeProto) walker.attribute(attribute, 0, `${where}.attribute_proto`);
    for (const node of fn.node) walker.node(node, 0, where);
  });
  model.trainingInfo.forEach((info, index) => {
    if (info.initialization) walker.graph(info.initialization, 1, `training_info[${index}].initialization`);
    if (info.algorithm) walker.graph(info.algorithm, 1, `training_info[${index}].algorithm`);
  });
  checkFunctionRecursion(model);

  return {
    signature: signatureOf(model.graph, walker.labels),
    irVersion,
    opsets,
    producer: [model.producerName, model.producerVersion].filter(Boolean).join(' '),
    nodeCount: walker.nodeCount,
  };
}

function checkDomain(
  domain: string,
  allowed: ReadonlySet<string>,
  limits: ValidationLimits,
  where: string,
): void {
  if (!allowed.has(domain)) {
    const known = limits.allowedDomains.map((d) => (d === '' ? '"" (ai.onnx)' : `"${d}"`)).join(', ');
    throw refuse(
      'OPERATOR_DOMAIN',
      `${where} uses operator domain "${domain}", which is not allowed: expected one of ${known} or the domain of a function defined in the model. Custom operator libraries are never loaded.`,
      { domain },
    );
  }
}

class GraphWalker {
  nodeCount = 0;
  labels: (string | number)[] | undefined;

  constructor(
    private readonly limits: ValidationLimits,
    private readonly allowed: ReadonlySet<string>,
  ) {}

  graph(graph: OnnxGraph, depth: number, where: string): void {
    if (depth > this.limits.maxSubgraphDepth) {
      throw refuse(
        'SUBGRAPH_DEPTH',
        `${where} nests subgraphs ${depth} deep; at most ${this.limits.maxSubgraphDepth} levels are allowed.`,
        { depth },
      );
    }
    for (const [i, tensor] of graph.initializer.entries()) this.tensor(tensor, `${where}.initializer[${i}]`);
    for (const [i, sparse] of graph.sparseInitializer.entries())
      this.sparse(sparse, `${where}.sparse_initializer[${i}]`);
    for (const info of [...graph.input, ...graph.output]) this.valueInfo(info, where);
    for (const node of graph.node) this.node(node, depth, where);
  }

  node(node: OnnxNode, depth: number, where: string): void {
    this.nodeCount += 1;
    if (this.nodeCount > this.limits.maxNodes) {
      throw refuse('GRAPH_TOO_LARGE', `The model has more than ${this.limits.maxNodes} nodes.`);
    }
    const domain = node.domain ?? '';
    const label = `${where}.node(${node.name || node.opType})`;
    checkDomain(domain, this.allowed, this.limits, label);
    if (domain === ML_DOMAIN && CLASSIFIER_OPS.has(node.opType) && this.labels === undefined) {
      this.labels = classLabels(node.attribute);
    }
    for (const attribute of node.attribute) this.attribute(attribute, depth, label);
  }

  attribute(attribute: OnnxAttribute, depth: number, where: string): void {
    const at = `${where}.${attribute.name}`;
    if (attribute.t) this.tensor(attribute.t, at);
    for (const [i, tensor] of attribute.tensors.entries()) this.tensor(tensor, `${at}[${i}]`);
    if (attribute.sparseTensor) this.sparse(attribute.sparseTensor, at);
    for (const [i, sparse] of attribute.sparseTensors.entries()) this.sparse(sparse, `${at}[${i}]`);
    if (attribute.g) this.graph(attribute.g, depth + 1, at);
    for (const [i, graph] of attribute.graphs.entries()) this.graph(graph, depth + 1, `${at}[${i}]`);
  }

  sparse(sparse: OnnxSparseTensor, where: string): void {
    this.dims(sparse.dims, where);
    if (sparse.values) this.tensor(sparse.values, `${where}.values`);
    if (sparse.indices) this.tensor(sparse.indices, `${where}.indices`);
  }

  tensor(tensor: OnnxTensor, where: string): void {
    const name = tensor.name ? ` "${tensor.name}"` : '';
    if ((tensor.dataLocation ?? 0) !== 0 || tensor.externalData.length > 0) {
      const location = tensor.externalData.find((entry) => entry.key === 'location')?.value;
      throw refuse(
        'EXTERNAL_DATA',
        `Tensor${name} at ${where} refers to external data${location === undefined ? '' : ` ("${location}")`}; uploads must be a single self-contained ONNX file (save without external data).`,
        { where },
      );
    }
    const elements = this.dims(tensor.dims, `${where}${name}`);
    const bits = ELEMENT_BITS[tensor.dataType];
    if (tensor.rawData !== undefined && tensor.rawData.byteLength > 0 && bits !== undefined) {
      const expected = Math.ceil((elements * bits) / 8);
      if (tensor.rawData.byteLength !== expected) {
        throw refuse(
          'RAW_DATA_SIZE',
          `Tensor${name} at ${where} declares ${elements} elements (${expected} bytes) but carries ${tensor.rawData.byteLength} bytes of raw_data.`,
          { where },
        );
      }
    }
  }

  /** Checks declared dimensions and returns their product. */
  dims(dims: readonly number[], where: string): number {
    let product = 1;
    for (const dim of dims) {
      if (!Number.isFinite(dim) || dim < 0) {
        throw refuse('TENSOR_SIZE', `${where} has a negative or invalid dimension (${dim}).`, { where });
      }
      product *= dim;
      if (product > this.limits.maxTensorElements) {
        throw refuse(
          'TENSOR_SIZE',
          `${where} declares more than ${this.limits.maxTensorElements} elements (dims [${dims.join(', ')}]).`,
          { where },
        );
      }
    }
    return product;
  }

  valueInfo(info: OnnxValueInfo, where: string): void {
    const dims = info.type?.tensorType?.shape?.dim ?? [];
    for (const dim of dims) {
      if (dim.dimValue !== undefined && (dim.dimValue < 0 || dim.dimValue > this.limits.maxTensorElements)) {
        throw refuse(
          'TENSOR_SIZE',
          `${where} value "${info.name}" has an invalid dimension (${dim.dimValue}).`,
        );
      }
    }
  }
}

function classLabels(attributes: readonly OnnxAttribute[]): (string | number)[] | undefined {
  const decoder = new TextDecoder();
  for (const attribute of attributes) {
    if (attribute.name === 'classlabels_strings' && attribute.strings.length > 0) {
      return attribute.strings.map((s) => decoder.decode(s));
    }
    if (attribute.name === 'classlabels_int64s' && attribute.ints.length > 0) return [...attribute.ints];
  }
  return undefined;
}

/** A model-local function that calls itself, directly or through others, would recurse forever on load. */
function checkFunctionRecursion(model: OnnxModel): void {
  const key = (domain: string | undefined, name: string) => `${domain ?? ''}::${name}`;
  const calls = new Map<string, string[]>();
  for (const fn of model.functions) {
    calls.set(
      key(fn.domain, fn.name),
      fn.node.map((node) => key(node.domain, node.opType)),
    );
  }
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (fn: string, path: string[]): void => {
    if (state.get(fn) === 'done') return;
    if (state.get(fn) === 'visiting') {
      throw refuse('FUNCTION_RECURSION', `Model-local function ${[...path, fn].join(' -> ')} calls itself.`);
    }
    state.set(fn, 'visiting');
    for (const callee of calls.get(fn) ?? []) if (calls.has(callee)) visit(callee, [...path, fn]);
    state.set(fn, 'done');
  };
  for (const fn of calls.keys()) visit(fn, []);
}

/** Reads inputs (graph inputs that are not initializers) and outputs, refusing types Slipway cannot serve. */
function signatureOf(graph: OnnxGraph, labels: (string | number)[] | undefined): Signature {
  const initializers = new Set(graph.initializer.map((t) => t.name));
  const inputs = graph.input
    .filter((info) => !initializers.has(info.name))
    .map((info) => tensorSpec(info, 'input'));
  const outputs = graph.output.map((info) => tensorSpec(info, 'output'));
  if (inputs.length === 0) throw refuse('MISSING_GRAPH', 'The ONNX graph declares no inputs.');
  if (outputs.length === 0) throw refuse('MISSING_GRAPH', 'The ONNX graph declares no outputs.');
  return labels === undefined ? { inputs, outputs } : { inputs, outputs, labels };
}

function tensorSpec(info: OnnxValueInfo, role: 'input' | 'output'): TensorSpec {
  const tensorType = info.type?.tensorType;
  if (!tensorType) {
    const kind = info.type?.sequenceType ? 'a sequence' : info.type?.mapType ? 'a map' : 'not a tensor';
    throw refuse(
      'NON_TENSOR_OUTPUT',
      `The model's ${role} "${info.name}" is ${kind}; Slipway serves tensor ${role}s only. Classifiers converted by skl2onnx or onnxmltools produce a ZipMap (a sequence of maps) unless exported with the option zipmap=False, e.g. to_onnx(model, X, options={'zipmap': False}).`,
      { [role]: info.name },
    );
  }
  const datatype = SERVABLE_TYPES[tensorType.elemType];
  if (datatype === undefined) {
    const typeName = TYPE_NAMES[tensorType.elemType] ?? `ONNX type ${tensorType.elemType}`;
    throw refuse(
      'UNSUPPORTED_TYPE',
      `The model's ${role} "${info.name}" has element type ${typeName}, which Slipway cannot serve over JSON; expected one of ${Object.values(SERVABLE_TYPES).join(', ')}.`,
      { [role]: info.name },
    );
  }
  const dims = tensorType.shape?.dim ?? [];
  const shape = dims.map((dim) => (dim.dimValue !== undefined ? dim.dimValue : -1));
  const dimNames = dims.map((dim) => dim.dimParam || null);
  return dimNames.some((name) => name !== null)
    ? { name: info.name, datatype, shape, dimNames }
    : { name: info.name, datatype, shape };
}
