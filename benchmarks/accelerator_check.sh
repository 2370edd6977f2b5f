#!/usr/bin/env bash
# Accelerator proof (issue 19, item 7): on a GPU machine, run
#   1. the library tests in float64 (the suite's default: conftest enables x64),
#   2. the float32 / low-precision tests (selected by name) on their own, so their count is visible,
#   3. every experiment's quick() preset with its theory checks (`kl-lab check all --quick`),
#   4. `python -m benchmarks --markdown` (the speed table, with GPU times),
# and write a short report: REPORT (default $OUT/accelerator_report.md when $OUT is set, else
# benchmarks/accelerator_report.md), plus the raw logs beside it.
#
# Usage:  benchmarks/accelerator_check.sh            (needs jax with a GPU backend; refuses to run on CPU)
#         benchmarks/accelerator_check.sh --dry-run  (any backend; one small test file, one experiment, one
#                                                     bench row: checks the script's own logic)
# Environment: PY (python with kl_lab and a CUDA jax; default .venv/bin/python, else python3), JOBS (pytest-xdist
# workers, default 8), T_TESTS / T_F32 / T_EXPERIMENTS / T_BENCH (seconds per phase; defaults fit the 10-minute
# limit of one device call), BENCH_ARGS (row-name filters for the bench).
# Each phase runs under `timeout`; a phase that runs out of time is reported as such, and the others still run.
set -uo pipefail
cd "$(dirname "$0")/.."

DRY=0
[[ "${1:-}" == "--dry-run" ]] && DRY=1
if [[ -z "${PY:-}" ]]; then
    if [[ -x .venv/bin/python ]]; then PY=.venv/bin/python; else PY=python3; fi
fi
JOBS=${JOBS:-8}
T_TESTS=${T_TESTS:-240}
T_F32=${T_F32:-60}
T_EXPERIMENTS=${T_EXPERIMENTS:-180}
T_BENCH=${T_BENCH:-90}
DIR=${OUT:-benchmarks}
REPORT=${REPORT:-$DIR/accelerator_report.md}
LOGS=$DIR/accelerator_logs
mkdir -p "$LOGS"
export KL_LAB_PROGRESS=0 MPLBACKEND=Agg PYTHONUNBUFFERED=1 HYPOTHESIS_PROFILE=ci

backend=$($PY -c 'import jax; print(jax.default_backend())' 2>/dev/null || echo "none")
if [[ "$backend" != "gpu" && "$backend" != "cuda" && $DRY -eq 0 ]]; then
    echo "accelerator_check: jax's backend is '$backend', not a GPU; run with --dry-run to test the script on CPU" >&2
    exit 2
fi

# tests that measure nothing about the accelerator (packaging, docs site, saved figures, notebooks, mutants,
# the experiments, which phase 3 runs) are left out of the library passes
IGNORE=(--ignore=tests/test_packaging.py --ignore=tests/test_docs.py --ignore=tests/test_saved_figures.py
    --ignore=tests/test_notebooks.py --ignore=tests/test_mutants.py --ignore=tests/test_experiments.py
    --ignore=tests/test_readme.py)
F32_K="float32 or f32 or bfloat16 or float16 or low_precision or dtype"
XDIST=(-n "$JOBS")
$PY -c 'import xdist' 2>/dev/null || XDIST=()
TESTS=(tests)
EXPERIMENTS=(all)
if [[ $DRY -eq 1 ]]; then
    TESTS=(tests/alignment/test_bon_shared_sort.py)
    EXPERIMENTS=(mode_seeking)
    BENCH_ARGS=${BENCH_ARGS:-"best_of_n_log_probs"}
    T_TESTS=120 T_F32=60 T_EXPERIMENTS=120 T_BENCH=240
    XDIST=()
fi

# phase NAME SECONDS CMD...: run CMD under timeout, log to $LOGS/NAME.log, remember the status
declare -A STATUS SECS
phase() {
    local name=$1 limit=$2
    shift 2
    local t0=$SECONDS
    timeout --kill-after=10 "$limit" "$@" >"$LOGS/$name.log" 2>&1
    local rc=$?
    SECS[$name]=$((SECONDS - t0))
    case $rc in
        0) STATUS[$name]="ok" ;;
        124 | 137) STATUS[$name]="timed out after ${limit} s" ;;
        *) STATUS[$name]="exit $rc" ;;
    esac
    echo "[$name] ${STATUS[$name]} (${SECS[$name]} s)" >&2
}

# the pytest summary line ("12 passed, 1 skipped in 3.2s"), or the last line when there is none
summary() { grep -E "^(=+ )?[0-9]+ (passed|failed|error)" "$LOGS/$1.log" | tail -1 | sed 's/=//g;s/^ *//;s/ *$//' || true; }

phase info 60 bash -c "nvidia-smi -L 2>/dev/null || echo 'no nvidia-smi'; $PY -c 'import jax, jaxlib; print(jax.__version__, jaxlib.__version__, jax.devices())'"
phase tests_f64 "$T_TESTS" "$PY" -m pytest "${TESTS[@]}" "${IGNORE[@]}" "${XDIST[@]}" -q -p no:cacheprovider
phase tests_f32 "$T_F32" "$PY" -m pytest "${TESTS[@]}" "${IGNORE[@]}" "${XDIST[@]}" -q -p no:cacheprovider -k "$F32_K"
phase experiments "$T_EXPERIMENTS" "$PY" -m kl_lab.cli check --quick --quiet "${EXPERIMENTS[@]}"
# shellcheck disable=SC2086 # BENCH_ARGS is a list of words
phase bench "$T_BENCH" "$PY" -m benchmarks --markdown ${BENCH_ARGS:-}

# every experiment's check table ends in "N passed, M failed" (kl_lab.checks.format_table)
checks_line=$(awk '/^[0-9]+ passed, [0-9]+ failed$/ {p += $1; f += $3; e += 1}
    END {print p + 0 " checks passed, " f + 0 " failed, in " e + 0 " experiments"}' "$LOGS/experiments.log")
failed_checks=$(grep -Ec "FAIL" "$LOGS/experiments.log" || true)
{
    echo "# Accelerator check ($(date -u +%Y-%m-%dT%H:%MZ))"
    echo
    [[ $DRY -eq 1 ]] && echo "**Dry run** on backend \`$backend\` (subset: ${TESTS[*]}, experiment ${EXPERIMENTS[*]}, bench rows '${BENCH_ARGS:-}')." && echo
    echo "Device: \`$(tr '\n' ' ' <"$LOGS/info.log" | cut -c1-300)\`"
    echo
    echo "| phase | status | seconds | result |"
    echo "|---|---|---|---|"
    echo "| library tests, float64 | ${STATUS[tests_f64]} | ${SECS[tests_f64]} | $(summary tests_f64) |"
    echo "| float32 / low-precision tests (-k '$F32_K') | ${STATUS[tests_f32]} | ${SECS[tests_f32]} | $(summary tests_f32) |"
    echo "| experiments' quick presets with checks | ${STATUS[experiments]} | ${SECS[experiments]} | $checks_line; lines with FAIL: $failed_checks |"
    echo "| benchmarks | ${STATUS[bench]} | ${SECS[bench]} | table below |"
    echo
    echo "## Failures"
    echo
    echo '```'
    grep -hE "^(FAILED|ERROR) " "$LOGS/tests_f64.log" "$LOGS/tests_f32.log" | head -40 || true
    grep -h "FAIL" "$LOGS/experiments.log" | head -40 || true
    echo '```'
    echo
    echo "## Speed table"
    echo
    sed -n '/^\*backend/,$p' "$LOGS/bench.log" | grep -q . && sed -n '/^\*backend/,$p' "$LOGS/bench.log" || echo "(no table: ${STATUS[bench]})"
} >"$REPORT"
echo "report: $REPORT" >&2
cat "$REPORT"
