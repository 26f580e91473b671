#!/usr/bin/env bash
# bench-ingest.sh measures submission ingest, the issue 4 and issue 14
# figures in BENCHMARKS.md: req/s and latency of POST
# /v1/forms/{form}/submissions under wrk, JSON and form-encoded, on a form
# with 3 fields, a notification and an autoresponder, so that each
# submission is validated and stored with its 2 outbox rows in one
# transaction.
#
# It runs on each engine in turn: SQLite in a temporary directory, and
# PostgreSQL in a container this script starts (local/postgres:15 from
# make images, published on 127.0.0.1 only, removed at the end) with the
# server's own settings, fsync on. keel serve runs as users run it: the
# dispatcher on (KEEL_DISPATCHER=on: mail is delivered over SMTP, to a
# Mailpit container the script starts the same way, while submissions
# arrive), the rate limits on their default store
# (shared in PostgreSQL on PostgreSQL) with the submission quotas raised out
# of the way; everything else is on its defaults, access log to a file
# included. wrk shares the machine's CPUs with the server, as in
# scripts/bench.sh, which this script follows in method and report: it
# prints the CPUs other processes kept busy during each run, because other
# work on a small machine moves req/s.
#
# The report goes to stdout and to bench/results/ingest.md (not committed).
#
# Usage: scripts/bench-ingest.sh
# Settings (environment):
#   BENCH_ENGINES       engines to measure, in turn (default "sqlite postgres")
#   BENCH_DATABASE_URL  a postgres:// URL to use instead of the container; it must name an
#                       empty or Keel-migrated database
#   BENCH_POSTGRES_IMAGE  the PostgreSQL image (default $KEEL_TEST_POSTGRES_IMAGE or local/postgres:15)
#   BENCH_MAILPIT_IMAGE   the Mailpit image (default $KEEL_TEST_MAILPIT_IMAGE or local/mailpit:v1.33.1)
#   BENCH_DISPATCHER    on (default): keel serve delivers the mail it queues during the runs;
#                       off: ingest only, nothing drains the outbox (the issue 4 figures)
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
#   BENCH_CLIENTS       one (default): every submission comes from 127.0.0.1, one client;
#                       spread: each names a random client in X-Forwarded-For (198.18.0.0/16,
#                       with keel trusting 127.0.0.1 as its proxy), as a busy form's visitors
#                       are, so that the submissions share the form's rate limit bucket only
#   BENCH_ADMIN_ADDR    keel's admin listener (default off); 127.0.0.1:PORT serves
#                       /debug/pprof/profile during the runs, to profile the server
set -euo pipefail

# shellcheck source=scripts/benchlib.sh
source "$(dirname "$0")/benchlib.sh"
cd "$(dirname "$0")/.."

read -r -a ENGINES <<<"${BENCH_ENGINES:-sqlite postgres}"
readonly ENGINES
readonly DATABASE_URL=${BENCH_DATABASE_URL:-}
readonly POSTGRES_IMAGE=${BENCH_POSTGRES_IMAGE:-${KEEL_TEST_POSTGRES_IMAGE:-local/postgres:15}}
readonly MAILPIT_IMAGE=${BENCH_MAILPIT_IMAGE:-${KEEL_TEST_MAILPIT_IMAGE:-local/mailpit:v1.33.1}}
readonly DISPATCHER=${BENCH_DISPATCHER:-on}
readonly ADMIN_ADDR=${BENCH_ADMIN_ADDR:-off}
wrk_settings 3s
readonly RESULTS=bench/results/ingest.md

# The issue 14 targets: on SQLite with the dispatcher on, and on PostgreSQL.
declare -A TARGET_RPS=([sqlite]=9000 [postgres]=3000)
declare -A TARGET_P99_MS=([sqlite]=25 [postgres]=50)

require wrk curl jq
keel_defaults
make_tmp ingest

case ${DISPATCHER} in
on | off) ;;
*) die "BENCH_DISPATCHER must be on or off" ;;
esac
limit=100000000
case ${BENCH_LIMITS:-raised} in
raised) ;;
off) limit=0 ;;
*) die "BENCH_LIMITS must be raised or off" ;;
esac

log "building keel"
go build -o "${tmp}/keel" ./cmd/keel

# containers lists the containers this script started, removed when it
# exits.
containers=()
trap 'docker rm -f "${containers[@]}" >/dev/null 2>&1 || true; cleanup' EXIT
# published_port CONTAINER PORT prints the port of 127.0.0.1 that Docker
# published CONTAINER's PORT on.
published_port() {
	docker port "$1" "$2/tcp" | sed -n 's/^127\.0\.0\.1:\([0-9]*\)$/\1/p' | head -1
}

# container_addr CONTAINER PORT prints the address keel serve reaches
# CONTAINER's PORT at: its own address on Docker's bridge network when the
# host reaches that, as a compose deployment's nodes reach their database,
# or else 127.0.0.1 and the port Docker published. The published port goes
# through docker-proxy, a process that copies every byte in user space:
# PostgreSQL's proxy alone took about a quarter of a CPU during the
# PostgreSQL rounds, a cost no deployment without that proxy pays
# (BENCHMARKS.md, issue 14).
container_addr() {
	local ip
	ip=$(docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$1" | head -1)
	if [[ -n ${ip} ]] && { exec 3<>"/dev/tcp/${ip}/$2" && exec 3<&-; } 2>/dev/null; then
		echo "${ip}:$2"
		return
	fi
	echo "127.0.0.1:$(published_port "$1" "$2")"
}

# smtp_greeting PORT prints the first line the SMTP server on 127.0.0.1:PORT
# sends, or nothing.
smtp_greeting() {
	local line=
	{ exec 3<>"/dev/tcp/127.0.0.1/$1" && read -r -t 1 line <&3 && exec 3<&-; } 2>/dev/null || true
	echo "${line}"
}

# mailpit_url starts Mailpit in a container, published on 127.0.0.1 only,
# and sets smtp_url once it accepts connections.
mailpit_url() {
	require docker
	log "starting Mailpit (${MAILPIT_IMAGE})"
	local c port
	c=$(docker run -d --rm -p 127.0.0.1::1025 "${MAILPIT_IMAGE}")
	containers+=("${c}")
	port=$(published_port "${c}" 1025)
	[[ -n ${port} ]] || die "Mailpit: no published port"
	for _ in $(seq 300); do
		# Docker's proxy accepts a connection before Mailpit listens, so
		# only Mailpit's greeting counts.
		if [[ $(smtp_greeting "${port}") == 220* ]]; then
			smtp_url="smtp://$(container_addr "${c}" 1025)?tls=none"
			return
		fi
		sleep 0.1
	done
	die "Mailpit did not accept connections within 30s"
}

# postgres_url sets pg_url: BENCH_DATABASE_URL, or else a PostgreSQL it
# starts in a container, published on 127.0.0.1 only and removed when the
# script exits, once it accepts connections over TCP.
postgres_url() {
	if [[ -n ${DATABASE_URL} ]]; then
		pg_url=${DATABASE_URL}
		return
	fi
	require docker
	log "starting PostgreSQL (${POSTGRES_IMAGE})"
	local container port
	container=$(docker run -d --rm -p 127.0.0.1::5432 -e POSTGRES_USER=keel -e POSTGRES_PASSWORD=bench \
		-e POSTGRES_DB=keel "${POSTGRES_IMAGE}")
	containers+=("${container}")
	pg_container=${container}
	port=$(published_port "${container}" 5432)
	[[ -n ${port} ]] || die "PostgreSQL: no published port"
	# The entrypoint's init server listens on its Unix socket alone, so
	# pg_isready over TCP answers only once the real server runs.
	for _ in $(seq 300); do
		if docker exec "${container}" pg_isready -h 127.0.0.1 -U keel -d keel >/dev/null 2>&1; then
			pg_url="postgres://keel:bench@$(container_addr "${container}" 5432)/keel?sslmode=disable"
			return
		fi
		sleep 0.1
	done
	die "PostgreSQL did not accept connections within 30s: $(docker logs "${container}" 2>&1 | tail -5)"
}

# api METHOD PATH BODY calls the management API as the administrator and
# prints the answer's body; anything but a 2xx stops the script.
api() {
	local auth=()
	[[ -z ${token:-} ]] || auth=(-H "Authorization: Bearer ${token}")
	curl -sS --fail-with-body -X "$1" "${base}$2" "${auth[@]}" -H 'Content-Type: application/json' -d "$3"
}

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
# With BENCH_CLIENTS=spread every request names a random client, as a
# reverse proxy in front of Keel would.
proxy_env=()
case ${BENCH_CLIENTS:-one} in
one) ;;
spread)
	proxy_env=(KEEL_TRUSTED_PROXIES=127.0.0.1)
	for f in json form; do
		cat >>"${tmp}/${f}.lua" <<'EOF'
function request()
	wrk.headers["X-Forwarded-For"] = string.format("198.18.%d.%d", math.random(0, 255), math.random(1, 254))
	return wrk.format()
end
EOF
	done
	;;
*) die "BENCH_CLIENTS must be one or spread" ;;
esac
kinds=(json form)
declare -A label=([json]="JSON" [form]="form-encoded" [json-key]="JSON, Idempotency-Key")
[[ ${BENCH_IDEMPOTENCY:-0} != 1 ]] || kinds+=(json-key)

# Scenarios are named ENGINE-KIND (sqlite-json), so that each engine's
# runs are kept apart.
scenario_pid() { echo "${keel_pid}"; }
scenario_args() { printf '%s\n' -s "${tmp}/${1#*-}.lua" "${url}"; }
# check_answers NAME REQUESTS NON2XX: every answer must have been a 2xx.
check_answers() { [[ -z $3 ]] || die "$1: $3 of $2 answers were not 2xx"; }
# after_load empties Keel's access log after each measured run: it is
# opened for appending, so truncating it is safe.
after_load() { ((warming)) || : >"${tmp}/keel.log"; }
wrk_cpu=1 # the report gives wrk's CPU time per request
# extra_cpu_ns counts, for the PostgreSQL scenarios, the CPU time of the
# PostgreSQL container this script started (its cgroup's counter, v1 or
# v2), so that the report gives the server's CPU per submission beside
# Keel's.
pg_container=
extra_cpu_ns() {
	[[ $1 == postgres-* && -n ${pg_container} ]] || return 0
	local v1=/sys/fs/cgroup/cpuacct/docker/${pg_container}/cpuacct.usage
	local v2=/sys/fs/cgroup/system.slice/docker-${pg_container}.scope/cpu.stat
	if [[ -r ${v1} ]]; then
		cat "${v1}"
	elif [[ -r ${v2} ]]; then
		awk '$1 == "usage_usec" { print $2 * 1000 }' "${v2}"
	fi
}

mail_env=()
if [[ ${DISPATCHER} == on ]]; then
	mailpit_url
	mail_env=(KEEL_SMTP_URL="${smtp_url}")
fi
rows=()
loads=()
for engine in "${ENGINES[@]}"; do
	db_env=()
	case ${engine} in
	sqlite) ;;
	postgres)
		postgres_url
		db_env=(KEEL_DATABASE_URL="${pg_url}")
		;;
	*) die "BENCH_ENGINES: unknown engine ${engine}" ;;
	esac
	rm -rf "${tmp}/data" && mkdir "${tmp}/data"
	: >"${tmp}/keel.log"
	start keel env KEEL_DISPATCHER="${DISPATCHER}" KEEL_ADMIN_ADDR="${ADMIN_ADDR}" "${proxy_env[@]}" \
		KEEL_SUBMIT_PER_IP="${limit}" KEEL_SUBMIT_PER_FORM="${limit}" "${db_env[@]}" "${mail_env[@]}" \
		"${tmp}/keel" serve --http-addr 127.0.0.1:0 --data-dir "${tmp}/data"
	keel_pid=${server_pid}
	base="http://${server_addr}"
	token=
	token=$(api POST /v1/setup '{"email":"bench@example.com","password":"correct horse battery","name":"Bench"}' | jq -r .token)
	api POST /v1/workspaces '{"name":"Bench","slug":"bench"}' >/dev/null
	form=$(api POST /v1/workspaces/bench/forms '{"name":"Contact",
		"fields":[{"name":"name","type":"text","required":true},{"name":"email","type":"email","required":true},
		          {"name":"message","type":"textarea","max_length":5000}],
		"notify":{"recipients":["team@example.com"],"subject":"Contact from {{.Fields.name}}"},
		"autoresponder":{"enabled":true,"email_field":"email","subject":"Thanks","text":"We got your message."}}' | jq -r .id)
	url="${base}/v1/forms/${form}/submissions"

	scenarios=()
	for kind in "${kinds[@]}"; do
		scenarios+=("${engine}-${kind}")
		label[${engine}-${kind}]=${label[${kind}]}
	done
	rounds
	loads+=("${engine} ${load_before}")
	stop "${keel_pid}"

	for name in "${scenarios[@]}"; do
		read -r rps p50 p99 server_us _ wrk_us pg_us < <(median_run "${name}")
		verdict=$(met "${rps} >= ${TARGET_RPS[${engine}]} && ${p99} < ${TARGET_P99_MS[${engine}]}")
		rows+=("$(printf '| %s, %s | %s | %s ms | %s ms | %s µs | %s | %s µs | ≥ %s/s, p99 < %s ms: %s | %s |' \
			"${engine}" "${label[${name}]}" "${rps}" "${p50}" "${p99}" "${server_us}" "${pg_us:+${pg_us} µs}" "${wrk_us}" \
			"${TARGET_RPS[${engine}]}" "${TARGET_P99_MS[${engine}]}" "${verdict}" "$(all_runs "${name}")")")
	done
done

pg_where="${POSTGRES_IMAGE} in a container"
[[ -z ${DATABASE_URL} ]] || pg_where=BENCH_DATABASE_URL
{
	echo "## Keel submission ingest, $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo
	echo "- $(software); $(machine)."
	echo "- Engines: ${ENGINES[*]} (PostgreSQL: ${pg_where}); dispatcher: ${DISPATCHER} (\`BENCH_DISPATCHER\`${mail_env:+, to ${MAILPIT_IMAGE} over SMTP});"
	echo "  submission quotas: ${BENCH_LIMITS:-raised} (\`BENCH_LIMITS\`); rate limit store: Keel's default for the engine;"
	echo "  clients: ${BENCH_CLIENTS:-one} (\`BENCH_CLIENTS\`)."
	echo "- \`wrk -t${THREADS} -c${CONNECTIONS} -d${DURATION} --latency\` on 127.0.0.1 after a ${WARMUP} warm-up per scenario;"
	echo "  ${RUNS} rounds; each row is the median round by req/s."
	echo "- Load average before the runs: $(IFS=';' && echo "${loads[*]}"); other processes kept $(other_load) CPUs busy during the measured runs."
	echo "  Go runtime settings in the environment: ${runtime_env:-none}."
	echo
	echo "| Scenario | req/s | p50 | p99 | server CPU/req | PostgreSQL CPU/req | wrk CPU/req | target | runs: req/s (p99 ms, other CPUs) |"
	echo "|---|---:|---:|---:|---:|---:|---:|---|---|"
	printf '%s\n' "${rows[@]}"
} >"${tmp}/report.md"

publish_report
