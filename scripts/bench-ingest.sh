#!/usr/bin/env bash
# bench-ingest.sh measures submission ingest, the issue 4 figure in
# BENCHMARKS.md: req/s and latency of POST /v1/forms/{form}/submissions
# under wrk, JSON and form-encoded, on a form with 3 fields, a notification
# and an autoresponder, so that each submission is validated and stored
# with its 2 outbox rows in one transaction.
#
# keel serve runs with KEEL_DISPATCHER=off (ingest only: nothing drains the
# outbox during the runs) and rate limits raised out of the way; everything
# else is on its defaults, access log to a file included. wrk shares the
# machine's CPUs with the server, as in scripts/bench.sh, which this script
# follows in method and report: it prints the CPUs other processes kept
# busy during each run, because other work on a small machine moves req/s.
#
# The report goes to stdout and to bench/results/ingest.md (not committed).
#
# Usage: scripts/bench-ingest.sh
# Settings (environment):
#   BENCH_DATABASE_URL  database to ingest into (default: SQLite in a temporary directory);
#                       a postgres:// URL must name an empty or Keel-migrated database
#   BENCH_DURATION      length of each measured wrk run (default 10s)
#   BENCH_WARMUP        length of the warm-up run per scenario (default 3s)
#   BENCH_RUNS          measured runs per scenario; the median counts (default 3)
#   BENCH_CONNECTIONS   wrk connections (default 32)
#   BENCH_THREADS       wrk threads (default 2)
set -euo pipefail

cd "$(dirname "$0")/.."

readonly DATABASE_URL=${BENCH_DATABASE_URL:-}
readonly DURATION=${BENCH_DURATION:-10s}
readonly WARMUP=${BENCH_WARMUP:-3s}
readonly RUNS=${BENCH_RUNS:-3}
readonly CONNECTIONS=${BENCH_CONNECTIONS:-32}
readonly THREADS=${BENCH_THREADS:-2}
readonly RESULTS=bench/results/ingest.md

# The issue's target, for SQLite.
readonly TARGET_RPS=5000
readonly TARGET_P99_MS=25

log() { printf 'bench-ingest.sh: %s\n' "$*" >&2; }
die() {
	log "$*"
	exit 1
}
for cmd in wrk curl jq; do
	command -v "${cmd}" >/dev/null 2>&1 || die "${cmd} is needed (Debian: apt-get install ${cmd})"
done

while read -r var; do unset "${var}"; done < <(compgen -v KEEL_ || true)
runtime_env=$(env | grep -E '^(GOGC|GOMEMLIMIT|GOMAXPROCS|GODEBUG)=' | sort | paste -sd' ' || true)

tmp=$(mktemp -d "${TMPDIR:-/tmp}/keel-ingest.XXXXXX")
keel_pid=
cleanup() {
	if [[ -n ${keel_pid} ]]; then
		kill -TERM "${keel_pid}" 2>/dev/null || true
		wait "${keel_pid}" 2>/dev/null || true
	fi
	rm -rf "${tmp}"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

log "building keel"
go build -o "${tmp}/keel" ./cmd/keel

mkdir "${tmp}/data"
env KEEL_DISPATCHER=off KEEL_SUBMIT_PER_IP=100000000 KEEL_SUBMIT_PER_FORM=100000000 \
	${DATABASE_URL:+KEEL_DATABASE_URL="${DATABASE_URL}"} \
	"${tmp}/keel" serve --http-addr 127.0.0.1:0 --data-dir "${tmp}/data" >>"${tmp}/keel.log" 2>"${tmp}/keel.err" &
keel_pid=$!
addr=
for _ in $(seq 100); do
	addr=$(grep -m1 '"msg":"listening"' "${tmp}/keel.log" | sed -n 's/.*"addr":"\([^"]*\)".*/\1/p' || true)
	[[ -n ${addr} ]] && break
	kill -0 "${keel_pid}" 2>/dev/null || die "keel exited: $(cat "${tmp}/keel.err")"
	sleep 0.1
done
[[ -n ${addr} ]] || die "keel did not log its listening line within 10s"
base="http://${addr}"

# api METHOD PATH BODY calls the management API as the administrator and
# prints the answer's body; anything but a 2xx stops the script.
api() {
	local auth=()
	[[ -z ${token:-} ]] || auth=(-H "Authorization: Bearer ${token}")
	curl -sS --fail-with-body -X "$1" "${base}$2" "${auth[@]}" -H 'Content-Type: application/json' -d "$3"
}
token=$(api POST /v1/setup '{"email":"bench@example.com","password":"correct horse battery","name":"Bench"}' | jq -r .token)
api POST /v1/workspaces '{"name":"Bench","slug":"bench"}' >/dev/null
form=$(api POST /v1/workspaces/bench/forms '{"name":"Contact",
	"fields":[{"name":"name","type":"text","required":true},{"name":"email","type":"email","required":true},
	          {"name":"message","type":"textarea","max_length":5000}],
	"notify":{"recipients":["team@example.com"],"subject":"Contact from {{.Fields.name}}"},
	"autoresponder":{"enabled":true,"email_field":"email","subject":"Thanks","text":"We got your message."}}' | jq -r .id)
url="${base}/v1/forms/${form}/submissions"

cat >"${tmp}/json.lua" <<'EOF'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"name":"Ada","email":"ada@example.com","message":"Hello there, this is a test message."}'
EOF
cat >"${tmp}/form.lua" <<'EOF'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.body = "name=Ada&email=ada%40example.com&message=Hello+there%2C+this+is+a+test+message."
EOF
scenarios=(json form)
declare -A label=([json]="JSON" [form]="form-encoded")

busy_ticks() { awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8 + $9; exit }' /proc/stat; }
proc_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
children_ticks() {
	awk -v hz="$(getconf CLK_TCK)" 'NR == 2 {
		t = 0
		for (i = 1; i <= 2; i++) { split($i, p, /[ms]/); t += p[1] * 60 + p[2] }
		printf "%.0f", t * hz
	}' "$1"
}

# load NAME DURATION runs wrk on scenario NAME and checks that every answer
# was a 2xx and no socket failed. Unless warming is 1, it appends to
# $tmp/NAME.runs: req/s, p50 and p99 in ms, the server's CPU time per
# request in µs, the CPUs that other processes kept busy, and wrk's CPU
# time per request in µs.
load() {
	local name=$1 duration=$2 out="${tmp}/wrk.out" requests non2xx
	local busy0 server0 wrk0 start_ns busy1 server1 wrk1 end_ns
	times >"${tmp}/times.0"
	busy0=$(busy_ticks) server0=$(proc_ticks "${keel_pid}") start_ns=$(date +%s%N)
	if ! wrk -t"${THREADS}" -c"${CONNECTIONS}" -d"${duration}" --latency -s "${tmp}/${name}.lua" "${url}" >"${out}" 2>&1; then
		cat "${out}" >&2
		die "${name}: wrk failed"
	fi
	busy1=$(busy_ticks) server1=$(proc_ticks "${keel_pid}") end_ns=$(date +%s%N)
	times >"${tmp}/times.1"
	wrk0=$(children_ticks "${tmp}/times.0") wrk1=$(children_ticks "${tmp}/times.1")
	if grep -q '^ *Socket errors' "${out}"; then
		cat "${out}" >&2
		die "${name}: wrk saw socket errors"
	fi
	requests=$(awk '/ requests in / { print $1 }' "${out}")
	non2xx=$(awk '/Non-2xx or 3xx responses:/ { print $NF }' "${out}")
	[[ -z ${non2xx} ]] || die "${name}: ${non2xx} of ${requests} answers were not 2xx"
	if ((warming)); then
		return
	fi
	awk -v hz="$(getconf CLK_TCK)" -v requests="${requests}" -v seconds="$(((end_ns - start_ns) / 1000000))e-3" \
		-v busy=$((busy1 - busy0)) -v server=$((server1 - server0)) -v wrk=$((wrk1 - wrk0)) '
		function ms(v) {
			if (v ~ /us$/) return v / 1000
			if (v ~ /ms$/) return v + 0
			if (v ~ /s$/) return v * 1000
			return v + 0
		}
		/^Requests\/sec:/ { rps = $2 }
		$1 == "50%" { p50 = ms($2) }
		$1 == "99%" { p99 = ms($2) }
		END {
			other = (busy - server - wrk) / hz / seconds
			printf "%.0f %.2f %.2f %.1f %.2f %.1f\n", rps, p50, p99, server / hz * 1e6 / requests, other < 0 ? 0 : other, wrk / hz * 1e6 / requests
		}
	' "${out}" >>"${tmp}/${name}.runs"
}

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
log "warming up: ${WARMUP} per scenario"
warming=1
for name in "${scenarios[@]}"; do load "${name}" "${WARMUP}"; done
warming=0
for run in $(seq "${RUNS}"); do
	for name in "${scenarios[@]}"; do
		log "run ${run}/${RUNS}: ${label[${name}]} (wrk -t${THREADS} -c${CONNECTIONS} -d${DURATION})"
		load "${name}" "${DURATION}"
		: >"${tmp}/keel.log" # opened for appending, so truncating it is safe
	done
done

median_run() { sort -n "${tmp}/$1.runs" | sed -n "$(((RUNS + 1) / 2))p"; }
all_runs() { awk '{ printf "%s%s (p99 %s, other %s)", sep, $1, $3, $5; sep = " / " }' "${tmp}/$1.runs"; }
other_load() { cat "${tmp}"/*.runs | awk '{ s += $5; if ($5 > m) m = $5 } END { printf "%.2f (at most %.2f)", s / NR, m }'; }
met() { if awk "BEGIN { exit !($1) }"; then echo "met"; else echo "**not met**"; fi; }

commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
[[ -z $(git status --porcelain 2>/dev/null) ]] || commit+=" with uncommitted changes"
engine=sqlite
[[ ${DATABASE_URL} == postgres* ]] && engine=postgres
{
	echo "## Keel submission ingest, $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo
	echo "- Keel ${commit}, $(go env GOVERSION), $(wrk -v 2>&1 | awk 'NR == 1 { print $1, $2 }'), $(nproc) CPUs, database: ${engine}."
	echo "- \`wrk -t${THREADS} -c${CONNECTIONS} -d${DURATION} --latency\` on 127.0.0.1 after a ${WARMUP} warm-up per scenario;"
	echo "  ${RUNS} rounds; each row is the median round by req/s."
	echo "- Load average before the runs: ${load_before}; other processes kept $(other_load) CPUs busy during the measured runs."
	echo "  Go runtime settings in the environment: ${runtime_env:-none}."
	echo
	echo "| Scenario | req/s | p50 | p99 | server CPU/req | wrk CPU/req | target (SQLite: ≥ ${TARGET_RPS}/s, p99 < ${TARGET_P99_MS} ms) | runs: req/s (p99 ms, other CPUs) |"
	echo "|---|---:|---:|---:|---:|---:|---|---|"
	for name in "${scenarios[@]}"; do
		read -r rps p50 p99 server_us _ wrk_us < <(median_run "${name}")
		verdict=reported
		[[ ${engine} == sqlite ]] && verdict=$(met "${rps} >= ${TARGET_RPS} && ${p99} < ${TARGET_P99_MS}")
		printf '| %s, %s | %s | %s ms | %s ms | %s µs | %s µs | %s | %s |\n' "${engine}" "${label[${name}]}" "${rps}" "${p50}" "${p99}" "${server_us}" "${wrk_us}" "${verdict}" "$(all_runs "${name}")"
	done
} >"${tmp}/report.md"

mkdir -p "$(dirname "${RESULTS}")"
cp "${tmp}/report.md" "${RESULTS}"
cat "${RESULTS}"
log "written to ${RESULTS}"
