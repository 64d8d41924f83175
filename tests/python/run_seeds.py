"""Runs the tutorials' Python programs (tests/python/seeds/) against spindle
with only their imports changed, and against CPython's own modules, and
checks that both runs end the same way:

    PYTHONPATH=build/release/python python3 tests/python/run_seeds.py [-v] [NAME...]

The import change (spindle_imports below) is the whole recipe for a program
of the tutorials:

    import threading                     ->  import spindle.threading as threading
    import queue                         ->  import spindle.queue as queue
    from threading import X, Y           ->  from spindle.threading import X, Y
    from queue import X                  ->  from spindle.queue import X
    from concurrent.futures import X     ->  from spindle.futures import X

Both runs must exit with status 0, print the same text (in any order: the
threads interleave differently from run to run; timings, the unsafe
counter and pool worker numbers are compared by shape only), and
report the same exceptions on stderr (seed001_queues has the tutorial's own
bug: its consumers die with AttributeError in CPython too). The programs
sleep as the tutorials do; they run in parallel.
"""
import concurrent.futures
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SEEDS = os.path.join(HERE, "seeds")
TIMEOUT = 300

IMPORTS = [
    (re.compile(r"^import threading$", re.M), "import spindle.threading as threading"),
    (re.compile(r"^import queue$", re.M), "import spindle.queue as queue"),
    (re.compile(r"^from threading import ", re.M), "from spindle.threading import "),
    (re.compile(r"^from queue import ", re.M), "from spindle.queue import "),
    (re.compile(r"^from concurrent\.futures import ", re.M), "from spindle.futures import "),
]

# Text that varies from run to run: timings, the unsafe counter, which
# worker or consumer took a task.
VARYING = [
    (re.compile(r"Unsafe counter: \d+"), "Unsafe counter: N"),
    (re.compile(r"\d+\.\d+s"), "N.Ns"),
    (re.compile(r"\d+\.\d+x"), "N.Nx"),
    (re.compile(r"ThreadPoolExecutor-\d+_\d+"), "ThreadPoolExecutor-N_N"),
    (re.compile(r"Consumer \d+"), "Consumer N"),  # which consumer took an item
]


def spindle_imports(source):
    for pattern, replacement in IMPORTS:
        source = pattern.sub(replacement, source)
    return source


def normalise(stdout):
    """The output's characters, whitespace left out, as a sorted string:
    print() writes a line's text and its newline separately, so lines of
    different threads can run into each other; what was printed cannot."""
    for pattern, replacement in VARYING:
        stdout = pattern.sub(replacement, stdout)
    return "".join(sorted(re.sub(r"\s", "", stdout)))


def exceptions(stderr):
    return sorted(set(re.findall(r"^(\w+(?:Error|Exception)\b)", stderr, re.M)))


def run(source):
    r = subprocess.run([sys.executable, "-c", source], capture_output=True, text=True,
                       timeout=TIMEOUT)
    return r.returncode, r.stdout, r.stderr


def check(path):
    with open(path) as f:
        source = f.read()
    changed = spindle_imports(source)
    if changed == source:
        return "no import to change"
    (rc_py, out_py, err_py), (rc_sp, out_sp, err_sp) = run(source), run(changed)
    problems = []
    if rc_py != 0 or rc_sp != 0:
        problems.append("exit status %d with CPython's modules, %d with spindle's:\n%s"
                        % (rc_py, rc_sp, err_sp[-2000:]))
    if normalise(out_py) != normalise(out_sp):
        problems.append("output differs:\n--- CPython\n%s\n--- spindle\n%s" % (out_py, out_sp))
    if exceptions(err_py) != exceptions(err_sp):
        problems.append("exceptions differ: %s vs %s\n%s" % (exceptions(err_py),
                                                           exceptions(err_sp), err_sp[-2000:]))
    return "\n".join(problems)


def main():
    verbose = "-v" in sys.argv
    names = [a for a in sys.argv[1:] if a != "-v"]
    paths = sorted(os.path.join(SEEDS, n) for n in os.listdir(SEEDS) if n.endswith(".py"))
    if names:
        paths = [p for p in paths if any(n in os.path.basename(p) for n in names)]
    failed = 0
    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        for path, problem in zip(paths, pool.map(check, paths)):
            name = os.path.basename(path)
            if problem:
                failed += 1
                print("FAIL %s: %s" % (name, problem))
            elif verbose:
                print("ok   %s" % name)
    print("%d passed, %d failed" % (len(paths) - failed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
