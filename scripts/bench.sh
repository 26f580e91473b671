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

cd "$(dirname "$0")/.."

readonly DURATION=${BENCH_DURATION:-10s}
readonly WARMUP=${BENCH_WARMUP:-2s}
readonly RUNS=${BENCH_RUNS:-3}
readonly CONNECTIONS=${BENCH_CONNECTIONS:-32}
readonly THREADS=${BENCH_THREADS:-2}
readonly STARTS=${BENCH_STARTS:-10}
readonly IDLE=${BENCH_IDLE:-3}
readonly RESULTS=bench/results/latest.md

# The issue's targets.
readonly TARGET_PERCENT_OF_BARE=60
readonly TARGET_READY_MS=300
readonly TARGET_IDLE_RSS_MB=40

log() { printf 'bench.sh: %s\n' "$*" >&2; }
die() {
	log "$*"
	exit 1
}

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

# Keel must run on its defaults (embedded SQLite, no trace export),
# whatever this shell holds. The Go runtime's variables are kept, so
# GOGC=400 scripts/bench.sh measures that setting; the report names them.
while read -r var; do unset "${var}"; done < <(compgen -v KEEL_ || true)
runtime_env=$(env | grep -E '^(GOGC|GOMEMLIMIT|GOMAXPROCS|GODEBUG)=' | sort | paste -sd' ' || true)

tmp=$(mktemp -d "${TMPDIR:-/tmp}/keel-bench.XXXXXX")
pids=()
cleanup() {
	local pid
	for pid in "${pids[@]}"; do
		kill -TERM "${pid}" 2>/dev/null || true
	done
	for pid in "${pids[@]}"; do
		wait "${pid}" 2>/dev/null || true
	done
	rm -rf "${tmp}"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

log "building keel, bench/bare and bench/startup"
go build -o "${tmp}/keel" ./cmd/keel
go build -o "${tmp}/bare" ./bench/bare
go build -o "${tmp}/startup" ./bench/startup

# start NAME CMD... runs CMD in the background, its stdout appended to
# $tmp/NAME.log, and waits for its listening line. It sets server_pid and
# server_addr.
start() {
	local name=$1 line
	shift
	"$@" >>"${tmp}/${name}.log" 2>"${tmp}/${name}.err" &
	server_pid=$!
	pids+=("${server_pid}")
	for _ in $(seq 100); do
		line=$(grep -m1 '"msg":"listening"' "${tmp}/${name}.log" || true)
		if [[ -n ${line} ]]; then
			server_addr=$(sed -n 's/.*"addr":"\([^"]*\)".*/\1/p' <<<"${line}")
			[[ -n ${server_addr} ]] || die "${name}: no address in ${line}"
			return
		fi
		kill -0 "${server_pid}" 2>/dev/null || die "${name} exited: $(cat "${tmp}/${name}.err")"
		sleep 0.1
	done
	die "${name} did not log its listening line within 10s"
}

# stop PID stops a server that start started and forgets it.
stop() {
	local pid kept=()
	kill -TERM "$1"
	wait "$1" 2>/dev/null || true
	for pid in "${pids[@]}"; do
		[[ ${pid} == "$1" ]] || kept+=("${pid}")
	done
	pids=("${kept[@]}")
}

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

# CPU time, in clock ticks (USER_HZ): of all CPUs busy; of process $1; and,
# from the output of the times builtin in file $1, of the children this
# shell has waited for (wrk, once it exits). times must run in this shell,
# not in a $(...) subshell, which has children of its own.
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
# had the scenario's status and no socket failed. Unless warming is 1, it
# appends to $tmp/NAME.runs: req/s, p50 and p99 in ms, the server's CPU
# time per request in µs, and the CPUs that other processes kept busy.
load() {
	local name=$1 duration=$2 out="${tmp}/wrk.out" requests non2xx
	local busy0 server0 wrk0 start_ns busy1 server1 wrk1 end_ns
	times >"${tmp}/times.0"
	busy0=$(busy_ticks) server0=$(proc_ticks "${pid_of[${name}]}") start_ns=$(date +%s%N)
	if ! wrk -t"${THREADS}" -c"${CONNECTIONS}" -d"${duration}" --latency "${url[${name}]}" >"${out}" 2>&1; then
		cat "${out}" >&2
		die "${name}: wrk failed"
	fi
	busy1=$(busy_ticks) server1=$(proc_ticks "${pid_of[${name}]}") end_ns=$(date +%s%N)
	times >"${tmp}/times.1"
	wrk0=$(children_ticks "${tmp}/times.0") wrk1=$(children_ticks "${tmp}/times.1")
	if grep -q '^ *Socket errors' "${out}"; then
		cat "${out}" >&2
		die "${name}: wrk saw socket errors"
	fi
	requests=$(awk '/ requests in / { print $1 }' "${out}")
	non2xx=$(awk '/Non-2xx or 3xx responses:/ { print $NF }' "${out}")
	case ${name} in
	*-404) [[ ${non2xx:-0} -eq ${requests} ]] || die "${name}: ${non2xx:-0} of ${requests} answers were not 2xx, want all 404" ;;
	*) [[ -z ${non2xx} ]] || die "${name}: ${non2xx} of ${requests} answers were not 2xx" ;;
	esac
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
			printf "%.0f %.2f %.2f %.1f %.2f\n", rps, p50, p99, server / hz * 1e6 / requests, other < 0 ? 0 : other
		}
	' "${out}" >>"${tmp}/${name}.runs"
}

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
log "warming up: ${WARMUP} per scenario"
warming=1
for name in "${scenarios[@]}"; do load "${name}" "${WARMUP}"; done
warming=0
: >"${keel_log}" # opened for appending, so truncating it is safe

for run in $(seq "${RUNS}"); do
	for name in "${scenarios[@]}"; do
		log "run ${run}/${RUNS}: ${label[${name}]} (wrk -t${THREADS} -c${CONNECTIONS} -d${DURATION})"
		load "${name}" "${DURATION}"
		: >"${keel_log}"
	done
done
loaded_rss_kb=$(rss_kb "${keel_pid}" VmRSS)
loaded_hwm_kb=$(rss_kb "${keel_pid}" VmHWM)

# median_run NAME prints scenario NAME's median run by req/s.
median_run() { sort -n "${tmp}/$1.runs" | sed -n "$(((RUNS + 1) / 2))p"; }
# all_rps NAME prints each run's req/s, in order.
all_rps() { awk '{ printf "%s%s", sep, $1; sep = " / " }' "${tmp}/$1.runs"; }
# percent NAME prints the median, over the rounds, of NAME's req/s as a
# percentage of its baseline's in the same round: background load that
# comes and goes hits both runs of a round alike.
percent() {
	paste -d' ' "${tmp}/$1.runs" "${tmp}/${baseline[$1]}.runs" |
		awk '{ print 100 * $1 / $6 }' | sort -n | sed -n "$(((RUNS + 1) / 2))p" |
		xargs printf '%.0f'
}
# other_load prints the mean and the largest number of CPUs that other
# processes kept busy during the measured runs.
other_load() { cat "${tmp}"/*.runs | awk '{ s += $5; if ($5 > m) m = $5 } END { printf "%.2f (at most %.2f)", s / NR, m }'; }

# --- Report -----------------------------------------------------------------

met() { if awk "BEGIN { exit !($1) }"; then echo "met"; else echo "**not met**"; fi; }

commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
[[ -z $(git status --porcelain 2>/dev/null) ]] || commit+=" with uncommitted changes"
cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
mem_gib=$(awk '/^MemTotal:/ { printf "%.1f", $2 / 1048576 }' /proc/meminfo)
fs=$(df -T "${tmp}" | awk 'NR == 2 { print $2 }')
idle_mb=$(mb "${idle_rss_kb}")
pct_healthz=$(percent keel-healthz)
pct_404=$(percent keel-404)

{
	echo "## Keel benchmarks, $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo
	echo "- Machine: ${cpu}, $(nproc) CPUs, ${mem_gib} GiB, Linux $(uname -r)."
	echo "- Software: Keel ${commit}, $(go env GOVERSION), $(wrk -v 2>&1 | awk 'NR == 1 { print $1, $2 }')."
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
	for name in "${scenarios[@]}"; do
		read -r rps p50 p99 server_us _ < <(median_run "${name}")
		pct="-"
		if [[ -n ${baseline[${name}]:-} ]]; then
			pct="$(percent "${name}")%"
		fi
		printf '| %s | %s | %s ms | %s ms | %s µs | %s | %s |\n' "${label[${name}]}" "${rps}" "${p50}" "${p99}" "${server_us}" "${pct}" "$(all_rps "${name}")"
	done
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

mkdir -p "$(dirname "${RESULTS}")"
cp "${tmp}/report.md" "${RESULTS}"
cat "${RESULTS}"
log "written to ${RESULTS}"
