# shellcheck shell=bash
# benchlib.sh holds the shell code that scripts/bench.sh, scripts/bench-ingest.sh
# and scripts/bench-content.sh share: their method (servers on ports they pick,
# wrk rounds, CPU accounting) and the parts of their reports that are alike.
# Each script sources it before anything else runs:
#
#	source "$(dirname "$0")/benchlib.sh"
#
# Sourcing it only defines functions. It provides:
#
#   wrk_settings WARMUP    reads BENCH_DURATION, BENCH_WARMUP (default WARMUP),
#                          BENCH_RUNS, BENCH_CONNECTIONS and BENCH_THREADS
#   log MSG, die MSG       a message on stderr, prefixed with the script's name;
#                          die then exits 1
#   require CMD...         dies unless each command exists
#   keel_defaults          unsets the shell's KEEL_* variables; sets runtime_env
#   make_tmp NAME          makes the temporary directory $tmp and the traps that
#                          stop the servers and remove it on exit
#   start NAME CMD...      starts a server and waits for its listening line;
#                          sets server_pid and server_addr
#   stop PID               stops a server that start started
#   busy_ticks, proc_ticks PID, children_ticks FILE
#                          CPU time in clock ticks
#   load NAME DURATION     one wrk run on a scenario, appended to $tmp/NAME.runs
#   rounds                 the warm-up, then RUNS rounds of every scenario
#   median_run NAME, all_runs NAME, percent NAME, other_load, met EXPR
#                          figures for the report
#   percent_rows RUNS_FN   the rows of a report table comparing scenarios with
#                          their baselines
#   machine, software      the report's description of the machine and software
#   publish_report         copies $tmp/report.md to RESULTS and prints it
#
# What the caller must set, before calling the functions that use it:
#
#   THREADS, CONNECTIONS   wrk's -t and -c (load, rounds)
#   DURATION, WARMUP, RUNS measured run length, warm-up length, rounds (rounds,
#                          median_run, percent); wrk_settings sets all five
#   RESULTS                the report's path (publish_report)
#   scenarios              array of scenario names, in the order a round runs them
#   label                  associative array: scenario name -> its line in the log
#   baseline               associative array: scenario -> the scenario percent
#                          compares it with (percent)
#   scenario_pid NAME      function printing the PID of the server scenario NAME loads
#   scenario_args NAME     function printing, a word a line, wrk's arguments after
#                          its -t, -c, -d and --latency: the URL, and options
#   check_answers NAME REQUESTS NON2XX
#                          function that dies unless wrk's count of requests and of
#                          non-2xx/3xx answers (empty when none) is what NAME wants
#   after_load NAME        optional function, defined after sourcing, that rounds
#                          calls after each run of NAME, warm-up or measured
#                          (warming is 1 during the warm-up)
#   wrk_cpu                optional; 1 makes load also record wrk's CPU time per request

# The variables this file reads are set by the caller, and those it sets
# are for the caller.
# shellcheck disable=SC2034,SC2153,SC2154

# wrk_settings WARMUP sets, read-only, the settings of the wrk runs that each
# script takes from its environment: DURATION (BENCH_DURATION, default 10s),
# WARMUP (BENCH_WARMUP, default the argument), RUNS (BENCH_RUNS, default 3),
# CONNECTIONS (BENCH_CONNECTIONS, default 32), THREADS (BENCH_THREADS, default 2).
wrk_settings() {
	readonly DURATION=${BENCH_DURATION:-10s}
	readonly WARMUP=${BENCH_WARMUP:-$1}
	readonly RUNS=${BENCH_RUNS:-3}
	readonly CONNECTIONS=${BENCH_CONNECTIONS:-32}
	readonly THREADS=${BENCH_THREADS:-2}
}

# log and die speak for the script that sourced this file.
log() { printf '%s: %s\n' "${0##*/}" "$*" >&2; }
die() {
	log "$*"
	exit 1
}

# require CMD... dies, naming the Debian package, unless each command exists.
require() {
	local cmd
	for cmd in "$@"; do
		command -v "${cmd}" >/dev/null 2>&1 || die "${cmd} is needed (Debian: apt-get install ${cmd})"
	done
}

# keel_defaults makes Keel run on its defaults (embedded SQLite, no trace
# export), whatever this shell holds, by unsetting every KEEL_ variable. The Go
# runtime's variables are kept, so GOGC=400 measures that setting; it sets
# runtime_env to them, for the report to name.
keel_defaults() {
	local var
	while read -r var; do unset "${var}"; done < <(compgen -v KEEL_ || true)
	runtime_env=$(env | grep -E '^(GOGC|GOMEMLIMIT|GOMAXPROCS|GODEBUG)=' | sort | paste -sd' ' || true)
}

# make_tmp NAME makes the temporary directory $tmp (keel-NAME.XXXXXX) and
# traps exit, INT and TERM to stop the servers start started and remove it.
make_tmp() {
	tmp=$(mktemp -d "${TMPDIR:-/tmp}/keel-$1.XXXXXX")
	pids=()
	trap cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
}
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

# load NAME DURATION runs wrk on scenario NAME, checks that no socket failed,
# and leaves the answers to check_answers. Unless warming is 1, it appends to
# $tmp/NAME.runs: req/s, p50 and p99 in ms, the server's CPU time per
# request in µs, the CPUs that other processes kept busy, if wrk_cpu is 1,
# wrk's CPU time per request in µs and, if extra_cpu_ns NAME prints a
# counter of CPU nanoseconds (a database's container, say), that
# counter's growth per request in µs.
load() {
	local name=$1 duration=$2 out="${tmp}/wrk.out" requests non2xx pid args
	local busy0 server0 wrk0 start_ns busy1 server1 wrk1 end_ns extra0 extra1
	pid=$(scenario_pid "${name}")
	mapfile -t args < <(scenario_args "${name}")
	times >"${tmp}/times.0"
	extra0=$(extra_cpu_ns "${name}")
	busy0=$(busy_ticks) server0=$(proc_ticks "${pid}") start_ns=$(date +%s%N)
	if ! wrk -t"${THREADS}" -c"${CONNECTIONS}" -d"${duration}" --latency "${args[@]}" >"${out}" 2>&1; then
		cat "${out}" >&2
		die "${name}: wrk failed"
	fi
	busy1=$(busy_ticks) server1=$(proc_ticks "${pid}") end_ns=$(date +%s%N)
	extra1=$(extra_cpu_ns "${name}")
	times >"${tmp}/times.1"
	wrk0=$(children_ticks "${tmp}/times.0") wrk1=$(children_ticks "${tmp}/times.1")
	if grep -q '^ *Socket errors' "${out}"; then
		cat "${out}" >&2
		die "${name}: wrk saw socket errors"
	fi
	requests=$(awk '/ requests in / { print $1 }' "${out}")
	non2xx=$(awk '/Non-2xx or 3xx responses:/ { print $NF }' "${out}")
	check_answers "${name}" "${requests}" "${non2xx}"
	if ((warming)); then
		return
	fi
	awk -v hz="$(getconf CLK_TCK)" -v requests="${requests}" -v seconds="$(((end_ns - start_ns) / 1000000))e-3" \
		-v busy=$((busy1 - busy0)) -v server=$((server1 - server0)) -v wrk=$((wrk1 - wrk0)) -v wrk_cpu="${wrk_cpu:-0}" \
		-v extra="${extra0:+$((extra1 - extra0))}" '
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
			printf "%.0f %.2f %.2f %.1f %.2f", rps, p50, p99, server / hz * 1e6 / requests, other < 0 ? 0 : other
			if (wrk_cpu) printf " %.1f", wrk / hz * 1e6 / requests
			if (extra != "") printf " %.1f", extra / 1000 / requests
			printf "\n"
		}
	' "${out}" >>"${tmp}/${name}.runs"
}

# rounds sets load_before to the load average, warms every scenario up for
# WARMUP, then runs RUNS rounds of every scenario in turn for DURATION,
# calling after_load NAME after each run.
rounds() {
	local run name
	load_before=$(cut -d' ' -f1-3 /proc/loadavg)
	log "warming up: ${WARMUP} per scenario"
	warming=1
	for name in "${scenarios[@]}"; do
		load "${name}" "${WARMUP}"
		after_load "${name}"
	done
	warming=0
	for run in $(seq "${RUNS}"); do
		for name in "${scenarios[@]}"; do
			log "run ${run}/${RUNS}: ${label[${name}]} (wrk -t${THREADS} -c${CONNECTIONS} -d${DURATION})"
			load "${name}" "${DURATION}"
			after_load "${name}"
		done
	done
}
# after_load NAME does nothing; a caller that wants something done after each
# run defines its own after sourcing this file.
after_load() { :; }
# extra_cpu_ns NAME prints nothing: no other process's CPU is counted per
# request. A caller that wants one counted defines its own after sourcing
# this file.
extra_cpu_ns() { :; }

# median_run NAME prints scenario NAME's median run by req/s.
median_run() { sort -n "${tmp}/$1.runs" | sed -n "$(((RUNS + 1) / 2))p"; }
# all_runs NAME prints each run's req/s, p99 and other CPUs, in order.
all_runs() { awk '{ printf "%s%s (p99 %s, other %s)", sep, $1, $3, $5; sep = " / " }' "${tmp}/$1.runs"; }
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
# percent_rows RUNS_FN prints a report table row for each scenario: its label,
# its median run's req/s, p50, p99 and server CPU per request, its req/s as a
# percentage of its baseline's ("-" for a scenario without one), and what
# RUNS_FN NAME prints (all_runs, or the caller's own).
percent_rows() {
	local name rps p50 p99 server_us pct
	for name in "${scenarios[@]}"; do
		read -r rps p50 p99 server_us _ < <(median_run "${name}")
		pct="-"
		if [[ -n ${baseline[${name}]:-} ]]; then
			pct="$(percent "${name}")%"
		fi
		printf '| %s | %s | %s ms | %s ms | %s µs | %s | %s |\n' "${label[${name}]}" "${rps}" "${p50}" "${p99}" "${server_us}" "${pct}" "$("$1" "${name}")"
	done
}
# met EXPR prints whether the awk expression EXPR holds: met or **not met**.
met() { if awk "BEGIN { exit !($1) }"; then echo "met"; else echo "**not met**"; fi; }

# machine prints the CPU model, the number of CPUs, the memory and the kernel.
machine() {
	local cpu mem_gib
	cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
	mem_gib=$(awk '/^MemTotal:/ { printf "%.1f", $2 / 1048576 }' /proc/meminfo)
	echo "${cpu}, $(nproc) CPUs, ${mem_gib} GiB, Linux $(uname -r)"
}
# software prints Keel's commit (and whether the tree has uncommitted
# changes), Go's version and wrk's.
software() {
	local commit
	commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
	[[ -z $(git status --porcelain 2>/dev/null) ]] || commit+=" with uncommitted changes"
	echo "Keel ${commit}, $(go env GOVERSION), $(wrk -v 2>&1 | awk 'NR == 1 { print $1, $2 }')"
}

# publish_report copies $tmp/report.md to RESULTS and prints it.
publish_report() {
	mkdir -p "$(dirname "${RESULTS}")"
	cp "${tmp}/report.md" "${RESULTS}"
	cat "${RESULTS}"
	log "written to ${RESULTS}"
}
