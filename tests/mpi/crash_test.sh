#!/usr/bin/env bash
# A rank that dies ends the whole MPI job, and nothing hangs (the behaviour
# spindle/mpi.hpp documents under "Failures"): runs `mpi_helper MODE` under
# mpirun with 3 ranks and checks that mpirun exits non-zero, well within the
# time limit, with Open MPI's message about the dead rank, and that the
# client's code after the failure never ran.
#   crash_test.sh MPIEXEC HELPER MODE REGEX
set -uo pipefail
mpiexec="$1" helper="$2" mode="$3" expect="$4"
out="$(timeout 120 "$mpiexec" -n 3 "$helper" "$mode" 2>&1)"
rc=$?
echo "$out"
echo "crash_test: mpirun exited with status $rc"
if [[ $rc -eq 0 ]]; then echo "crash_test: FAIL: the job did not fail"; exit 1; fi
if [[ $rc -eq 124 ]]; then echo "crash_test: FAIL: the job hung (killed after 120 s)"; exit 1; fi
if grep -q UNREACHABLE <<<"$out"; then echo "crash_test: FAIL: the client went on"; exit 1; fi
if ! grep -Eq "$expect" <<<"$out"; then echo "crash_test: FAIL: no line matching '$expect'"; exit 1; fi
echo "crash_test: PASS ($mode)"
