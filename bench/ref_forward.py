#!/usr/bin/python3
"""Forward-only (no gradient) time of ../shared/bench/ref_tinyllava_train.py's model, which the
reference itself only times in training steps. Loads the reference module unchanged and times
model(img, ids) (the loss at the text positions) under torch.no_grad().

Usage: /usr/bin/python3 bench/ref_forward.py --threads 1 --blas-threads 2 --batch 16 --text-len 32 --steps 20 --warmup 3
(the same flags as the reference; it reads them, and sets the threads, at import)."""
import importlib.util
import json
import os
import sys
import time

here = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location(
    "ref_tinyllava_train", os.path.join(here, "..", "..", "shared", "bench", "ref_tinyllava_train.py"))
ref = importlib.util.module_from_spec(spec)
spec.loader.exec_module(ref)  # parses sys.argv and fixes the thread settings before torch loads
torch = ref.torch
a = ref.ARGS
torch.manual_seed(a.seed)
torch.set_num_threads(a.threads)
model = ref.TinyLlava(a.text_len).eval()
img = torch.randn(a.batch, 3, ref.IMG, ref.IMG)
ids = torch.randint(0, ref.VOCAB, (a.batch, a.text_len))
times = []
with torch.no_grad():
    for i in range(a.warmup + a.steps):
        t = time.perf_counter()
        model(img, ids).item()
        if i >= a.warmup:
            times.append(time.perf_counter() - t)
times.sort()
median = times[len(times) // 2]
print(json.dumps({"forward_s_median": round(median, 4), "forward_samples_per_s": round(a.batch / median, 2),
                  "openblas_core": ref.openblas_core()}))
sys.exit(0)
