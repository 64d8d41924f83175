"""mpi4py.futures on bench/bench_mpi.cpp's work, and both side by side.

Run by itself, it compares: it starts `mpirun -n N bench_mpi --json` (raw MPI
ping-pong, MPIPoolExecutor, the process pool) and then
`mpirun -n N python3 -m mpi4py.futures` on this file (the same workloads with
mpi4py's MPIPoolExecutor), and prints one table:

    /usr/bin/python3 bench/python/mpi_tiny_tasks.py --bench build/release/bench/bench_mpi -n 3

Under mpi4py.futures it is the mpi4py side only (one JSON line):

    mpirun -n 3 /usr/bin/python3 -m mpi4py.futures bench/python/mpi_tiny_tasks.py --worker

Workloads (each task returns its index; the sums are checked): latency of
submit(nothing).result() one at a time; 10,000 tasks submitted, then every
result collected; map() with chunksize 1 and 100. Medians of --rounds rounds;
latencies over 10 x --rounds samples of --latency-rounds round trips (the
median sample and the best one).
Needs Debian's python3-mpi4py (use /usr/bin/python3) and openmpi-bin.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time


def nothing():
    return None


def identity(i):
    return i


def measure(args):
    from mpi4py.futures import MPIPoolExecutor

    n = args.tasks
    want = n * (n - 1) // 2
    out = {}
    with MPIPoolExecutor() as pool:
        for _ in range(64):
            pool.submit(nothing).result()  # every worker is up

        def timed(body):
            return statistics.median(body() for _ in range(args.rounds))

        def latency_samples():
            us = []
            for _ in range(10 * args.rounds):
                t0 = time.perf_counter()
                for _ in range(args.latency_rounds):
                    pool.submit(nothing).result()
                us.append((time.perf_counter() - t0) * 1e6 / args.latency_rounds)
            return us

        def submit_all():
            t0 = time.perf_counter()
            fs = [pool.submit(identity, i) for i in range(n)]
            total = sum(f.result() for f in fs)
            s = time.perf_counter() - t0
            if total != want:
                raise SystemExit("wrong sum")
            return s

        def mapped(chunksize):
            def body():
                t0 = time.perf_counter()
                total = sum(pool.map(identity, range(n), chunksize=chunksize))
                s = time.perf_counter() - t0
                if total != want:
                    raise SystemExit("wrong sum")
                return s
            return body

        us = latency_samples()
        out["latency_us"] = statistics.median(us)
        out["latency_best_us"] = min(us)
        out["submit_tps"] = n / timed(submit_all)
        out["map1_tps"] = n / timed(mapped(1))
        out["map100_tps"] = n / timed(mapped(100))
    return out


def run_json(cmd, timeout):
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith("{")]
    if p.returncode != 0 or not lines:
        sys.stderr.write(p.stdout + p.stderr)
        raise SystemExit(f"failed: {' '.join(cmd)}")
    return json.loads(lines[-1])


def compare(args):
    mpirun = [args.mpirun, "-n", str(args.ranks), "--oversubscribe"]
    common = ["--tasks", str(args.tasks), "--latency-rounds", str(args.latency_rounds),
              "--rounds", str(args.rounds)]
    quick = ["--quick"] if args.quick else []
    ours = run_json(mpirun + [args.bench, "--json"] + quick + common, args.timeout)
    py = run_json(mpirun + [args.python, "-m", "mpi4py.futures", os.path.abspath(__file__),
                            "--worker"] + common, args.timeout)
    m, p, q = ours["mpi"], ours.get("process"), py["mpi4py"]
    print(f"{args.ranks} ranks (1 client + {args.ranks - 1} workers), {args.tasks} tiny tasks; "
          f"medians of {args.rounds} rounds; latencies: median and best of "
          f"{10 * args.rounds} samples of {args.latency_rounds} round trips")
    print(f"raw MPI_Send/MPI_Recv ping-pong (rank 0 <-> 1): {ours['pingpong_us']:.2f} us, "
          f"best {ours['pingpong_best_us']:.2f} us")
    head = f"{'':38}{'spindle MPI':>14}{'mpi4py':>14}{'x mpi4py':>10}"
    if p:
        head += f"{'spindle proc':>14}"
    print(head)

    def row(label, key, unit, better_high):
        ratio = m[key] / q[key] if better_high else q[key] / m[key]
        line = f"{label:38}{m[key]:>11.1f} {unit}{q[key]:>11.1f} {unit}{ratio:>9.1f}x"
        if p:
            line += f"{p[key]:>11.1f} {unit}"
        print(line)

    row("latency submit(nothing).result()", "latency_us", "us", False)
    row("  best sample", "latency_best_us", "us", False)
    row("submit 10k, then collect", "submit_tps", "/s", True)
    row("map, chunksize 1", "map1_tps", "/s", True)
    row("map, chunksize 100", "map100_tps", "/s", True)
    print(f"{'50 MB vector to a worker and back':38}{m['large_ms']:>11.1f} ms")
    print(f"latency / raw ping-pong: spindle {m['latency_us'] / ours['pingpong_us']:.2f}x "
          f"(best samples {m['latency_best_us'] / ours['pingpong_best_us']:.2f}x), "
          f"mpi4py {q['latency_us'] / ours['pingpong_us']:.2f}x")
    print(json.dumps({"workload": "mpi_compare", "ranks": args.ranks, "spindle": ours,
                      "mpi4py": q}))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--worker", action="store_true", help="run the mpi4py side (under mpirun)")
    ap.add_argument("--bench", default="build/release/bench/bench_mpi")
    ap.add_argument("-n", "--ranks", type=int, default=3)
    ap.add_argument("--tasks", type=int, default=10000)
    ap.add_argument("--latency-rounds", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="small sizes: checks it runs")
    ap.add_argument("--mpirun", default="mpirun")
    ap.add_argument("--python", default=sys.executable)
    ap.add_argument("--timeout", type=int, default=600)
    args = ap.parse_args()
    if args.quick:
        args.tasks, args.latency_rounds, args.rounds = 2000, 100, 1
    if args.worker:
        out = measure(args)
        print(json.dumps({"workload": "mpi4py_tiny_tasks", "tasks": args.tasks,
                          "mpi4py": out}))
    else:
        compare(args)


if __name__ == "__main__":
    main()
