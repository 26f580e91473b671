#!/usr/bin/env bash
# bench.sh measures what BENCHMARKS.md records (make bench runs it after the
# Go micro-benchmarks): throughput and latency of keel serve under wrk next
# to bench/bare, a bare net/http server that marks the machine's ceiling;
# the time from process start to a 200 from GET /readyz on an empty SQLite
# database; and the resident memory of an idle server.
#
# Everything runs on 127.0.0.1 on ports the servers pick themselves (port 0,
# read back from their listening log line). Keel's access log, one JSON line
# per request, goes to a file as in production: it is part of the cost.
# The load generator and the servers share the machine's CPUs; nothing is
# pinned, so the bare server's figures are the ceiling on this machine and
# Keel's are judged against them, measured in the same run.
#
# The report goes to stdout and to bench/results/latest.md (not committed).
#
# Usage: scripts/bench.sh
# Settings (environment):
#   BENCH_DURATION     length of each measured wrk run (default 10s)
#   BENCH_WARMUP       length of the warm-up run per scenario (default 2s)
#   BENCH_RUNS         measured runs per scenario; the median counts (default 3)
#   BENCH_CONNECTIONS  wrk connections (default 32)
#   BENCH_THREADS      wrk threads (default 2)
#   BENCH_STARTS       start-ups timed (default 10)
#   BENCH_IDLE         seconds an idle server rests before its RSS is read (default 3)
set -euo pipefail

# shellcheck source=scripts/benchlib.sh
source "$(dirname "$0")/benchlib.sh"
cd "$(dirname "$0")/.."

wrk_settings 2s
readonly STARTS=${BENCH_STARTS:-10}
readonly IDLE=${BENCH_IDLE:-3}
readonly RESULTS=bench/results/latest.md

# The issue's targets.
readonly TARGET_PERCENT_OF_BARE=60
readonly TARGET_READY_MS=300
readonly TARGET_IDLE_RSS_MB=40

# need makes sure command $1 exists, installing Debian package $2 when
# running as root and saying what is missing otherwise.
need() {
	command -v "$1" >/dev/null 2>&1 && return
	if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
		log "installing $2"
		if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null; then
			apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null
		fi
		command -v "$1" >/dev/null 2>&1 && return
	fi
	die "$1 is needed: install it (Debian: apt-get install $2) and run again"
}
need wrk wrk
need curl curl

keel_defaults
make_tmp bench

log "building keel, bench/bare and bench/startup"
go build -o "${tmp}/keel" ./cmd/keel
go build -o "${tmp}/bare" ./bench/bare
go build -o "${tmp}/startup" ./bench/startup

# rss_kb PID FIELD prints a /proc/PID/status memory field (VmRSS, VmHWM) in kB.
rss_kb() { awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status"; }

# mb KB prints kB (KiB, as /proc counts) in decimal megabytes.
mb() { awk -v k="$1" 'BEGIN { printf "%.1f", k * 1024 / 1e6 }'; }

# --- Start-up ---------------------------------------------------------------

log "timing ${STARTS} start-ups on empty SQLite databases"
"${tmp}/startup" -bin "${tmp}/keel" -runs "${STARTS}" >"${tmp}/startup.out"
startup() { sed -n "s/^$1=//p" "${tmp}/startup.out"; }
ready_median=$(startup ready_ms_median)
ready_max=$(startup ready_ms_max)
startup_median=$(startup startup_ms_median)
startup_max=$(startup startup_ms_max)

# --- Idle memory ------------------------------------------------------------

log "reading the RSS of an idle server (${IDLE}s after a few requests)"
mkdir "${tmp}/idle-data"
start keel-idle "${tmp}/keel" serve --http-addr 127.0.0.1:0 --data-dir "${tmp}/idle-data"
for _ in 1 2 3 4 5; do
	for path in /healthz /readyz /v1/nope; do
		curl -s -o /dev/null "http://${server_addr}${path}"
	done
done
sleep "${IDLE}"
idle_rss_kb=$(rss_kb "${server_pid}" VmRSS)
stop "${server_pid}"

# --- Throughput -------------------------------------------------------------

start bare "${tmp}/bare" -addr 127.0.0.1:0
bare_addr=${server_addr}
bare_pid=${server_pid}
mkdir "${tmp}/load-data"
start keel "${tmp}/keel" serve --http-addr 127.0.0.1:0 --data-dir "${tmp}/load-data"
keel_addr=${server_addr}
keel_pid=${server_pid}
keel_log=${tmp}/keel.log

# The scenarios, in the order each round runs them. Each Keel scenario is
# compared with the bare one answering the same status, run just before it.
scenarios=(bare-healthz keel-healthz bare-404 keel-404)
declare -A url=(
	[bare-healthz]="http://${bare_addr}/healthz"
	[keel-healthz]="http://${keel_addr}/healthz"
	[bare-404]="http://${bare_addr}/v1/nope"
	[keel-404]="http://${keel_addr}/v1/nope"
)
declare -A pid_of=([bare-healthz]=${bare_pid} [keel-healthz]=${keel_pid} [bare-404]=${bare_pid} [keel-404]=${keel_pid})
declare -A label=(
	[bare-healthz]="bare net/http, GET /healthz"
	[keel-healthz]="Keel, GET /healthz"
	[bare-404]="bare net/http, GET /v1/nope (404)"
	[keel-404]="Keel, GET /v1/nope (404 problem+json)"
)
declare -A baseline=([keel-healthz]=bare-healthz [keel-404]=bare-404)

scenario_pid() { echo "${pid_of[$1]}"; }
scenario_args() { echo "${url[$1]}"; }
# check_answers NAME REQUESTS NON2XX: every answer must have had the
# scenario's status.
check_answers() {
	case $1 in
	*-404) [[ ${3:-0} -eq $2 ]] || die "$1: ${3:-0} of $2 answers were not 2xx, want all 404" ;;
	*) [[ -z $3 ]] || die "$1: $3 of $2 answers were not 2xx" ;;
	esac
}
# after_load empties Keel's access log, opened for appending, so truncating
# it is safe.
after_load() { : >"${keel_log}"; }

rounds
loaded_rss_kb=$(rss_kb "${keel_pid}" VmRSS)
loaded_hwm_kb=$(rss_kb "${keel_pid}" VmHWM)

# all_rps NAME prints each run's req/s, in order.
all_rps() { awk '{ printf "%s%s", sep, $1; sep = " / " }' "${tmp}/$1.runs"; }
# --- Report -----------------------------------------------------------------

fs=$(df -T "${tmp}" | awk 'NR == 2 { print $2 }')
idle_mb=$(mb "${idle_rss_kb}")
pct_healthz=$(percent keel-healthz)
pct_404=$(percent keel-404)

{
	echo "## Keel benchmarks, $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo
	echo "- Machine: $(machine)."
	echo "- Software: $(software)."
	echo "- Load: \`wrk -t${THREADS} -c${CONNECTIONS} -d${DURATION} --latency\` on 127.0.0.1 after a ${WARMUP} warm-up per scenario;"
	echo "  ${RUNS} rounds of the four scenarios in turn; each row is the median round by req/s."
	echo "  % of bare is the median over the rounds of Keel's req/s over the bare server's in the same round."
	echo "- wrk and the servers share the $(nproc) CPUs; nothing is pinned. Load average before the runs: ${load_before};"
	echo "  other processes kept $(other_load) CPUs busy during the measured runs."
	echo "- Keel runs \`keel serve\` on its defaults (SQLite); its access log, a JSON line per request, goes to a file on ${fs}."
	echo "  Go runtime settings in the environment: ${runtime_env:-none}."
	echo "  Server CPU is the server process's user and system time per request, kernel network work on its behalf included."
	echo
	echo "| Scenario | req/s | p50 | p99 | server CPU/req | % of bare | runs (req/s) |"
	echo "|---|---:|---:|---:|---:|---:|---|"
	percent_rows all_rps
	echo
	echo "| Measure | Value |"
	echo "|---|---:|"
	echo "| Start-up to first 200 from GET /readyz, empty SQLite, median of ${STARTS} | ${ready_median} ms |"
	echo "| Start-up to first 200 from GET /readyz, slowest of ${STARTS} | ${ready_max} ms |"
	echo "| Server's own startup_ms (listening log line), median / slowest | ${startup_median} / ${startup_max} ms |"
	echo "| Idle RSS, ${IDLE}s after 15 requests | ${idle_mb} MB |"
	echo "| RSS after the load runs / peak (VmHWM) | $(mb "${loaded_rss_kb}") / $(mb "${loaded_hwm_kb}") MB |"
	echo
	echo "| Target | Measured | |"
	echo "|---|---:|---|"
	echo "| GET /healthz keeps >= ${TARGET_PERCENT_OF_BARE}% of bare req/s | ${pct_healthz}% | $(met "${pct_healthz} >= ${TARGET_PERCENT_OF_BARE}") |"
	echo "| 404 problem keeps >= ${TARGET_PERCENT_OF_BARE}% of bare req/s | ${pct_404}% | $(met "${pct_404} >= ${TARGET_PERCENT_OF_BARE}") |"
	echo "| Ready < ${TARGET_READY_MS} ms (median; slowest ${ready_max} ms) | ${ready_median} ms | $(met "${ready_median} < ${TARGET_READY_MS}") |"
	echo "| Idle RSS < ${TARGET_IDLE_RSS_MB} MB | ${idle_mb} MB | $(met "${idle_mb} < ${TARGET_IDLE_RSS_MB}") |"
} >"${tmp}/report.md"

publish_report
