#!/usr/bin/env bash
# bench-webhooks.sh measures webhook delivery, the issue 11 figures in
# BENCHMARKS.md, on SQLite, everything on 127.0.0.1:
#
# 1. Ingest with and without fan-out: one keel serve (KEEL_DISPATCHER=off,
#    as in scripts/bench-ingest.sh) with two workspaces, each with the
#    bench-ingest form (3 fields, a notification, an autoresponder); one
#    has no webhooks, the other 3 endpoints subscribed to
#    submission.created, so that each of its submissions also queues 3
#    deliveries in its transaction. wrk posts JSON to each form in turn,
#    BENCH_RUNS rounds; the report gives the fan-out's req/s as a share of
#    the plain form's in the same round.
# 2. bench/webhookrun: signed deliveries per second from one keel worker
#    to a local receiver that verifies every signature (one endpoint, then
#    BENCH_ENDPOINTS endpoints on the same receiver), and the time from a
#    submission's answer to its delivery's arrival on an idle keel serve.
#
# The report goes to stdout and to bench/results/webhooks.md (not committed).
#
# Usage: scripts/bench-webhooks.sh
# Settings (environment):
#   BENCH_DURATION, BENCH_WARMUP, BENCH_RUNS, BENCH_CONNECTIONS, BENCH_THREADS
#                    the wrk runs of part 1, as in scripts/bench-ingest.sh
#   BENCH_EVENTS     events queued for each throughput run (default 20000)
#   BENCH_ENDPOINTS  endpoints of the second throughput scenario (default 8)
#   BENCH_SAMPLES    latency samples (default 200)
set -euo pipefail

# shellcheck source=scripts/benchlib.sh
source "$(dirname "$0")/benchlib.sh"
cd "$(dirname "$0")/.."

wrk_settings 3s
readonly EVENTS=${BENCH_EVENTS:-20000}
readonly ENDPOINTS=${BENCH_ENDPOINTS:-8}
readonly SAMPLES=${BENCH_SAMPLES:-200}
readonly RESULTS=bench/results/webhooks.md

# The issue's targets.
readonly TARGET_PER_S=2000
readonly TARGET_INGEST_PCT=85
readonly TARGET_P50_MS=100

require wrk curl jq
keel_defaults
make_tmp webhooks

log "building keel and webhookrun"
go build -o "${tmp}/keel" ./cmd/keel
go build -o "${tmp}/webhookrun" ./bench/webhookrun

# Part 1: ingest.
mkdir "${tmp}/data"
start keel env KEEL_DISPATCHER=off KEEL_SUBMIT_PER_IP=100000000 KEEL_SUBMIT_PER_FORM=100000000 \
	KEEL_WEBHOOK_ALLOW_HTTP=true KEEL_WEBHOOK_ALLOW_NETWORKS=127.0.0.0/8 \
	"${tmp}/keel" serve --http-addr 127.0.0.1:0 --data-dir "${tmp}/data"
keel_pid=${server_pid}
base="http://${server_addr}"

api() {
	local auth=()
	[[ -z ${token:-} ]] || auth=(-H "Authorization: Bearer ${token}")
	curl -sS --fail-with-body -X "$1" "${base}$2" "${auth[@]}" -H 'Content-Type: application/json' -d "$3"
}
token=$(api POST /v1/setup '{"email":"bench@example.com","password":"correct horse battery","name":"Bench"}' | jq -r .token)
declare -A url
for ws in plain fanout; do
	api POST /v1/workspaces "{\"name\":\"${ws}\",\"slug\":\"${ws}\"}" >/dev/null
	form=$(api POST "/v1/workspaces/${ws}/forms" '{"name":"Contact",
		"fields":[{"name":"name","type":"text","required":true},{"name":"email","type":"email","required":true},
		          {"name":"message","type":"textarea","max_length":5000}],
		"notify":{"recipients":["team@example.com"],"subject":"Contact from {{.Fields.name}}"},
		"autoresponder":{"enabled":true,"email_field":"email","subject":"Thanks","text":"We got your message."}}' | jq -r .id)
	url[${ws}]="${base}/v1/forms/${form}/submissions"
done
# The endpoints are never called (no dispatcher runs); loopback all the
# same, as every address a benchmark names must be.
for i in 1 2 3; do
	api POST /v1/workspaces/fanout/webhooks "{\"url\":\"http://127.0.0.1:9/hooks/${i}\",\"events\":[\"submission.created\"],\"enabled\":true}" >/dev/null
done

cat >"${tmp}/json.lua" <<'EOF'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"name":"Ada","email":"ada@example.com","message":"Hello there, this is a test message."}'
EOF
scenarios=(plain fanout)
declare -A label=([plain]="JSON, no webhooks" [fanout]="JSON, 3 endpoints")
scenario_pid() { echo "${keel_pid}"; }
scenario_args() { printf '%s\n' -s "${tmp}/json.lua" "${url[$1]}"; }
check_answers() { [[ -z $3 ]] || die "$1: $3 of $2 answers were not 2xx"; }
after_load() { ((warming)) || : >"${tmp}/keel.log"; }
wrk_cpu=1 # wrk's CPU time is its own column, not "other processes"
rounds
stop "${keel_pid}"
ingest_other=$(other_load)
# The fan-out's req/s as a share of the plain form's in the same round,
# the median over the rounds. benchlib's percent reads rows without wrk's
# CPU column; these have it (field 6), so the baseline's req/s is field 7.
ingest_pct=$(paste -d' ' "${tmp}/fanout.runs" "${tmp}/plain.runs" | awk '{ print 100 * $1 / $7 }' |
	sort -n | sed -n "$(((RUNS + 1) / 2))p" | xargs printf '%.0f')
ingest_rows=$(for name in "${scenarios[@]}"; do
	read -r rps p50 p99 server_us _ wrk_us < <(median_run "${name}")
	printf '| %s | %s | %s ms | %s ms | %s µs | %s µs | %s |\n' "${label[${name}]}" "${rps}" "${p50}" "${p99}" "${server_us}" "${wrk_us}" "$(all_runs "${name}")"
done)
deliveries=$(sqlite3 "${tmp}/data/keel.db" 'SELECT count(*) FROM webhook_deliveries' 2>/dev/null || echo "?")

# Part 2: delivery throughput and latency.
load_before2=$(cut -d' ' -f1-3 /proc/loadavg)
log "throughput, 1 endpoint: ${EVENTS} events"
"${tmp}/webhookrun" -bin "${tmp}/keel" -events "${EVENTS}" -endpoints 1 -runs "${RUNS}" -samples "${SAMPLES}" >"${tmp}/one.out"
per_endpoint_events=$((EVENTS / ENDPOINTS))
log "throughput, ${ENDPOINTS} endpoints: ${per_endpoint_events} events each"
"${tmp}/webhookrun" -bin "${tmp}/keel" -events "${per_endpoint_events}" -endpoints "${ENDPOINTS}" -runs "${RUNS}" -samples 0 >"${tmp}/many.out"
val() { sed -n "s/^$2=//p" "${tmp}/$1.out"; }

{
	echo "## Keel webhook delivery, $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo
	echo "- $(software), $(machine); SQLite."
	echo "- Load average before the ingest runs: ${load_before}; before the delivery runs: ${load_before2}."
	echo "  Go runtime settings in the environment: ${runtime_env:-none}."
	echo
	echo "Ingest: \`wrk -t${THREADS} -c${CONNECTIONS} -d${DURATION} --latency\`, ${RUNS} rounds after a ${WARMUP} warm-up,"
	echo "keel serve with KEEL_DISPATCHER=off; other processes kept ${ingest_other} CPUs busy;"
	echo "${deliveries} deliveries queued in all."
	echo
	echo "| Scenario | req/s | p50 | p99 | server CPU/req | wrk CPU/req | runs: req/s (p99 ms, other CPUs) |"
	echo "|---|---:|---:|---:|---:|---:|---|"
	echo "${ingest_rows}"
	echo
	echo "| Target | Measured | |"
	echo "|---|---:|---|"
	printf '| Ingest with 3 endpoints within 15%% of without (req/s, median of the rounds'"'"' ratios) | %s%% | %s |\n' "${ingest_pct}" "$(met "${ingest_pct} >= ${TARGET_INGEST_PCT}")"
	printf '| Signed deliveries/s to a local receiver, 1 endpoint, one keel worker: ≥ %s | %s (runs %s; %s/s first to last arrival) | %s |\n' \
		"${TARGET_PER_S}" "$(val one deliveries_per_s_median)" "$(val one deliveries_per_s_runs)" "$(val one steady_per_s_median)" "$(met "$(val one deliveries_per_s_median) >= ${TARGET_PER_S}")"
	printf '| The same, %s endpoints on the one receiver | %s (runs %s; %s/s first to last arrival) | %s |\n' \
		"${ENDPOINTS}" "$(val many deliveries_per_s_median)" "$(val many deliveries_per_s_runs)" "$(val many steady_per_s_median)" "$(met "$(val many deliveries_per_s_median) >= ${TARGET_PER_S}")"
	printf '| Submission answered to delivery arrived, idle: p50 < %s ms | p50 %s ms, p90 %s, p99 %s, max %s (%s samples) | %s |\n' \
		"${TARGET_P50_MS}" "$(val one latency_ms_p50)" "$(val one latency_ms_p90)" "$(val one latency_ms_p99)" "$(val one latency_ms_max)" "$(val one samples)" "$(met "$(val one latency_ms_p50) < ${TARGET_P50_MS}")"
	echo
	echo "Delivery CPU per delivery (medians): 1 endpoint, worker $(val one worker_cpu_us_median) µs, receiver $(val one receiver_cpu_us_median) µs,"
	echo "other CPUs busy $(val one other_cpus_runs); ${ENDPOINTS} endpoints, worker $(val many worker_cpu_us_median) µs, receiver"
	echo "$(val many receiver_cpu_us_median) µs, other CPUs busy $(val many other_cpus_runs)."
} >"${tmp}/report.md"

publish_report
