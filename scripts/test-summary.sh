#!/usr/bin/env bash
# test-summary.sh DIR...: count the individual test results of the last `make check`
# (automake's .trs files: one :test-result: line per cmocka case under the TAP driver)
# and print failures, then the line "N passed, M failed".
set -u
pass=0; fail=0; skip=0
[ $# -gt 0 ] || set -- .
for dir in "$@"; do
while IFS= read -r -d '' f; do
	p=$(grep -c '^:test-result: \(PASS\|XFAIL\)' "$f" || true)
	k=$(grep -c '^:test-result: SKIP' "$f" || true)
	x=$(grep -c '^:test-result: \(FAIL\|XPASS\|ERROR\)' "$f" || true)
	pass=$((pass + p)); fail=$((fail + x)); skip=$((skip + k))
	if [ "$k" -gt 0 ]; then
		echo "SKIPPED in ${f%.trs}: $(grep -h -m1 -i 'skip' "${f%.trs}.log" 2>/dev/null)"
	fi
	if [ "$x" -gt 0 ]; then
		echo "FAILED in ${f%.trs}:"
		log="${f%.trs}.log"
		[ -f "$log" ] && grep -E '^(not ok|# )' "$log" | head -40
	fi
done < <(find "$dir/tests" -name '*.trs' -print0 2>/dev/null)
done
if [ "$skip" -gt 0 ]; then
	echo "$pass passed, $fail failed, $skip skipped"
else
	echo "$pass passed, $fail failed"
fi
