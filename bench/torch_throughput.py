#!/usr/bin/python3
"""PyTorch's inference speed on this machine, for the comparison table in BENCHMARKS.md
("Feature extraction on onnxruntime"). Never a product dependency: Debian's python3-torch and
python3-torchvision (apt), run with /usr/bin/python3.

    nice -n 10 /usr/bin/python3 bench/torch_throughput.py [--export DIR] [--repeat 2] [--rounds 3]

torchvision's MobileNetV2 (224x224) and InceptionV3 (299x299, no auxiliary head), random weights
(seed 0; speed does not depend on them), eval mode, torch.no_grad, batches of 8 zeros, with 1 and
2 intra-op threads (torch.set_num_threads), best of --repeat runs of --rounds batches after one
warm-up batch. Prints a Markdown table: images/s (wall) and CPU seconds per image of the process.

With --export DIR, also writes the same two networks as DIR/mobilenet_v2.onnx and
DIR/inception_v3.onnx (torch.onnx.export, opset 13, batch dimension dynamic), which
`node --import tsx bench/onnx.ts --models DIR/mobilenet_v2.onnx,DIR/inception_v3.onnx` times on
onnxruntime. `--only NAME --json` times one network and prints its rates as one JSON line:
bench/onnx.ts --torch calls it that way between its own runs, so that both are measured under the
same load.
"""
import json
import argparse
import os
import platform
import time

import torch
import torchvision

NETS = [('mobilenet_v2', 224, {}), ('inception_v3', 299, {'aux_logits': False, 'init_weights': True})]


def rate(model, x, rounds):
    with torch.no_grad():
        model(x)
        c0, t0 = time.process_time(), time.perf_counter()
        for _ in range(rounds):
            model(x)
        return x.shape[0] * rounds, time.perf_counter() - t0, time.process_time() - c0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--export')
    ap.add_argument('--repeat', type=int, default=2)
    ap.add_argument('--rounds', type=int, default=3)
    ap.add_argument('--only')
    ap.add_argument('--json', action='store_true')
    a = ap.parse_args()
    torch.manual_seed(0)
    rows = []
    for name, size, kw in NETS:
        if a.only and name != a.only:
            continue
        model = getattr(torchvision.models, name)(**kw).eval()
        x = torch.zeros(8, 3, size, size)
        if a.export:
            os.makedirs(a.export, exist_ok=True)
            torch.onnx.export(model, x[:1], os.path.join(a.export, f'{name}.onnx'), input_names=['image'], output_names=['logits'],
                              opset_version=13, dynamic_axes={'image': {0: 'N'}, 'logits': {0: 'N'}})
        best = {}
        for _ in range(a.repeat):
            for threads in (1, 2):
                torch.set_num_threads(threads)
                n, wall, cpu = rate(model, x, a.rounds)
                if not a.json:
                    print(f'{name}: {threads} thread(s): {n / wall:.2f} img/s, {cpu / n:.4f} CPU s/img', flush=True)
                if threads not in best or n / wall > best[threads][0]:
                    best[threads] = (n / wall, cpu / n)
        if a.json:
            print(json.dumps({'name': name, 'torch': torch.__version__, 'rates': {t: {'ips': r, 'cpu': c} for t, (r, c) in best.items()}}))
            continue
        for threads in (1, 2):
            r, c = best[threads]
            rows.append(f'| {name} | {size}×{size} | PyTorch {torch.__version__}, {threads} thread{"s" if threads > 1 else ""} | {r:.1f} | {c:.4f} |')
    if a.json:
        return
    print(f'\nMachine: {os.cpu_count()} cores, {platform.processor() or platform.machine()}, torch {torch.__version__}, '
          f'torchvision {torchvision.__version__}; {time.strftime("%Y-%m-%d %H:%M", time.gmtime())} UTC; '
          f'1-minute load average {os.getloadavg()[0]:.1f}; best of {a.repeat}.\n')
    print('| network | input | runtime (batch 8, zeros) | img/s | CPU s / image |')
    print('|---|---|---|---|---|')
    print('\n'.join(rows))


if __name__ == '__main__':
    main()
