#!/usr/bin/python3
"""Runs the benchmark report: every workload, every implementation, in rounds.

For each workload the implementations run in turn (A B C ... A B C ...), each
in its own process (the C++ harness spindle_report, or a bench/python script)
under a watchdog timeout. A round's ratio is an implementation's time divided
by spindle's time in the same round; the report gives the median ratio over
the rounds and its spread (25th-75th percentile), so load that comes and goes
on a shared machine largely cancels out.

Writes OUT/results.jsonl (every run), OUT/summary.json and OUT/benchmarks.md.
Exit status: 0 ok; 1 a run failed (quick mode: any run; full mode: a
spindle run, or any wrong result); 2 bad usage.
"""
import argparse
import datetime
import glob
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
PY_DIR = os.path.join(ROOT, "bench", "python")

# Column order of the report; "floor" is kept apart.
IMPL_ORDER = ["spindle", "std", "std::async", "boost", "tbb", "tbb_spin", "absl", "poco",
              "moodycamel", "asio", "python"]

# The workloads measured at several thread counts (the scaling chart and table):
# family -> what the count is.
SCALED = {
    "lock_contended": "threads",
    "queue_mpmc": "producer/consumer pairs",
    "tiny_tasks": "pool workers",
    "fanout": "pool workers",
}

# What one operation is, per workload (shown under the tables).
OP_MEANING = {
    "lock_uncontended": "one acquire + release on one thread",
    "lock_contended": "one acquire + increment + release, all threads together",
    "event_pingpong": "one round trip: set the other thread's event, wait for yours",
    "semaphore_handoff": "one round trip: two hand-offs of a permit between two threads",
    "barrier": "one cycle in which every party passes the barrier",
    "thread_start_join": "create + start + join one thread",
    "queue_mpmc": "one item through the queue (put + get), all producers and consumers together",
    "queue_pingpong": "one round trip of an item over two queues",
    "pool_latency": "submit one task to a warm pool and wait for its result",
    "tiny_tasks": "one tiny task of n, submitted then all awaited",
    "fanout": "one leaf of a recursive parallel sum of [0, n): a task for a range wider than "
              "the grain submits a task for its left half, sums the right half itself "
              "(recursively), then waits for the left task's result and adds it",
    "seed001_cpu": "the whole program: two threads each summing i*i for i < n",
    "seed001_io": "the whole program: five threads each sleeping (a simulated fetch)",
    "seed004_counter": "the whole program: five threads each adding 1000 under a lock "
                       "(run 20 times per measurement)",
    "floor_atomic": "an atomic exchange (acquire) + store (release) pair",
    "floor_cacheline": "a cache line bounced to the other core and back (spinning)",
    "floor_futex": "a raw FUTEX_WAKE / FUTEX_WAIT round trip between two threads",
    "floor_pthread": "pthread_create + pthread_join",
}

# Which floor bounds which workload (shown beside it).
FLOOR_OF = {
    "lock_uncontended": "floor_atomic",
    "event_pingpong": "floor_futex",
    "semaphore_handoff": "floor_futex",
    "queue_pingpong": "floor_futex",
    "pool_latency": "floor_futex",
    "thread_start_join": "floor_pthread",
}


def build_cases(a):
    """The list of cases: name, workload, parameters (C++ and Python), and for
    the scaled workloads the count (threads, pairs or workers)."""
    cases = []

    def add(name, workload, full, quick, py_n=None, warmup=1, slow=(), count=None, skip=()):
        """py_n: Python's (smaller) count; slow: C++ impls that also get it.
        Times are per operation, so a smaller count only shortens the run.
        count: the thread/pair/worker count of a scaled workload; Python runs
        it only if the count is in --python-counts. skip: impls left out."""
        p = dict(quick if a.quick else full)
        py = dict(p)
        if py_n is not None and not a.quick:
            py["n"] = py_n
        cases.append({"name": name, "workload": workload, "params": p, "py_params": py,
                      "warmup": warmup, "slow": list(slow), "count": count, "skip": list(skip),
                      "python": count is None or count in a.python_counts})

    s = a.scale
    add("lock_uncontended", "lock_uncontended", {"n": 2_000_000 * s}, {"n": 20_000}, 200_000 * s)
    for t in a.threads:
        add(f"lock_contended_{t}", "lock_contended", {"n": 400_000 * s, "threads": t},
            {"n": 4_000, "threads": t}, 100_000 * s, count=t)
    add("event_pingpong", "event_pingpong", {"n": 10_000 * s}, {"n": 500}, 5_000 * s)
    add("semaphore_handoff", "semaphore_handoff", {"n": 10_000 * s}, {"n": 500}, 5_000 * s,
        slow=["std"])
    for p in a.parties:
        add(f"barrier_{p}", "barrier", {"n": 2_000 * s, "threads": p}, {"n": 200, "threads": p},
            1_000 * s, slow=["std"])
    add("thread_start_join", "thread_start_join", {"n": 2_000 * s}, {"n": 50}, 1_000 * s)
    for k in a.pairs:
        # std's and tbb's queues take microseconds per item once threads far
        # outnumber cores: they get Python's count there.
        add(f"queue_{k}p{k}c", "queue_mpmc", {"n": 200_000 * s, "threads": k},
            {"n": 2_000, "threads": k}, 50_000 * s, count=k,
            slow=["std", "tbb"] if k >= 16 else [])
    add("queue_pingpong", "queue_pingpong", {"n": 10_000 * s}, {"n": 500}, 5_000 * s)
    add("pool_latency", "pool_latency", {"n": 10_000 * s, "workers": a.latency_workers},
        {"n": 500, "workers": a.latency_workers}, 5_000 * s, slow=["std::async"])
    for k, w in enumerate(a.workers):
        # std::async has no pool (a thread per task): measured at the first count only.
        add(f"tiny_tasks_{w}", "tiny_tasks", {"n": 100_000 * s, "workers": w},
            {"n": 1_000, "workers": w}, 20_000 * s, slow=["std::async"], count=w,
            skip=["std::async"] if k > 0 else [])
    for w in a.fanout_workers:
        add(f"fanout_{w}", "fanout", {"n": a.fanout_leaves * a.grain * s, "grain": a.grain,
                                      "workers": w},
            {"n": 8 * a.grain, "grain": a.grain, "workers": w}, count=w)
    add("seed001_cpu", "seed001_cpu", {"n": 10_000_000}, {"n": 100_000}, warmup=0)
    add("seed001_io", "seed001_io", {"ms": a.io_ms}, {"ms": 5}, warmup=0)
    add("seed004_counter", "seed004_counter", {"n": 20}, {"n": 2})
    add("floor_atomic", "floor_atomic", {"n": 2_000_000 * s}, {"n": 20_000})
    add("floor_cacheline", "floor_cacheline", {"n": 5_000 * s}, {"n": 1_000})
    add("floor_futex", "floor_futex", {"n": 20_000 * s}, {"n": 500})
    add("floor_pthread", "floor_pthread", {"n": 2_000 * s}, {"n": 50})
    return cases


def args_of(params, warmup):
    out = []
    for k, v in params.items():
        out += [f"--{k}", str(v)]
    return out + ["--warmup", str(warmup)]


def run_one(a, case, impl):
    """Runs one case with one implementation; returns a result record."""
    if impl == "python":
        cmd = [a.python, os.path.join(PY_DIR, case["workload"] + ".py")]
        cmd += args_of(case["py_params"], case["warmup"])
    else:
        params = case["py_params"] if impl in case["slow"] else case["params"]
        cmd = [a.harness, case["workload"], impl] + args_of(params, case["warmup"])
    rec = {"case": case["name"], "workload": case["workload"], "impl": impl}
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=a.timeout,
                              cwd=PY_DIR if impl == "python" else None)
    except subprocess.TimeoutExpired:
        rec.update(ok=False, error=f"hang: no result within {a.timeout:g} s (watchdog)")
        return rec
    if proc.returncode != 0:
        msg = (proc.stderr.strip().splitlines() or [f"exit status {proc.returncode}"])[-1]
        rec.update(ok=False, error=msg, wrong="WRONG RESULT" in proc.stderr)
        return rec
    try:
        line = [l for l in proc.stdout.splitlines() if l.startswith("{")][-1]
        data = json.loads(line)
        ns = float(data["ns_per_op"])
        if not (ns > 0 and ns < 1e12):
            raise ValueError(f"implausible time {ns}")
    except (IndexError, ValueError, KeyError) as e:
        rec.update(ok=False, error=f"unreadable result: {e}")
        return rec
    rec.update(ok=True, ns_per_op=ns, seconds=data["seconds"], ops=data["ops"])
    return rec


def percentile(xs, q):
    xs = sorted(xs)
    if len(xs) == 1:
        return xs[0]
    pos = (len(xs) - 1) * q
    lo = int(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def summarize(cases, records, impls_of):
    """Per case and implementation: median ns/op, median ratio to spindle and
    its 25-75% spread, failures."""
    summary = []
    for case in cases:
        name = case["name"]
        recs = [r for r in records if r["case"] == name]
        rounds = {}
        for r in recs:
            rounds.setdefault(r["round"], {})[r["impl"]] = r
        entry = {"case": name, "workload": case["workload"], "count": case["count"],
                 "impls": {}}
        for impl in impls_of[name]:
            mine = [r for r in recs if r["impl"] == impl]
            good = [r["ns_per_op"] for r in mine if r["ok"]]
            fails = [r["error"] for r in mine if not r["ok"]]
            ratios = []
            for rd in rounds.values():
                x, base = rd.get(impl), rd.get("spindle")
                if x and base and x["ok"] and base["ok"]:
                    ratios.append(x["ns_per_op"] / base["ns_per_op"])
            e = {"runs": len(mine), "failures": fails}
            if good:
                e["ns_median"] = statistics.median(good)
            if ratios and impl != "spindle":
                e["ratio_median"] = statistics.median(ratios)
                e["ratio_p25"] = percentile(ratios, 0.25)
                e["ratio_p75"] = percentile(ratios, 0.75)
            entry["impls"][impl] = e
        summary.append(entry)
    return summary


def fmt_ns(ns):
    if ns >= 1e9:
        return f"{ns / 1e9:.2f} s"
    if ns >= 1e6:
        return f"{ns / 1e6:.1f} ms"
    if ns >= 1e3:
        return f"{ns / 1e3:.1f} µs"
    return f"{ns:.1f} ns"


def fmt_ratio(r):
    return f"{r:.0f}×" if r >= 100 else f"{r:.1f}×" if r >= 10 else f"{r:.2f}×"


def geomean(xs):
    import math
    return math.exp(sum(math.log(x) for x in xs) / len(xs)) if xs else None


def machine_info(a):
    info = {}
    try:
        with open("/proc/cpuinfo") as f:
            m = re.search(r"model name\s*:\s*(.*)", f.read())
            info["cpu"] = m.group(1).strip() if m else platform.processor()
    except OSError:
        info["cpu"] = platform.processor()
    info["cores"] = os.cpu_count()
    info["kernel"] = platform.release()
    try:
        info["glibc"] = platform.libc_ver()[1]
    except Exception:  # noqa: BLE001 - informational only
        info["glibc"] = "?"
    try:
        out = subprocess.run([a.python, "--version"], capture_output=True, text=True).stdout
        info["python"] = out.strip()
    except OSError:
        info["python"] = "?"
    try:
        out = subprocess.run(["c++", "--version"], capture_output=True, text=True).stdout
        info["compiler"] = out.splitlines()[0]
    except (OSError, IndexError):
        info["compiler"] = "?"
    try:
        info["load"] = "%.2f %.2f %.2f" % os.getloadavg()
    except OSError:
        info["load"] = "?"
    return info


def by_count(summary, workload):
    """{count: summary entry} for a scaled workload."""
    return {e["count"]: e for e in summary if e["workload"] == workload and e["count"]}


def ns_of(entry, impl):
    x = entry["impls"].get(impl) if entry else None
    return x.get("ns_median") if x else None


def ratio_of(entry, impl):
    """impl's time / spindle's (median over the rounds; above 1 spindle is faster)."""
    x = entry["impls"].get(impl) if entry else None
    return x.get("ratio_median") if x else None


def verdict(points):
    """points: [(label, ok or None when not measured, text)] -> one status."""
    if any(ok is False for _, ok, _ in points):
        return "not met"
    if not points or any(ok is None for _, ok, _ in points):
        return "not measured"
    return "met"


def spindle_failed(entry):
    """The first error of spindle's runs if none of them succeeded, else None."""
    x = entry["impls"].get("spindle") if entry else None
    if x and "ns_median" not in x and x["failures"]:
        return x["failures"][0]
    return None


def compare_points(summary, workload, counts, peer, unit):
    """spindle <= peer at each count, by the median same-round ratio."""
    rows = by_count(summary, workload)
    points = []
    for c in counts:
        e = rows.get(c)
        r, sp, pn = ratio_of(e, peer), ns_of(e, "spindle"), ns_of(e, peer)
        if spindle_failed(e):
            points.append((f"{c} {unit}", False, f"{c} {unit}: spindle failed ({spindle_failed(e)})"))
        elif r is None or sp is None or pn is None:
            points.append((f"{c} {unit}", None, f"{c} {unit}: not measured"))
        else:
            points.append((f"{c} {unit}", r >= 1.0,
                           f"{c} {unit}: spindle {fmt_ns(sp)}, {peer} {fmt_ns(pn)} "
                           f"({peer}/spindle {fmt_ratio(r)})"))
    return points


def goals(summary):
    """The goals, judged on this run's own numbers: [(title, status, details)]."""
    out = []
    pts = compare_points(summary, "tiny_tasks", [2, 4, 32], "tbb", "workers")
    out.append(("tiny_tasks: spindle <= tbb at 2, 4 and 32 workers", verdict(pts), pts))
    fan = sorted(by_count(summary, "fanout"))
    pts = compare_points(summary, "fanout", fan, "tbb", "workers")
    out.append(("fanout: spindle <= tbb at every measured worker count", verdict(pts), pts))
    q = by_count(summary, "queue_mpmc")
    base = ns_of(q.get(1), "spindle")
    pts = []
    for k in sorted(c for c in q if 1 < c <= 32):
        sp = ns_of(q[k], "spindle")
        if spindle_failed(q[k]):
            pts.append((k, False, f"{k} pairs: spindle failed ({spindle_failed(q[k])})"))
        elif base is None or sp is None:
            pts.append((k, None, f"{k} pairs: not measured"))
        else:
            pts.append((k, sp <= 1.3 * base,
                        f"{k} pairs: {fmt_ns(sp)} = {sp / base:.2f}× the 1-pair {fmt_ns(base)}"))
    if base is None:
        pts.insert(0, (1, None, "1 pair: not measured"))
    for peer in ("boost", "absl", "moodycamel"):
        for k in (16, 32):
            e = q.get(k)
            r, sp, pn = ratio_of(e, peer), ns_of(e, "spindle"), ns_of(e, peer)
            if r is None or sp is None or pn is None:
                pts.append((k, None, f"{k} pairs vs {peer}: not measured"))
            else:
                pts.append((k, r > 1.0, f"{k} pairs: spindle {fmt_ns(sp)}, {peer} {fmt_ns(pn)} "
                                        f"({peer}/spindle {fmt_ratio(r)})"))
    out.append(("queue_mpmc: spindle's time per item at every pair count up to 32 within 1.3× "
                "of its 1-pair time, and spindle faster than boost, absl and moodycamel at 16 "
                "and 32 pairs", verdict(pts), pts))
    pts = (compare_points(summary, "lock_contended", [2, 4, 8], "tbb_spin", "threads")
           + compare_points(summary, "lock_contended", [2, 4, 8], "tbb", "threads"))
    out.append(("lock_contended: spindle <= tbb spin_mutex and tbb::mutex at 2, 4 and 8 threads",
                verdict(pts), pts))
    return out


def render_md(a, summary, info, elapsed):
    out_png_name = a.png_name
    peers = [i for i in IMPL_ORDER if i != "spindle" and
             any(i in e["impls"] for e in summary if not e["case"].startswith("floor"))]
    work = [e for e in summary if not e["case"].startswith("floor")]
    floors = {e["case"]: e for e in summary if e["case"].startswith("floor")}
    L = []
    L.append("# spindle benchmarks: spindle beside the libraries you would use instead")
    L.append("")
    L.append(f"Generated by `scripts/bench{' --quick' if a.quick else ''}` on "
             f"{datetime.datetime.utcnow():%Y-%m-%d %H:%M} UTC in {elapsed:.0f} s: "
             f"{info['cpu']}, {info['cores']} cores, Linux {info['kernel']}, glibc {info['glibc']}, "
             f"{info['compiler']}, {info['python']}; load average at the end {info['load']}. "
             f"{a.rounds} rounds per workload; contended-lock threads "
             f"{','.join(map(str, a.threads))}, barrier parties {','.join(map(str, a.parties))}, "
             f"queue pairs {','.join(map(str, a.pairs))}, tiny-task pool workers "
             f"{','.join(map(str, a.workers))}, fan-out pool workers "
             f"{','.join(map(str, a.fanout_workers))}, round-trip pool workers "
             f"{a.latency_workers}; Python runs the scaled workloads only at "
             f"{','.join(map(str, a.python_counts))} (threads, pairs or workers).")
    L.append("")
    L.append("Each workload runs every implementation in turn, each in a fresh process, round "
             "after round (A B C … A B C …). A cell is the implementation's time divided by "
             "spindle's time **in the same round**: the median over the rounds, with the "
             "25th–75th percentile in brackets. Above 1× spindle is faster; below 1× the peer "
             "is. Every run checks its result (no lost increments, items or wake-ups) and a "
             "watchdog fails a run that hangs. All C++ is built by the same compiler with the "
             "same Release flags; peers come from Debian 12 packages. Python runs the same "
             "workloads with its own `threading`, `queue` and `concurrent.futures` "
             "(bench/python/).")
    L.append("")
    # Headline: geometric mean of median ratios per peer.
    L.append("## Headline")
    L.append("")
    heads = []
    for p in peers:
        rs = [e["impls"][p]["ratio_median"] for e in work
              if p in e["impls"] and "ratio_median" in e["impls"][p]]
        if rs:
            g = geomean(rs)
            heads.append((p, g, len(rs), min(rs), max(rs)))
    L.append("Geometric mean of the median ratios over the workloads each peer implements "
             "(time relative to spindle; above 1× spindle is faster):")
    L.append("")
    L.append("| peer | workloads | geometric mean | range |")
    L.append("|---|---:|---:|---|")
    for p, g, n, lo, hi in heads:
        L.append(f"| {p} | {n} | {fmt_ratio(g)} | {fmt_ratio(lo)} – {fmt_ratio(hi)} |")
    L.append("")
    # Goals, judged on this run.
    L.append("## Goals")
    L.append("")
    L.append("Judged on this run's own medians (for spindle against a peer: the median "
             "same-round ratio, peer time / spindle time):")
    L.append("")
    for title, status, pts in goals(summary):
        detail = "; ".join(t for _, _, t in pts) if pts else "no data in this run"
        L.append(f"- **{status}**: {title}. {detail}.")
    L.append("")
    # Scaling: time per operation against the count, per family.
    fams = [w for w in SCALED if by_count(summary, w)]
    if fams:
        L.append("## Scaling")
        L.append("")
        L.append("Median time per operation against the thread, pair or worker count "
                 f"(chart: [{a.scale_png_name}]({a.scale_png_name}), log scales). Blank: "
                 "not run at that count (Python runs only some counts) or no successful run.")
        L.append("")
        for w in fams:
            rows = by_count(summary, w)
            counts = sorted(rows)
            impls = [i for i in IMPL_ORDER if any(i in rows[c]["impls"] for c in counts)]
            L.append(f"**{w}** (time per operation; columns: {SCALED[w]})")
            L.append("")
            L.append("| impl | " + " | ".join(str(c) for c in counts) + " |")
            L.append("|---|" + "---:|" * len(counts))
            for i in impls:
                cells = []
                for c in counts:
                    x = rows[c]["impls"].get(i)
                    cells.append(fmt_ns(x["ns_median"]) if x and "ns_median" in x else
                                 ("failed" if x and x["failures"] else ""))
                L.append(f"| {i} | " + " | ".join(cells) + " |")
            L.append("")
        L.append(f"![Time per operation against the count, per workload family]"
                 f"({a.scale_png_name})")
        L.append("")
    # Ratio table.
    L.append("## Time relative to spindle")
    L.append("")
    L.append("| workload | spindle (per op) | " + " | ".join(peers) + " | floor |")
    L.append("|---|---:|" + "---:|" * len(peers) + "---:|")
    for e in work:
        sp = e["impls"].get("spindle", {})
        row = [e["case"], fmt_ns(sp["ns_median"]) if "ns_median" in sp else
               ("failed" if sp.get("failures") else "—")]
        for p in peers:
            x = e["impls"].get(p)
            if x is None:
                row.append("")
            elif "ratio_median" in x:
                cell = (f"{fmt_ratio(x['ratio_median'])} "
                        f"({fmt_ratio(x['ratio_p25'])}–{fmt_ratio(x['ratio_p75'])})")
                if x["failures"]:
                    cell += f" ⚠{len(x['failures'])}"
                row.append(cell)
            elif "ns_median" in x:
                row.append(fmt_ns(x["ns_median"]) + (f" ⚠{len(x['failures'])}" if x["failures"] else ""))
            else:
                row.append(f"failed ×{len(x['failures'])}")
        fl = floors.get(FLOOR_OF.get(e["workload"], ""))
        fns = fl["impls"].get("floor", {}).get("ns_median") if fl else None
        row.append(fmt_ns(fns) if fns else "")
        L.append("| " + " | ".join(row) + " |")
    L.append("")
    L.append("A blank cell: the library has no such primitive. A time instead of a ratio: "
             "spindle has no result for that workload in this build. ⚠N: N runs failed "
             "(see Failures). The floor is the cheapest thing the hardware or kernel can do "
             "for that operation, measured in the same run.")
    L.append("")
    # Absolute table.
    L.append("## Median time per operation")
    L.append("")
    allimpls = ["spindle"] + peers
    L.append("| workload | " + " | ".join(allimpls) + " |")
    L.append("|---|" + "---:|" * len(allimpls))
    for e in work:
        row = [e["case"]]
        for p in allimpls:
            x = e["impls"].get(p)
            row.append(fmt_ns(x["ns_median"]) if x and "ns_median" in x else "")
        L.append("| " + " | ".join(row) + " |")
    L.append("")
    L.append("## Floors")
    L.append("")
    L.append("| floor | median | what it is |")
    L.append("|---|---:|---|")
    for name, e in floors.items():
        x = e["impls"].get("floor", {})
        L.append(f"| {name} | {fmt_ns(x['ns_median']) if 'ns_median' in x else 'failed'} | "
                 f"{OP_MEANING.get(name, '')} |")
    L.append("")
    L.append("## What each workload measures")
    L.append("")
    seen = set()
    for e in work:
        w = e["workload"]
        if w in seen:
            continue
        seen.add(w)
        L.append(f"- **{w}**: {OP_MEANING.get(w, '')}.")
    L.append("- Peers' shapes: `std`/`boost` Event and Queue are a flag or a deque under their "
             "mutex with a condition variable; `absl` Event is one `absl::Notification` per "
             "message and Barrier one `absl::Barrier` per cycle (both are single-use); the "
             "`absl` queue is a deque under `absl::Mutex` with `Await`; `poco` Queue is "
             "`NotificationQueue`, its pool `ThreadPool` with an `Event` for the result (it "
             "has no futures, and its pool refuses tasks when every thread is busy, so it has "
             "no tiny-tasks entry); `tbb` pool is a `task_arena` + `task_group` (its `wait()` "
             "may run the task on the waiting thread); `asio` pool is `asio::thread_pool` with "
             "`asio::use_future`; `std::async` starts a thread per task (at most 256 in "
             "flight for tiny tasks; having no pool, it runs tiny tasks at the first worker "
             "count only). `tbb` locks are `tbb::mutex`, `tbb_spin` locks "
             "`tbb::spin_mutex` (a test-and-set spin lock with back-off, no sleeping).")
    L.append(f"- Fan-out: the sum of [0, n) with a grain of {a.grain} "
             f"({8 if a.quick else a.fanout_leaves * a.scale} leaves per run), every leaf "
             "summing its range one add at a time; the time is per leaf, the sum is checked "
             "exactly. spindle submits the left half to its `ThreadPoolExecutor` from inside "
             "the task and waits with `result()`; `tbb` uses a `task_group` per node "
             "(`run(left)`, right half, `wait()`) inside a `task_arena` of that many threads "
             "(the thread that enters it included). Only libraries with a nested-task "
             "facility take part: `std::async` would start a thread per node (thousands "
             "alive at once, and no worker count to vary); Asio's and POCO's pools, and "
             "Python's `ThreadPoolExecutor`, block a worker per waiting node and deadlock "
             "once the nesting is deeper than the pool.")
    L.append("- Counts: C++ runs the full count (e.g. 100,000 tiny tasks); Python, and the "
             "C++ peers that take milliseconds per operation (`std::async`, libstdc++'s "
             "`counting_semaphore` and `barrier`) or microseconds per item in the queue at 16 "
             "pairs and more (`std`, `tbb`), run a smaller count so that the report "
             "stays within minutes. Times are per operation, so the ratios compare like "
             "with like. Python runs the scaled workloads (contended lock, queue, tiny "
             f"tasks) only at {','.join(map(str, a.python_counts))} threads, pairs or "
             "workers, for the same reason.")
    L.append("- Every C++ run happens in a process that has already started a thread: glibc "
             "drops the `lock` prefix from pthread mutexes while a process has never had a "
             "second thread, which would make the single-threaded lock workload measure "
             "something no threaded program sees.")
    L.append(f"- The seed programs: seed 001's two CPU-bound workers (n = "
             f"{'100,000' if a.quick else '10,000,000'} each), seed 001's five I/O-bound "
             f"threads (each sleeps {5 if a.quick else a.io_ms} ms; the seed sleeps 1 s), "
             "seed 004's five threads adding 1000 each to a locked counter. C++ does the "
             "CPU-bound loop in parallel; Python's GIL serialises it.")
    L.append("")
    fails = [(e["case"], i, f) for e in summary for i, x in e["impls"].items() for f in x["failures"]]
    if fails:
        L.append("## Failures")
        L.append("")
        for c, i, f in fails:
            L.append(f"- {c} / {i}: {f}")
        L.append("")
    L.append(f"![Time relative to spindle, per workload, log scale]({out_png_name})")
    L.append("")
    L.append("Rerun: `scripts/bench` (full, writes docs/), `scripts/bench --quick` (seconds, "
             "checks the harness; writes to a temporary directory). Options: `--threads "
             "2,4,8,16,32,64` `--pairs 1,2,4,8,16,32,64` `--workers 2,4,8,16,32,64` "
             "`--fanout-workers 1,2,4,8,16,32,64` `--python-counts 1,2,8,64` `--parties 2,8` "
             "`--rounds N` `--only REGEX`; see `scripts/bench --help`.")
    L.append("")
    frags = sorted(glob.glob(os.path.join(a.fragments, "*.md"))) if a.fragments else []
    if frags:
        L.append("# Microbenchmarks (Google Benchmark)")
        L.append("")
        for f in frags:
            with open(f, encoding="utf-8") as fh:
                text = fh.read()
            L.append(text.rstrip("\n"))
            L.append("")
    return "\n".join(L)


def csv_ints(s):
    try:
        v = [int(x) for x in s.split(",") if x]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of integers: {s!r}")
    if not v or min(v) < 1:
        raise argparse.ArgumentTypeError(f"need positive integers: {s!r}")
    return v


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--harness", required=True, help="path to the spindle_report executable")
    ap.add_argument("--python", default="/usr/bin/python3")
    ap.add_argument("--out", required=True, help="directory for results.jsonl, summary.json, benchmarks.md")
    ap.add_argument("--quick", action="store_true", help="tiny sizes, 2 rounds: checks the harness")
    ap.add_argument("--rounds", type=int, default=None)
    ap.add_argument("--threads", type=csv_ints, default=[2, 4, 8, 16, 32, 64],
                    help="contended-lock thread counts")
    ap.add_argument("--parties", type=csv_ints, default=[2, 8], help="barrier party counts")
    ap.add_argument("--pairs", type=csv_ints, default=[1, 2, 4, 8, 16, 32, 64],
                    help="queue producer/consumer pairs")
    ap.add_argument("--workers", type=csv_ints, default=[2, 4, 8, 16, 32, 64],
                    help="pool worker counts for tiny tasks")
    ap.add_argument("--fanout-workers", type=csv_ints, default=[1, 2, 4, 8, 16, 32, 64],
                    help="pool worker counts for the recursive fan-out")
    ap.add_argument("--latency-workers", type=int, default=4,
                    help="pool worker threads for the round-trip latency")
    ap.add_argument("--python-counts", type=csv_ints, default=[1, 2, 8, 64],
                    help="the thread/pair/worker counts at which Python runs the scaled workloads")
    ap.add_argument("--grain", type=int, default=512, help="fan-out: largest range a leaf sums")
    ap.add_argument("--fanout-leaves", type=int, default=16384,
                    help="fan-out: leaves per run (n = leaves * grain)")
    ap.add_argument("--io-ms", type=int, default=100, help="seed 001 I/O-bound sleep (the seed: 1000)")
    ap.add_argument("--scale", type=int, default=1, help="multiply the operation counts")
    ap.add_argument("--timeout", type=float, default=None, help="watchdog per run, seconds")
    ap.add_argument("--only", default=None, help="regex: run only matching cases")
    ap.add_argument("--impls", default=None, help="regex: run only matching implementations")
    ap.add_argument("--no-python", action="store_true")
    ap.add_argument("--fragments", default=os.path.join(ROOT, "docs", "bench"),
                    help="directory of *.md fragments appended to the report")
    ap.add_argument("--png-name", default="benchmarks.png")
    ap.add_argument("--scale-png-name", default="benchmarks-scale.png")
    a = ap.parse_args()
    if a.grain < 1 or a.fanout_leaves < 1 or a.latency_workers < 1:
        ap.error("--grain, --fanout-leaves and --latency-workers must be positive")
    if a.rounds is None:
        a.rounds = 2 if a.quick else 7
    if a.timeout is None:
        a.timeout = 20.0 if a.quick else 60.0
    os.makedirs(a.out, exist_ok=True)

    listing = subprocess.run([a.harness, "--list"], capture_output=True, text=True, check=True)
    available = {}
    for line in listing.stdout.splitlines():
        w, impl = line.split(" ", 1)
        available.setdefault(w, []).append(impl)
    cases = build_cases(a)
    if a.only:
        cases = [c for c in cases if re.search(a.only, c["name"])]
    impls_of = {}
    for c in cases:
        impls = sorted((i for i in available.get(c["workload"], []) if i not in c["skip"]),
                       key=lambda i: IMPL_ORDER.index(i) if i in IMPL_ORDER else 99)
        if (not a.no_python and c["python"]
                and os.path.exists(os.path.join(PY_DIR, c["workload"] + ".py"))):
            impls.append("python")
        if a.impls:
            impls = [i for i in impls if re.fullmatch(a.impls, i)]
        impls_of[c["name"]] = impls
    total = sum(len(impls_of[c["name"]]) for c in cases) * a.rounds
    tty = sys.stderr.isatty()
    done = 0
    records = []
    t_start = time.monotonic()
    with open(os.path.join(a.out, "results.jsonl"), "w") as log:
        for c in cases:
            impls = impls_of[c["name"]]
            for rd in range(a.rounds):
                k = rd % len(impls) if impls else 0
                for impl in impls[k:] + impls[:k]:  # rotate the start: no fixed order bias
                    done += 1
                    line = (f"[{done:4d}/{total}] {time.monotonic() - t_start:5.0f}s  "
                            f"{c['name']:<20} round {rd + 1}/{a.rounds}  {impl:<11}")
                    if tty:
                        sys.stderr.write("\r" + line)
                        sys.stderr.flush()
                    r = run_one(a, c, impl)
                    r["round"] = rd
                    records.append(r)
                    log.write(json.dumps(r) + "\n")
                    log.flush()
                    if not r["ok"]:
                        sys.stderr.write(("\n" if tty else "") +
                                         f"FAILED {c['name']} {impl} round {rd + 1}: {r['error']}\n")
            if not tty:
                sys.stderr.write(f"[{done:4d}/{total}] {time.monotonic() - t_start:5.0f}s  "
                                 f"{c['name']} done\n")
    if tty:
        sys.stderr.write("\n")
    elapsed = time.monotonic() - t_start
    summary = summarize(cases, records, impls_of)
    info = machine_info(a)
    with open(os.path.join(a.out, "summary.json"), "w") as f:
        json.dump({"info": info, "quick": a.quick, "rounds": a.rounds, "cases": summary,
                   "impl_order": IMPL_ORDER, "scaled": SCALED}, f, indent=1)
    with open(os.path.join(a.out, "benchmarks.md"), "w", encoding="utf-8") as f:
        f.write(render_md(a, summary, info, elapsed))

    failed = [r for r in records if not r["ok"]]
    bad = failed if a.quick else [r for r in failed if r["impl"] == "spindle" or r.get("wrong")]
    missing_spindle = [c["name"] for c in cases if not c["name"].startswith("floor")
                       and "spindle" not in impls_of[c["name"]]]
    if missing_spindle:
        sys.stderr.write("note: no spindle implementation in this build for: "
                         + ", ".join(missing_spindle) + "\n")
    sys.stderr.write(f"{len(records)} runs in {elapsed:.0f} s, {len(failed)} failed\n")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
