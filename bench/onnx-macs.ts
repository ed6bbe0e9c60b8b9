/**
 * Multiply-adds per image of an ONNX graph (its Conv, Gemm and MatMul nodes with weight
 * initializers), counted from the graph itself: the numerator of the "GFLOP/s" that bench/onnx.ts
 * prints and of the arithmetic ceiling of BENCHMARKS.md "Issue 16: the arithmetic ceiling".
 * Each node costs (output elements per image) × (weight elements per output channel); shapes are
 * taken from one run on a blank image at the input's size. Also prints the share in spatial
 * kernels (kh·kw > 1), the part a Winograd-style convolution could do with fewer multiplications.
 *
 *   node --import tsx bench/onnx-macs.ts [inception_v3] [mobilenet_v2] [a.onnx …]
 *
 * Bundled names are converted in memory by protolens's converter (`convertedSpec`), as `extract
 * --runtime onnx` does; files are read as given.
 */
import { readOnnx, type OnnxModel } from '../src/features/onnx-graph.ts';
import { graphLayers, imageInput } from '../src/features/onnx-backbone.ts';
import { nodeRuntime, readOnnxFile } from '../src/features/onnx.node.ts';
import { convertedSpec, isBuiltin } from '../src/features/load.node.ts';
import { convertedBytes } from '../src/features/converted.node.ts';

/** Total and spatial-kernel multiply-adds per image of a model with a fixed-size image input. */
async function macs(m: OnnxModel, where: string): Promise<{ total: number; spatial: number; nodes: number }> {
  const input = imageInput(m, where);
  if (!input.size) throw new RangeError(`${where}: the input size is not fixed`);
  const layers = await graphLayers(nodeRuntime, m, { input, size: input.size });
  const shape = new Map(layers.map((l) => [l.name, l.shape]));
  let total = 0, spatial = 0, nodes = 0;
  for (const n of m.nodes) {
    if (!['Conv', 'Gemm', 'MatMul'].includes(n.opType)) continue;
    const w = m.initializers.get(n.inputs[1]);
    const s = shape.get(n.outputs[0]);
    if (!w || !s || s.some((d) => typeof d !== 'number')) throw new RangeError(`${where}: ${n.opType} ${n.name}: no weight or no concrete output shape`);
    // Conv weight [Cout, Cin/groups, kh, kw]; Gemm/MatMul [in, out]: per output element, the weight
    // elements feeding it.
    const perOutput = n.opType === 'Conv' ? w.dims.slice(1).reduce((a, b) => a * b, 1) : w.dims[0];
    const c = (s as number[]).slice(1).reduce((a, b) => a * b, 1) * perOutput;
    total += c;
    nodes++;
    if (n.opType === 'Conv' && w.dims[2] * w.dims[3] > 1) spatial += c;
  }
  return { total, spatial, nodes };
}

for (const name of process.argv.slice(2).length ? process.argv.slice(2) : ['mobilenet_v2', 'inception_v3']) {
  const bytes = isBuiltin(name) ? convertedBytes(convertedSpec(name, {})).bytes : readOnnxFile(name).bytes;
  const r = await macs(readOnnx(bytes, name), name);
  console.log(`${name}: ${r.nodes} Conv/Gemm/MatMul nodes, ${(r.total / 1e9).toFixed(3)} G multiply-adds per image (${(2 * r.total / 1e9).toFixed(2)} GFLOP); spatial kernels ${(r.spatial / 1e9).toFixed(3)} G (${(100 * r.spatial / r.total).toFixed(0)} %)`);
}
