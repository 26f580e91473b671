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
#   BENCH_IDEMPOTENCY   1: also run the JSON scenario with a new Idempotency-Key on every
#                       request ("JSON, Idempotency-Key"), to compare ingest with and without
#                       a key (issue 12's < 10% cost); default 0
#   BENCH_LIMITS        raised (default): the submission quotas are set far above the load, so
#                       every request still pays for its buckets and RateLimit headers;
#                       off: they are 0, so no limiter runs and no header is written, to
#                       measure what the limits cost (issue 12's < 10% cost)
set -euo pipefail

# shellcheck source=scripts/benchlib.sh
source "$(dirname "$0")/benchlib.sh"
cd "$(dirname "$0")/.."

readonly DATABASE_URL=${BENCH_DATABASE_URL:-}
wrk_settings 3s
readonly RESULTS=bench/results/ingest.md

# The issue's target, for SQLite.
readonly TARGET_RPS=5000
readonly TARGET_P99_MS=25

require wrk curl jq
keel_defaults
make_tmp ingest

log "building keel"
go build -o "${tmp}/keel" ./cmd/keel

mkdir "${tmp}/data"
limit=100000000
case ${BENCH_LIMITS:-raised} in
raised) ;;
off) limit=0 ;;
*) die "BENCH_LIMITS must be raised or off" ;;
esac
start keel env KEEL_DISPATCHER=off KEEL_SUBMIT_PER_IP="${limit}" KEEL_SUBMIT_PER_FORM="${limit}" \
	${DATABASE_URL:+KEEL_DATABASE_URL="${DATABASE_URL}"} \
	"${tmp}/keel" serve --http-addr 127.0.0.1:0 --data-dir "${tmp}/data"
keel_pid=${server_pid}
base="http://${server_addr}"

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
# json-key is json with a key per request: each wrk thread numbers its
# requests after a prefix of its own (the run's start time and the
# thread's number), so that no request is a replay, in this run or
# another, and each one inserts its key and stores its response.
cat >"${tmp}/json-key.lua" <<'EOF'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"name":"Ada","email":"ada@example.com","message":"Hello there, this is a test message."}'
local threads = 0
function setup(thread)
	threads = threads + 1
	thread:set("tid", threads)
end
local prefix, n = "", 0
function init(args)
	prefix = string.format("bench-%d-%d-", os.time(), tid)
end
function request()
	n = n + 1
	wrk.headers["Idempotency-Key"] = prefix .. n
	return wrk.format()
end
EOF
scenarios=(json form)
declare -A label=([json]="JSON" [form]="form-encoded" [json-key]="JSON, Idempotency-Key")
[[ ${BENCH_IDEMPOTENCY:-0} != 1 ]] || scenarios+=(json-key)

scenario_pid() { echo "${keel_pid}"; }
scenario_args() { printf '%s\n' -s "${tmp}/$1.lua" "${url}"; }
# check_answers NAME REQUESTS NON2XX: every answer must have been a 2xx.
check_answers() { [[ -z $3 ]] || die "$1: $3 of $2 answers were not 2xx"; }
# after_load empties Keel's access log after each measured run: it is
# opened for appending, so truncating it is safe.
after_load() { ((warming)) || : >"${tmp}/keel.log"; }
wrk_cpu=1 # the report gives wrk's CPU time per request

rounds

engine=sqlite
[[ ${DATABASE_URL} == postgres* ]] && engine=postgres
{
	echo "## Keel submission ingest, $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo
	echo "- $(software), $(nproc) CPUs, database: ${engine}; submission quotas: ${BENCH_LIMITS:-raised} (\`BENCH_LIMITS\`)."
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

publish_report
