#!/usr/bin/python3
"""Draws the report's charts from summary.json (written by run.py).

OUT_PNG: for each workload, each implementation's time relative to spindle
(median ratio over the rounds, bar = 25th-75th percentile), log scale;
spindle is the line at 1.

SCALE_PNG (optional): for each scaled workload family (contended lock, MPMC
queue, tiny tasks, fan-out), the median time per operation (log y) against
the thread/pair/worker count (log2 x), one line per implementation.

    plot.py SUMMARY_JSON OUT_PNG [SCALE_PNG]
"""
import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator  # noqa: E402

STYLE = {  # colour, marker
    "std": ("#1f77b4", "o"),
    "std::async": ("#6baed6", "o"),
    "boost": ("#2ca02c", "s"),
    "tbb": ("#17becf", "D"),
    "tbb_spin": ("#0b6f7a", "d"),
    "absl": ("#9467bd", "^"),
    "poco": ("#8c564b", "v"),
    "moodycamel": ("#e377c2", "P"),
    "asio": ("#bcbd22", "X"),
    "python": ("#d62728", "*"),
    "floor": ("#444444", "|"),
}
FLOOR_OF = {
    "lock_uncontended": "floor_atomic",
    "event_pingpong": "floor_futex",
    "semaphore_handoff": "floor_futex",
    "queue_pingpong": "floor_futex",
    "pool_latency": "floor_futex",
    "thread_start_join": "floor_pthread",
}


def plot_scale(data, path):
    """One panel per scaled family: ns/op against the count, log-log."""
    scaled = data.get("scaled", {})
    cases = [c for c in data["cases"] if c.get("count")]
    fams = [w for w in scaled if any(c["workload"] == w for c in cases)]
    if not fams:
        return
    ncol = 2 if len(fams) > 1 else 1
    nrow = (len(fams) + ncol - 1) // ncol
    fig, axes = plt.subplots(nrow, ncol, figsize=(6.2 * ncol, 4.4 * nrow), squeeze=False)
    order = data["impl_order"]
    for k, w in enumerate(fams):
        ax = axes[k // ncol][k % ncol]
        rows = sorted((c for c in cases if c["workload"] == w), key=lambda c: c["count"])
        counts = [c["count"] for c in rows]
        for impl in order:
            pts = [(c["count"], c["impls"][impl]["ns_median"]) for c in rows
                   if "ns_median" in c["impls"].get(impl, {})]
            if not pts:
                continue
            color, marker = ("#000000", "o") if impl == "spindle" else STYLE.get(impl, ("#7f7f7f", "o"))
            ax.plot([x for x, _ in pts], [y for _, y in pts], marker=marker, color=color,
                    linewidth=2.6 if impl == "spindle" else 1.3, markersize=6, label=impl,
                    linestyle="--" if impl == "python" else "-",  # Python: some counts only
                    zorder=3 if impl == "spindle" else 2)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.xaxis.set_major_locator(FixedLocator(counts))
        ax.xaxis.set_minor_locator(NullLocator())
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: fmt_ns(v)))
        ax.grid(color="#dddddd", linewidth=0.6, which="both")
        ax.set_title(w, fontsize=10, fontweight="bold")
        ax.set_xlabel(scaled[w])
        ax.set_ylabel("median time per operation")
        ax.legend(fontsize=8, frameon=False, loc="best")
    for k in range(len(fams), nrow * ncol):
        axes[k // ncol][k % ncol].axis("off")
    info = data.get("info", {})
    fig.suptitle(f"Time per operation against the count (log scales), median of "
                 f"{data.get('rounds')} rounds; {info.get('cpu', '')}, {info.get('cores', '?')} "
                 "cores" + ("  (quick mode: sizes too small to read)" if data.get("quick") else ""),
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def fmt_ns(ns):
    if ns >= 1e9:
        return f"{ns / 1e9:g} s"
    if ns >= 1e6:
        return f"{ns / 1e6:g} ms"
    if ns >= 1e3:
        return f"{ns / 1e3:g} µs"
    return f"{ns:g} ns"


def main():
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__)
    with open(sys.argv[1]) as f:
        data = json.load(f)
    if len(sys.argv) == 4:
        plot_scale(data, sys.argv[3])
    cases = data["cases"]
    floors = {c["case"]: c["impls"].get("floor", {}).get("ns_median") for c in cases
              if c["case"].startswith("floor")}
    rows = [c for c in cases if not c["case"].startswith("floor")
            and "ns_median" in c["impls"].get("spindle", {})]
    order = [i for i in data["impl_order"] if i != "spindle"] + ["floor"]
    present = [i for i in order if any(i in c["impls"] for c in rows) or i == "floor"]
    step = 0.8 / max(1, len(present))

    fig, ax = plt.subplots(figsize=(11, 0.5 * len(rows) + 2.2))
    lo, hi = 1.0, 1.0
    seen = set()
    for y, c in enumerate(rows):
        spindle_ns = c["impls"]["spindle"]["ns_median"]
        for k, impl in enumerate(present):
            yy = y - 0.4 + step * (k + 0.5)
            color, marker = STYLE.get(impl, ("#7f7f7f", "o"))
            if impl == "floor":
                fns = floors.get(FLOOR_OF.get(c["workload"], ""))
                if not fns:
                    continue
                r = fns / spindle_ns
                ax.plot([r], [y], marker="|", color=color, markersize=16, markeredgewidth=2.5,
                        linestyle="none", label="floor (same run)" if "floor" not in seen else None)
                seen.add("floor")
                lo, hi = min(lo, r), max(hi, r)
                continue
            e = c["impls"].get(impl)
            if not e or "ratio_median" not in e:
                continue
            r, p25, p75 = e["ratio_median"], e["ratio_p25"], e["ratio_p75"]
            ax.errorbar([r], [yy], xerr=[[r - p25], [p75 - r]], fmt=marker, color=color,
                        markersize=7 if marker != "*" else 10, capsize=2, elinewidth=1,
                        label=impl if impl not in seen else None)
            seen.add(impl)
            lo, hi = min(lo, p25), max(hi, p75)
    ax.axvline(1.0, color="black", linewidth=1.5)
    ax.text(1.0, -0.9, " spindle", va="center", ha="left", fontsize=9, fontweight="bold")
    for y in range(len(rows)):
        if y % 2 == 0:
            ax.axhspan(y - 0.5, y + 0.5, color="#f2f2f2", zorder=0)
    ax.set_xscale("log")
    ax.set_xlim(lo / 1.6, hi * 1.6)
    wide = hi / lo > 300
    ticks = [t for t in ((0.001, 0.01, 0.1, 0.3, 1, 3, 10, 100, 1000, 10000) if wide else
                         (0.01, 0.03, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100, 300, 1000))
             if lo / 1.6 <= t <= hi * 1.6]
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}×"))
    ax.grid(axis="x", color="#cccccc", linewidth=0.6)
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels([c["case"] for c in rows])
    ax.set_ylim(len(rows) - 0.5, -1.3)
    ax.set_xlabel("time relative to spindle (log scale)   ←  peer faster   |   spindle faster  →")
    info = data.get("info", {})
    ax.set_title(f"spindle vs peers and Python: median of {data.get('rounds')} rounds, "
                 f"bars 25–75%\n{info.get('cpu', '')}, {info.get('cores', '?')} cores"
                 + ("  (quick mode: sizes too small to read)" if data.get("quick") else ""),
                 fontsize=10)
    handles, labels = ax.get_legend_handles_labels()
    rank = {name: k for k, name in enumerate(order)}
    pairs = sorted(zip(handles, labels), key=lambda hl: rank.get(hl[1].split(" ")[0], 99))
    ax.legend([h for h, _ in pairs], [l for _, l in pairs], loc="upper left",
              bbox_to_anchor=(1.01, 1.0), frameon=False, numpoints=1)
    fig.tight_layout()
    fig.savefig(sys.argv[2], dpi=110)


if __name__ == "__main__":
    main()
