"""Benchmark of the limit module: the full scan (all models, 50 masses, expected bands).

    python benchmarks/bench_limits.py [--method auto] [--toys 2000]

For every published input file (na64reco/limits/published) and every model it has efficiency
tables for, runs ``na64reco.limits.scan.scan`` over the default 50-mass grid with expected bands
(and observed limits: the published inputs are unblinded), with the common signal-yield
uncertainty of the file's provenance. Prints the time per (file, model) and the total; target
(issue): the full scan in under 2 minutes, N_up cached per configuration. Always exits 0.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from na64reco.limit_inputs import load_limit_inputs
from na64reco.limits import scan as sc


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--method", default="auto")
    ap.add_argument("--toys", type=int, default=2000)
    args = ap.parse_args()
    folder = Path(sc.__file__).parent / "published"
    t_all = time.perf_counter()
    models_done = set()
    for path in sorted(folder.glob("*.json")):
        inputs = load_limit_inputs(path)
        unc = float(inputs.provenance.get("signal_yield_rel_unc", 0.0))
        for model in sorted(inputs.models()):
            t0 = time.perf_counter()
            res = sc.scan(inputs, model, method=args.method, ntoys=args.toys, signal_corr_unc=unc)
            dt = time.perf_counter() - t0
            models_done.add(model)
            med = res["coupling"]["expected"]["median"]
            print(
                f"{path.stem:9s} {model:13s} {len(res['masses_gev'])} masses "
                f"{dt:6.2f} s  method={res['method']}  N_up(obs)={res['n_up']['observed'][0]:.3f}"
                f"  median coupling {med[0]:.3g} .. {med[-1]:.3g}"
            )
    total = time.perf_counter() - t_all
    print(
        f"total: {total:.1f} s for {len(models_done)} models "
        f"({'under' if total < 120 else 'OVER'} the 2-minute target)"
    )


if __name__ == "__main__":
    main()
