#!/usr/bin/python3
"""Charts from ovserve-bench results files (--out JSON).

    plot_results.py RESULTS.json [MORE.json ...] --out-dir DIR [--x auto|rate|concurrency]
    plot_results.py RESULTS.json [...] --summary          # a Markdown table, no matplotlib needed

Each file is one series (named by its --label, else the file name); each run in it is
one point. The x axis is the request rate when the runs have finite rates, else the
max concurrency (closed-loop sweeps). Writes, as PNG:

    throughput.png   request throughput and output tokens/s vs x
    ttft.png         TTFT mean, median, p90, p99 vs x
    tpot.png         TPOT mean, median, p90, p99 vs x
    itl_e2e.png      ITL and end-to-end latency mean / p99 vs x

Uses Debian's matplotlib (`apt-get install python3-matplotlib`, for /usr/bin/python3).
"""

import argparse
import json
import math
import os
import sys


def load(paths):
    series = []
    for path in paths:
        with open(path, encoding="utf-8") as f:
            results = json.load(f)
        if results.get("tool") != "ovserve-bench":
            sys.exit(f"{path}: not an ovserve-bench results file")
        name = results.get("label") or os.path.splitext(os.path.basename(path))[0]
        series.append((name, results))
    return series


def rate_value(run):
    rate = run.get("request_rate")
    return math.inf if rate in (None, "inf") else float(rate)


def pick_axis(series, choice):
    if choice != "auto":
        return choice
    runs = [run for _, results in series for run in results["runs"]]
    if runs and all(math.isfinite(rate_value(run)) for run in runs):
        return "rate"
    return "concurrency"


def x_value(run, axis, index):
    if axis == "rate":
        value = rate_value(run)
        return value if math.isfinite(value) else None
    concurrency = run.get("max_concurrency")
    return float(concurrency) if concurrency else None


def fmt(value, digits=1):
    if value is None:
        return "-"
    if isinstance(value, float) and not math.isfinite(value):
        return "-"
    return f"{value:.{digits}f}"


def summary(series):
    header = ("| series | workload | rate (req/s) | concurrency | ok | failed | req/s | out tok/s "
              "| TTFT mean (ms) | TTFT p99 (ms) | TPOT mean (ms) | TPOT p99 (ms) | E2E mean (ms) |")
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    for name, results in series:
        workload = results.get("config", {}).get("workload", "?")
        for run in results["runs"]:
            rate = run.get("request_rate")
            print(f"| {name} | {workload} | {rate} | {run.get('max_concurrency') or '-'} "
                  f"| {run['completed']} | {run['failed']} "
                  f"| {fmt(run.get('request_throughput'), 3)} | {fmt(run.get('output_throughput'), 2)} "
                  f"| {fmt(run.get('mean_ttft_ms'))} | {fmt(run.get('p99_ttft_ms'))} "
                  f"| {fmt(run.get('mean_tpot_ms'))} | {fmt(run.get('p99_tpot_ms'))} "
                  f"| {fmt(run.get('mean_e2el_ms'))} |")


def points(results, axis, key):
    xs, ys = [], []
    for index, run in enumerate(results["runs"]):
        x = x_value(run, axis, index)
        y = run.get(key)
        if x is None or y is None:
            continue
        xs.append(x)
        ys.append(y)
    order = sorted(range(len(xs)), key=lambda i: xs[i])
    return [xs[i] for i in order], [ys[i] for i in order]


def plot(series, axis, out_dir):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        sys.exit("matplotlib is missing: apt-get install python3-matplotlib "
                 "(or use --summary for a table)")
    os.makedirs(out_dir, exist_ok=True)
    xlabel = "request rate (req/s)" if axis == "rate" else "max concurrency (closed loop)"
    log_x = axis == "concurrency"

    def figure(panels, filename, title):
        fig, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 4.5), squeeze=False)
        for ax, (ylabel, keys) in zip(axes[0], panels):
            for name, results in series:
                for key, style in keys:
                    xs, ys = points(results, axis, key)
                    if xs:
                        ax.plot(xs, ys, style, marker="o",
                                label=f"{name} {key.split('_')[0]}" if len(keys) > 1 else name)
            ax.set_xlabel(xlabel)
            ax.set_ylabel(ylabel)
            if log_x:
                ax.set_xscale("log", base=2)
            ax.grid(True, alpha=0.3)
            ax.legend(fontsize=8)
        fig.suptitle(title)
        fig.tight_layout()
        path = os.path.join(out_dir, filename)
        fig.savefig(path, dpi=120)
        plt.close(fig)
        print(path)

    percentiles = [("mean", "-"), ("median", "--"), ("p90", "-."), ("p99", ":")]
    figure([("requests/s", [("request_throughput", "-")]),
            ("output tokens/s", [("output_throughput", "-")])],
           "throughput.png", "Throughput")
    figure([("TTFT (ms)", [(f"{p}_ttft_ms", s) for p, s in percentiles])],
           "ttft.png", "Time to first token")
    figure([("TPOT (ms)", [(f"{p}_tpot_ms", s) for p, s in percentiles])],
           "tpot.png", "Time per output token")
    figure([("ITL (ms)", [("mean_itl_ms", "-"), ("p99_itl_ms", ":")]),
            ("E2E latency (ms)", [("mean_e2el_ms", "-"), ("p99_e2el_ms", ":")])],
           "itl_e2e.png", "Inter-token and end-to-end latency")


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("results", nargs="+", help="ovserve-bench --out files")
    parser.add_argument("--out-dir", default=".", help="where the PNG files go")
    parser.add_argument("--x", choices=["auto", "rate", "concurrency"], default="auto")
    parser.add_argument("--summary", action="store_true",
                        help="print a Markdown table of every run instead of plotting")
    args = parser.parse_args()
    series = load(args.results)
    if args.summary:
        summary(series)
        return
    plot(series, pick_axis(series, args.x), args.out_dir)


if __name__ == "__main__":
    main()
