import protobuf from 'protobufjs';

/**
 * The part of `onnx.proto` that upload validation reads, written as a protobufjs descriptor with the
 * official field numbers. Bulk numeric payloads (`float_data`, `int64_data`, …) are deliberately left
 * out: protobufjs skips unknown fields without materialising them, so validating a large model does not
 * allocate its weights a second time. `raw_data` is kept because its length is checked.
 *
 * Every message that can carry a tensor or a subgraph is here, including the ones older copies of the
 * schema lack (`FunctionProto.attribute_proto`, `ModelProto.functions`), because a field the validator
 * cannot see is a field onnxruntime would still load.
 */
const descriptor = {
  nested: {
    onnx: {
      nested: {
        StringStringEntryProto: {
          fields: { key: { type: 'string', id: 1 }, value: { type: 'string', id: 2 } },
        },
        OperatorSetIdProto: {
          fields: { domain: { type: 'string', id: 1 }, version: { type: 'int64', id: 2 } },
        },
        TensorProto: {
          fields: {
            dims: { rule: 'repeated', type: 'int64', id: 1 },
            dataType: { type: 'int32', id: 2 },
            name: { type: 'string', id: 8 },
            rawData: { type: 'bytes', id: 9 },
            externalData: { rule: 'repeated', type: 'StringStringEntryProto', id: 13 },
            dataLocation: { type: 'int32', id: 14 },
          },
        },
        SparseTensorProto: {
          fields: {
            values: { type: 'TensorProto', id: 1 },
            indices: { type: 'TensorProto', id: 2 },
            dims: { rule: 'repeated', type: 'int64', id: 3 },
          },
        },
        AttributeProto: {
          fields: {
            name: { type: 'string', id: 1 },
            i: { type: 'int64', id: 3 },
            ints: { rule: 'repeated', type: 'int64', id: 8 },
            strings: { rule: 'repeated', type: 'bytes', id: 9 },
            t: { type: 'TensorProto', id: 5 },
            g: { type: 'GraphProto', id: 6 },
            tensors: { rule: 'repeated', type: 'TensorProto', id: 10 },
            graphs: { rule: 'repeated', type: 'GraphProto', id: 11 },
            type: { type: 'int32', id: 20 },
            sparseTensor: { type: 'SparseTensorProto', id: 22 },
            sparseTensors: { rule: 'repeated', type: 'SparseTensorProto', id: 23 },
          },
        },
        NodeProto: {
          fields: {
            input: { rule: 'repeated', type: 'string', id: 1 },
            output: { rule: 'repeated', type: 'string', id: 2 },
            name: { type: 'string', id: 3 },
            opType: { type: 'string', id: 4 },
            attribute: { rule: 'repeated', type: 'AttributeProto', id: 5 },
            domain: { type: 'string', id: 7 },
          },
        },
        TensorShapeProto: {
          fields: { dim: { rule: 'repeated', type: 'Dimension', id: 1 } },
          nested: {
            Dimension: {
              fields: { dimValue: { type: 'int64', id: 1 }, dimParam: { type: 'string', id: 2 } },
            },
          },
        },
        TypeProto: {
          fields: {
            tensorType: { type: 'Tensor', id: 1 },
            sequenceType: { type: 'Sequence', id: 4 },
            mapType: { type: 'Map', id: 5 },
            opaqueType: { type: 'Opaque', id: 7 },
            sparseTensorType: { type: 'Tensor', id: 8 },
            optionalType: { type: 'Sequence', id: 9 },
          },
          nested: {
            Tensor: {
              fields: { elemType: { type: 'int32', id: 1 }, shape: { type: 'TensorShapeProto', id: 2 } },
            },
            Sequence: { fields: { elemType: { type: 'TypeProto', id: 1 } } },
            Map: { fields: { keyType: { type: 'int32', id: 1 }, valueType: { type: 'TypeProto', id: 2 } } },
            Opaque: { fields: { domain: { type: 'string', id: 1 }, name: { type: 'string', id: 2 } } },
          },
        },
        ValueInfoProto: {
          fields: { name: { type: 'string', id: 1 }, type: { type: 'TypeProto', id: 2 } },
        },
        GraphProto: {
          fields: {
            node: { rule: 'repeated', type: 'NodeProto', id: 1 },
            name: { type: 'string', id: 2 },
            initializer: { rule: 'repeated', type: 'TensorProto', id: 5 },
            input: { rule: 'repeated', type: 'ValueInfoProto', id: 11 },
            output: { rule: 'repeated', type: 'ValueInfoProto', id: 12 },
            sparseInitializer: { rule: 'repeated', type: 'SparseTensorProto', id: 15 },
          },
        },
        FunctionProto: {
          fields: {
            name: { type: 'string', id: 1 },
            node: { rule: 'repeated', type: 'NodeProto', id: 7 },
            opsetImport: { rule: 'repeated', type: 'OperatorSetIdProto', id: 9 },
            domain: { type: 'string', id: 10 },
            attributeProto: { rule: 'repeated', type: 'AttributeProto', id: 11 },
          },
        },
        TrainingInfoProto: {
          fields: { initialization: { type: 'GraphProto', id: 1 }, algorithm: { type: 'GraphProto', id: 2 } },
        },
        ModelProto: {
          fields: {
            irVersion: { type: 'int64', id: 1 },
            producerName: { type: 'string', id: 2 },
            producerVersion: { type: 'string', id: 3 },
            graph: { type: 'GraphProto', id: 7 },
            opsetImport: { rule: 'repeated', type: 'OperatorSetIdProto', id: 8 },
            trainingInfo: { rule: 'repeated', type: 'TrainingInfoProto', id: 20 },
            functions: { rule: 'repeated', type: 'FunctionProto', id: 25 },
          },
        },
      },
    },
  },
};

// Each subgraph level costs three message levels (graph > node > attribute > graph). The limit lets
// a model nest well past the validator's own subgraph limit, so it is refused with SUBGRAPH_DEPTH and
// an exact depth, while a file nested deeper still is stopped by the decoder before it can exhaust
// the stack (reported as "max depth exceeded").
protobuf.Reader.recursionLimit = 256;
protobuf.util.recursionLimit = 256;
export const DECODER_DEPTH_ERROR = 'max depth exceeded';

const root = protobuf.Root.fromJSON(descriptor);
const modelType = root.lookupType('onnx.ModelProto');

// Plain-object views of the decoded messages (only the fields above; absent repeated fields are []).
export interface OnnxStringEntry {
  key: string;
  value: string;
}
export interface OnnxOpset {
  domain: string;
  version: number;
}
export interface OnnxTensor {
  dims: number[];
  dataType: number;
  name: string;
  rawData?: Uint8Array;
  externalData: OnnxStringEntry[];
  dataLocation: number;
}
export interface OnnxSparseTensor {
  values?: OnnxTensor;
  indices?: OnnxTensor;
  dims: number[];
}
export interface OnnxAttribute {
  name: string;
  i?: number;
  ints: number[];
  strings: Uint8Array[];
  t?: OnnxTensor;
  g?: OnnxGraph;
  tensors: OnnxTensor[];
  graphs: OnnxGraph[];
  sparseTensor?: OnnxSparseTensor;
  sparseTensors: OnnxSparseTensor[];
}
export interface OnnxNode {
  input: string[];
  output: string[];
  name: string;
  opType: string;
  domain: string;
  attribute: OnnxAttribute[];
}
export interface OnnxDimension {
  dimValue?: number;
  dimParam?: string;
}
export interface OnnxType {
  tensorType?: { elemType: number; shape?: { dim: OnnxDimension[] } };
  sequenceType?: unknown;
  mapType?: unknown;
  opaqueType?: unknown;
  sparseTensorType?: unknown;
  optionalType?: unknown;
}
export interface OnnxValueInfo {
  name: string;
  type?: OnnxType;
}
export interface OnnxGraph {
  node: OnnxNode[];
  name: string;
  initializer: OnnxTensor[];
  input: OnnxValueInfo[];
  output: OnnxValueInfo[];
  sparseInitializer: OnnxSparseTensor[];
}
export interface OnnxFunction {
  name: string;
  domain: string;
  node: OnnxNode[];
  opsetImport: OnnxOpset[];
  attributeProto: OnnxAttribute[];
}
export interface OnnxModel {
  irVersion: number;
  producerName: string;
  producerVersion: string;
  graph?: OnnxGraph;
  opsetImport: OnnxOpset[];
  trainingInfo: { initialization?: OnnxGraph; algorithm?: OnnxGraph }[];
  functions: OnnxFunction[];
}

/** Decodes ONNX bytes into plain objects. Throws on malformed protobuf. */
export function decodeOnnxModel(bytes: Uint8Array): OnnxModel {
  const message = modelType.decode(bytes);
  // `longs: Number` turns int64 into JS numbers; dims beyond 2^53 lose precision, which is harmless
  // because anything that large is refused by the size checks anyway.
  return modelType.toObject(message, { longs: Number, arrays: true, defaults: false }) as OnnxModel;
}
