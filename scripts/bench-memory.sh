#!/usr/bin/env bash
# bench-memory.sh measures the resident memory of keel serve on SQLite after
# a mixed load, the issue 14 figure in BENCHMARKS.md: public content reads
# (a post by slug, a page of 20 posts, searches cycling through the seeded
# queries) and form submissions, all at once, each from its own wrk. After
# the load it reads VmRSS and VmHWM (the peak) from /proc/PID/status, and
# VmRSS again once the server has been idle for BENCH_IDLE seconds.
#
# bench/contentseed writes BENCH_POSTS published posts through the
# management API; the form is bench-ingest.sh's contact form, its mail
# written to the outbox and sent by the dispatcher to the log mailer, as a
# server without KEEL_SMTP_URL does. Keel runs on its defaults otherwise;
# GOGC, GOMEMLIMIT and the other Go runtime variables are passed through and
# named in the report, and so are KEEL_MEMORY_LIMIT and KEEL_SQLITE_SEARCH_MMAP.
#
# The report goes to stdout and to bench/results/memory.md (not committed).
#
# Usage: scripts/bench-memory.sh
# Settings (environment):
#   BENCH_DURATION     length of the mixed load (default 30s)
#   BENCH_CONNECTIONS  wrk connections of each of the four loads (default 8)
#   BENCH_POSTS        published posts to seed (default 10000)
#   BENCH_BUILD        release (default): keel built as make build and the image build it
#                      (static, stripped, -tags nomsgpack); dev: a plain go build
#   BENCH_IDLE         seconds the server rests before its idle RSS is read (default 5)
#   KEEL_MEMORY_LIMIT  passed to Keel when set
#   KEEL_SQLITE_SEARCH_MMAP  passed to Keel when set
set -euo pipefail

# shellcheck source=scripts/benchlib.sh
source "$(dirname "$0")/benchlib.sh"
cd "$(dirname "$0")/.."

readonly DURATION=${BENCH_DURATION:-30s}
readonly CONNECTIONS=${BENCH_CONNECTIONS:-8}
readonly POSTS=${BENCH_POSTS:-10000}
readonly IDLE=${BENCH_IDLE:-5}
readonly RESULTS=bench/results/memory.md

# The issue's target.
readonly TARGET_RSS_MB=64

require wrk curl jq
memory_limit=${KEEL_MEMORY_LIMIT:-}
readonly BUILD=${BENCH_BUILD:-release}
search_mmap=${KEEL_SQLITE_SEARCH_MMAP:-}
keel_defaults
make_tmp memory

log "building keel (${BUILD}) and bench/contentseed"
case ${BUILD} in
release) CGO_ENABLED=0 go build -trimpath -tags nomsgpack -ldflags '-s -w' -o "${tmp}/keel" ./cmd/keel ;;
dev) go build -o "${tmp}/keel" ./cmd/keel ;;
*) die "BENCH_BUILD must be release or dev" ;;
esac
go build -o "${tmp}/contentseed" ./bench/contentseed

# rss_kb FIELD prints a memory field (VmRSS, VmHWM) of Keel's /proc/PID/status in kB.
rss_kb() { awk -v f="$1:" '$1 == f { print $2 }' "/proc/${keel_pid}/status"; }
# mb KB prints kB (KiB, as /proc counts) in decimal megabytes.
mb() { awk -v k="$1" 'BEGIN { printf "%.1f", k * 1024 / 1e6 }'; }

mkdir "${tmp}/data" "${tmp}/seed"
# Quotas far above the load: everything comes from one address.
start keel env KEEL_RATE_LIMIT_SESSION=1000000000 KEEL_RATE_LIMIT_ANONYMOUS=1000000000 \
	KEEL_SUBMIT_PER_IP=100000000 KEEL_SUBMIT_PER_FORM=100000000 \
	${memory_limit:+KEEL_MEMORY_LIMIT="${memory_limit}"} ${search_mmap:+KEEL_SQLITE_SEARCH_MMAP="${search_mmap}"} \
	"${tmp}/keel" serve --http-addr 127.0.0.1:0 --data-dir "${tmp}/data"
keel_pid=${server_pid}
base="http://${server_addr}"

log "seeding ${POSTS} published posts through the management API"
if ! "${tmp}/contentseed" -base "${base}" -posts "${POSTS}" -out "${tmp}/seed" 2>"${tmp}/seed.log"; then
	cat "${tmp}/seed.log" >&2
	die "seeding failed"
fi
seeded_kb=$(rss_kb VmRSS)

api() {
	curl -sS --fail-with-body -X "$1" "${base}$2" -H "Authorization: Bearer ${token}" -H 'Content-Type: application/json' -d "$3"
}
token=$(curl -sS --fail-with-body -X POST "${base}/v1/auth/login" -H 'Content-Type: application/json' \
	-d '{"email":"bench@example.com","password":"correct horse battery staple"}' | jq -r .token)
[[ -n ${token} && ${token} != null ]] || die "login failed"
form=$(api POST /v1/workspaces/bench/forms '{"name":"Contact",
	"fields":[{"name":"name","type":"text","required":true},{"name":"email","type":"email","required":true},
	          {"name":"message","type":"textarea","max_length":5000}],
	"notify":{"recipients":["team@example.com"],"subject":"Contact from {{.Fields.name}}"},
	"autoresponder":{"enabled":true,"email_field":"email","subject":"Thanks","text":"We got your message."}}' | jq -r .id)

cat >"${tmp}/submit.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"name":"Ada","email":"ada@example.com","message":"Hello there, this is a test message."}'
LUA
cat >"${tmp}/search.lua" <<'LUA'
local requests = {}
local i = 0
function init(args)
	for q in io.lines(args[1]) do
		requests[#requests + 1] = wrk.format("GET", args[2] .. q)
	end
end
function request()
	i = i % #requests + 1
	return requests[i]
end
LUA

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
log "mixed load for ${DURATION}: post, list, search and submit, ${CONNECTIONS} connections each"
wrk_run() {
	local name=$1
	shift
	wrk -t1 -c"${CONNECTIONS}" -d"${DURATION}" "$@" >"${tmp}/${name}.out" 2>&1
}
wrk_run post "${base}/v1/sites/bench/posts/$(cat "${tmp}/seed/post.txt")" &
w1=$!
wrk_run list "${base}/v1/sites/bench/posts?limit=20" &
w2=$!
wrk_run search -s "${tmp}/search.lua" "${base}/" -- "${tmp}/seed/queries.txt" "/v1/sites/bench/posts?limit=20&q=" &
w3=$!
wrk_run submit -s "${tmp}/submit.lua" "${base}/v1/forms/${form}/submissions" &
w4=$!
wait "${w1}" "${w2}" "${w3}" "${w4}"
for name in post list search submit; do
	if grep -q -e '^ *Socket errors' -e 'Non-2xx' "${tmp}/${name}.out"; then
		cat "${tmp}/${name}.out" >&2
		die "${name}: errors under load"
	fi
done
loaded_kb=$(rss_kb VmRSS)
loaded_anon_kb=$(rss_kb RssAnon)
loaded_file_kb=$(rss_kb RssFile)
loaded_shmem_kb=$(rss_kb RssShmem)
peak_kb=$(rss_kb VmHWM)
sleep "${IDLE}"
idle_kb=$(rss_kb VmRSS)
rps() { awk '/^Requests\/sec:/ { printf "%.0f", $2 }' "${tmp}/$1.out"; }
submissions=$(awk '/ requests in / { print $1 }' "${tmp}/submit.out")

{
	echo "## Keel resident memory after a mixed load, $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo
	echo "- Machine: $(machine)."
	echo "- Software: $(software)."
	echo "- Build: ${BUILD} (\`BENCH_BUILD\`)."
	echo "- Command: \`scripts/bench-memory.sh\`: four \`wrk -t1 -c${CONNECTIONS} -d${DURATION}\` at once on 127.0.0.1: a post by slug,"
	echo "  a page of 20 posts, searches over ${POSTS} posts, and JSON submissions (${submissions} in all)."
	echo "- Load average before the load: ${load_before}. Go runtime settings in the environment: ${runtime_env:-none};"
	echo "  KEEL_MEMORY_LIMIT: ${memory_limit:-unset, so the default}; KEEL_SQLITE_SEARCH_MMAP: ${search_mmap:-unset, so the default}."
	echo "- req/s: post $(rps post), list $(rps list), search $(rps search), submit $(rps submit)."
	echo
	echo "| Measure | Value |"
	echo "|---|---:|"
	echo "| RSS after seeding ${POSTS} posts | $(mb "${seeded_kb}") MB |"
	echo "| RSS right after the load (VmRSS) | $(mb "${loaded_kb}") MB |"
	echo "| of which anonymous (heap, stacks, SQLite's page caches) / file-backed / shared | $(mb "${loaded_anon_kb}") / $(mb "${loaded_file_kb}") / $(mb "${loaded_shmem_kb}") MB |"
	echo "| Peak RSS (VmHWM) | $(mb "${peak_kb}") MB |"
	echo "| RSS after ${IDLE}s idle | $(mb "${idle_kb}") MB |"
	echo
	echo "| Target | Measured | |"
	echo "|---|---:|---|"
	echo "| RSS after the load ≤ ${TARGET_RSS_MB} MB | $(mb "${loaded_kb}") MB | $(met "$(mb "${loaded_kb}") <= ${TARGET_RSS_MB}") |"
} >"${tmp}/report.md"

publish_report
