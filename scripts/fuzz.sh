#!/bin/sh
# fuzz.sh BUILDDIR SRCDIR: run the libFuzzer targets of a build configured
# with --enable-fuzzing (called by `make fuzz`; README "Fuzzing").
#
# Each target T runs as BUILDDIR/fuzz/fuzz_T for FUZZ_SECONDS (default 600)
# from a scratch copy of its committed corpus (SRCDIR/tests/fuzz/corpus/T),
# in BUILDDIR/fuzz/run/T/ (corpus/, artifacts/, log). At most FUZZ_JOBS
# (default 2) targets run at once, each under `nice -n 19`. One line per
# target when it ends: seconds, execs, exec/s, coverage, features, corpus
# files, crashes (with the first artifact's path). Exit status 1 if any
# target crashed, leaked, timed out or ran out of memory.
#
# Environment: FUZZ_TARGETS (names, default: every fuzz/fuzz_* built),
# FUZZ_SECONDS, FUZZ_JOBS, FUZZ_FLAGS (more libFuzzer flags),
# FUZZ_MERGE=1 (afterwards, add the scratch files that bring new coverage
# edges to the committed corpus with -merge=1 -use_counters=0, which keeps
# it to a few hundred files; review and commit them).
set -u

build=${1:?usage: fuzz.sh BUILDDIR SRCDIR}
src=${2:?usage: fuzz.sh BUILDDIR SRCDIR}
secs=${FUZZ_SECONDS:-600}
jobs=${FUZZ_JOBS:-2}
flags=${FUZZ_FLAGS:-}
targets=${FUZZ_TARGETS:-}
if [ -z "$targets" ]; then
	for p in "$build"/fuzz/fuzz_*; do
		[ -x "$p" ] && targets="$targets ${p##*/fuzz_}"
	done
fi
[ -n "$targets" ] || { echo "fuzz.sh: no fuzz/fuzz_* in $build" >&2; exit 2; }
for t in $targets; do
	[ -x "$build/fuzz/fuzz_$t" ] ||
		{ echo "fuzz.sh: $build/fuzz/fuzz_$t not built" >&2; exit 2; }
	[ -d "$src/tests/fuzz/corpus/$t" ] ||
		{ echo "fuzz.sh: no corpus $src/tests/fuzz/corpus/$t" >&2; exit 2; }
done

# Run one target; its summary line goes to run/T/summary.
run_one() {
	t=$1
	dir="$build/fuzz/run/$t"
	rm -rf "$dir"
	mkdir -p "$dir/corpus" "$dir/artifacts"
	cp "$src/tests/fuzz/corpus/$t"/* "$dir/corpus/" 2>/dev/null
	start=$(date +%s)
	# shellcheck disable=SC2086 # FUZZ_FLAGS is a list of flags
	nice -n 19 "$build/fuzz/fuzz_$t" -max_total_time="$secs" -timeout=30 \
		-rss_limit_mb=2048 -print_final_stats=1 \
		-artifact_prefix="$dir/artifacts/" $flags "$dir/corpus" \
		>"$dir/log" 2>&1
	rc=$?
	end=$(date +%s)
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$dir/log" | tail -n 1)
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$dir/log" | tail -n 1)
	last=$(grep -E '^#[0-9]+' "$dir/log" | grep ' cov: ' | tail -n 1)
	cov=$(printf '%s\n' "$last" | sed -n 's/.* cov: \([0-9]*\).*/\1/p')
	ft=$(printf '%s\n' "$last" | sed -n 's/.* ft: \([0-9]*\).*/\1/p')
	files=$(find "$dir/corpus" -type f | wc -l)
	crashes=$(find "$dir/artifacts" -type f | wc -l)
	first=$(find "$dir/artifacts" -type f | head -n 1)
	if [ "$rc" -ne 0 ] && [ "$crashes" -eq 0 ]; then
		crashes=1
		first="exit $rc, see $dir/log"
	fi
	printf '%-8s %6ss %11s execs %7s exec/s cov %5s ft %6s corpus %5s crashes %s%s\n' \
		"$t" "$((end - start))" "${execs:-?}" "${rate:-?}" "${cov:-?}" \
		"${ft:-?}" "$files" "$crashes" "${first:+ ($first)}" \
		>"$dir/summary"
	cat "$dir/summary"
	if [ "${FUZZ_MERGE:-0}" = 1 ] && [ "$crashes" -eq 0 ]; then
		# Edges only (no hit counts): a few hundred files per target.
		nice -n 19 "$build/fuzz/fuzz_$t" -merge=1 -use_counters=0 \
			"$src/tests/fuzz/corpus/$t" "$dir/corpus" \
			>"$dir/merge.log" 2>&1 ||
			echo "$t: merge failed, see $dir/merge.log" >&2
	fi
}

echo "fuzz.sh: $secs s per target, $jobs at a time: $targets"
running=0
pids=""
for t in $targets; do
	while [ "$running" -ge "$jobs" ]; do
		# Wait for any one of the running targets (POSIX sh has no
		# `wait -n`): poll their pids.
		sleep 1
		still=""
		running=0
		for p in $pids; do
			if kill -0 "$p" 2>/dev/null; then
				still="$still $p"
				running=$((running + 1))
			fi
		done
		pids=$still
	done
	run_one "$t" &
	pids="$pids $!"
	running=$((running + 1))
done
wait

status=0
echo "--- summary ---"
for t in $targets; do
	s="$build/fuzz/run/$t/summary"
	if [ -r "$s" ]; then
		cat "$s"
		grep -q 'crashes 0$' "$s" || status=1
	else
		echo "$t: no summary" && status=1
	fi
done
exit $status
