#!/usr/bin/env bash
# bench-content.sh measures the public delivery API, the issue 5 figures in
# BENCHMARKS.md: req/s and latency of keel serve on SQLite, under wrk, for a
# single post by slug (about 3 KB of Markdown), the same post revalidated
# with If-None-Match (304), a page of 20 posts, and full-text search over
# BENCH_POSTS (10,000) posts cycling through BENCH_QUERIES (200) different
# queries, and (issue 15) a page of 20 posts with their rendered bodies
# (?include=body_html), which a static site builds from. Each is compared with bench/barecontent, a bare net/http server
# answering the same requests with the bytes Keel gave for them, headers
# included: the machine's ceiling, measured in the same run.
#
# bench/contentseed writes the posts through the management API (create,
# then publish) and picks the queries: words and pairs of words that match
# 0.1% to 5% of the posts. Single posts and lists come from Keel's
# in-process cache of rendered responses; searches are never cached, so
# every search request runs the query on SQLite.
#
# The method is scripts/bench.sh's: ports the servers pick (port 0, read
# from their listening log line), Keel on its defaults with its access log
# in a file, wrk and the servers sharing the machine's CPUs, rounds that
# run every scenario in turn, bare before Keel, and the CPUs that other
# processes kept busy during each run.
#
# The report goes to stdout and to bench/results/content.md (not committed).
#
# Usage: scripts/bench-content.sh
# Settings (environment):
#   BENCH_DURATION     length of each measured wrk run (default 10s)
#   BENCH_WARMUP       length of the warm-up run per scenario (default 2s)
#   BENCH_RUNS         measured runs per scenario; the median counts (default 3)
#   BENCH_CONNECTIONS  wrk connections (default 32)
#   BENCH_THREADS      wrk threads (default 2)
#   BENCH_POSTS        published posts to seed (default 10000)
#   BENCH_QUERIES      search queries wrk cycles through (default 200)
set -euo pipefail

# shellcheck source=scripts/benchlib.sh
source "$(dirname "$0")/benchlib.sh"
cd "$(dirname "$0")/.."

wrk_settings 2s
readonly POSTS=${BENCH_POSTS:-10000}
readonly QUERIES=${BENCH_QUERIES:-200}
readonly RESULTS=bench/results/content.md

# The issue's targets.
readonly TARGET_POST_RPS=15000
readonly TARGET_304_RPS=20000
readonly TARGET_LIST_RPS=5000
readonly TARGET_BODIES_RPS=10000 # issue 15
readonly TARGET_SEARCH_RPS=1000
readonly TARGET_SEARCH_P99_MS=50

require wrk curl
keel_defaults
make_tmp content

log "building keel, bench/barecontent and bench/contentseed"
go build -o "${tmp}/keel" ./cmd/keel
go build -o "${tmp}/barecontent" ./bench/barecontent
go build -o "${tmp}/contentseed" ./bench/contentseed

# settle waits, for at most 30 s, until process $1 uses less than 5% of a
# CPU over a second: the posts' publish events and the first reads must
# not run into the measured runs.
settle() {
	local t0 t1
	for _ in $(seq 30); do
		t0=$(proc_ticks "$1")
		sleep 1
		t1=$(proc_ticks "$1")
		(((t1 - t0) * 100 < 5 * $(getconf CLK_TCK))) && return
	done
	log "process $1 is still busy after 30 s; measuring anyway"
}

# --- Keel and its content ---------------------------------------------------

mkdir "${tmp}/data" "${tmp}/seed" "${tmp}/captured"
# Quotas far above the load: seeding and wrk call from one address, and
# the buckets and RateLimit headers are still paid for on every request.
start keel env KEEL_RATE_LIMIT_SESSION=1000000000 KEEL_RATE_LIMIT_ANONYMOUS=1000000000 \
	"${tmp}/keel" serve --http-addr 127.0.0.1:0 --data-dir "${tmp}/data"
keel_addr=${server_addr}
keel_pid=${server_pid}
keel_log=${tmp}/keel.log

log "seeding ${POSTS} published posts through the management API"
if ! "${tmp}/contentseed" -base "http://${keel_addr}" -posts "${POSTS}" -queries "${QUERIES}" -out "${tmp}/seed" 2>"${tmp}/seed.log"; then
	cat "${tmp}/seed.log" >&2
	die "seeding failed"
fi
cat "${tmp}/seed.log" >&2
db_mb=$(du -sm "${tmp}/data" | cut -f1)
settle "${keel_pid}"

post_uri="/v1/sites/bench/posts/$(cat "${tmp}/seed/post.txt")"
list_uri="/v1/sites/bench/posts?limit=20"
bodies_uri="/v1/sites/bench/posts?limit=20&include=body_html"
search_prefix="/v1/sites/bench/posts?limit=20&q="

# capture URI NAME fetches URI from Keel once and keeps its headers and
# body as $tmp/captured/NAME.{headers,body} for barecontent's manifest.
capture() {
	local status
	status=$(curl -sS -D "${tmp}/captured/$2.headers" -o "${tmp}/captured/$2.body" -w '%{http_code}' "http://${keel_addr}$1")
	[[ ${status} == 200 ]] || die "GET $1: ${status}"
	printf '%s\t%s\t%s\n' "$1" "${tmp}/captured/$2.headers" "${tmp}/captured/$2.body" >>"${tmp}/manifest"
}
log "capturing Keel's responses: the post, the list and ${QUERIES} searches"
capture "${post_uri}" post
capture "${list_uri}" list
capture "${bodies_uri}" bodies
n=0
while read -r q; do
	n=$((n + 1))
	capture "${search_prefix}${q}" "search-${n}"
done <"${tmp}/seed/queries.txt"
etag=$(awk 'tolower($1) == "etag:" { sub(/\r$/, "", $2); print $2 }' "${tmp}/captured/post.headers")
[[ -n ${etag} ]] || die "the post has no ETag"
size() { wc -c <"${tmp}/captured/$1.body" | tr -d ' '; }
search_sizes=$(cat "${tmp}"/captured/search-*.body | wc -c | awk -v n="${n}" '{ printf "%.0f", $1 / n }')

start bare "${tmp}/barecontent" -addr 127.0.0.1:0 -manifest "${tmp}/manifest"
bare_addr=${server_addr}
bare_pid=${server_pid}

# Both servers must give the same bytes and statuses before any figure
# counts: the same body, and 304 to the ETag.
for uri in "${post_uri}" "${list_uri}" "${bodies_uri}" "${search_prefix}$(head -1 "${tmp}/seed/queries.txt")"; do
	cmp -s <(curl -sS "http://${bare_addr}${uri}") <(curl -sS "http://${keel_addr}${uri}") ||
		die "bare and Keel answer ${uri} differently"
done
for addr in "${bare_addr}" "${keel_addr}"; do
	status=$(curl -sS -o /dev/null -w '%{http_code}' -H "If-None-Match: ${etag}" "http://${addr}${post_uri}")
	[[ ${status} == 304 ]] || die "http://${addr}${post_uri} with If-None-Match: ${status}, want 304"
done

# search.lua makes each request ask the next query of the file, each
# thread starting at a different place in it.
cat >"${tmp}/search.lua" <<'EOF'
local threads = 0
function setup(thread)
	thread:set("first", threads * 97)
	threads = threads + 1
end

local requests = {}
local i = 0
function init(args)
	for q in io.lines(args[1]) do
		requests[#requests + 1] = wrk.format("GET", args[2] .. q)
	end
	i = first % #requests
end

function request()
	i = i % #requests + 1
	return requests[i]
end
EOF

# --- Scenarios --------------------------------------------------------------

scenarios=(bare-post keel-post bare-304 keel-304 bare-list keel-list bare-bodies keel-bodies bare-search keel-search)
declare -A label=(
	[bare-post]="bare net/http, single post"
	[keel-post]="Keel, single post by slug (cached)"
	[bare-304]="bare net/http, single post, If-None-Match (304)"
	[keel-304]="Keel, single post, If-None-Match (304)"
	[bare-list]="bare net/http, page of 20 posts"
	[keel-list]="Keel, page of 20 posts (cached)"
	[bare-bodies]="bare net/http, page of 20 posts with body_html"
	[keel-bodies]="Keel, page of 20 posts with body_html (cached)"
	[bare-search]="bare net/http, search (${QUERIES} queries)"
	[keel-search]="Keel, search over ${POSTS} posts (${QUERIES} queries, uncached)"
)
declare -A baseline=([keel-post]=bare-post [keel-304]=bare-304 [keel-list]=bare-list [keel-bodies]=bare-bodies [keel-search]=bare-search)
declare -A status_of=([bare-304]=304 [keel-304]=304)

# scenario_args NAME prints, a word a line, the URL and options of scenario NAME.
scenario_args() {
	local addr=${keel_addr}
	[[ $1 == bare-* ]] && addr=${bare_addr}
	case $1 in
	*-post) printf '%s\n' "http://${addr}${post_uri}" ;;
	*-304) printf '%s\n' -H "If-None-Match: ${etag}" "http://${addr}${post_uri}" ;;
	*-list) printf '%s\n' "http://${addr}${list_uri}" ;;
	*-bodies) printf '%s\n' "http://${addr}${bodies_uri}" ;;
	*-search) printf '%s\n' -s "${tmp}/search.lua" "http://${addr}/" -- "${tmp}/seed/queries.txt" "${search_prefix}" ;;
	esac
}
scenario_pid() { if [[ $1 == bare-* ]]; then echo "${bare_pid}"; else echo "${keel_pid}"; fi; }

# check_log NAME checks that every request in Keel's access log since it
# was last emptied got scenario NAME's status, then empties it: wrk counts
# only 4xx and 5xx answers as errors, so a 200 where a 304 is due would
# pass unseen. 4xx and 5xx are left to wrk, because the log also holds the
# requests wrk abandoned when it stopped, which fail with the cancelled
# request's context and which no client saw. The log is written in
# batches every 100 ms.
check_log() {
	local want=${status_of[$1]:-200} total wrong
	[[ $1 == keel-* ]] || return 0
	sleep 0.3
	total=$(grep -c '"msg":"request"' "${keel_log}" || true)
	wrong=$(grep '"msg":"request"' "${keel_log}" | grep -v "\"status\":${want}," | grep -c '"status":[123]' || true)
	if ((total == 0 || wrong > 0)); then
		grep '"msg":"request"' "${keel_log}" | grep -v "\"status\":${want}," | head -3 >&2
		die "$1: ${wrong} of ${total} logged answers were not ${want}"
	fi
	: >"${keel_log}" # opened for appending, so truncating it is safe
}

# check_answers NAME REQUESTS NON2XX: no answer may have been an error, and
# Keel's access log must show the scenario's status.
check_answers() {
	[[ -z $3 ]] || die "$1: $3 of $2 answers were errors"
	check_log "$1"
}

sleep 0.3 # the checks' log lines, written in batches, must not count
: >"${keel_log}"
rounds
keel_rss_kb=$(awk '$1 == "VmRSS:" { print $2 }' "/proc/${keel_pid}/status")

# --- Report -----------------------------------------------------------------

field() { median_run "$1" | cut -d' ' -f"$2"; }

{
	echo "## Keel public content API, $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo
	echo "- Machine: $(machine)."
	echo "- Software: $(software)."
	echo "- Command: \`scripts/bench-content.sh\`: \`wrk -t${THREADS} -c${CONNECTIONS} -d${DURATION} --latency\` on 127.0.0.1 after a ${WARMUP} warm-up per"
	echo "  scenario; ${RUNS} rounds of the ten scenarios in turn; each row is the median round by req/s; % of bare is the"
	echo "  median over the rounds of Keel's req/s over the bare server's in the same round."
	echo "- Load average before the runs: ${load_before}; other processes kept $(other_load) CPUs busy during the measured runs."
	echo "  Go runtime settings in the environment: ${runtime_env:-none}."
	echo "- Content: $(sed -n 's/^contentseed: //p' "${tmp}/seed.log" | paste -sd';' | sed 's/;/; /g')."
	echo "  SQLite data directory after seeding: ${db_mb} MB. Keel's RSS after the runs: $(awk -v k="${keel_rss_kb}" 'BEGIN { printf "%.0f", k * 1024 / 1e6 }') MB."
	echo "- Response bodies: single post $(size post) bytes, page of 20 posts $(size list) bytes, with body_html $(size bodies) bytes, search page ${search_sizes} bytes on average."
	echo
	echo "| Scenario | req/s | p50 | p99 | server CPU/req | % of bare | runs: req/s (p99 ms, other CPUs) |"
	echo "|---|---:|---:|---:|---:|---:|---|"
	percent_rows all_runs
	echo
	echo "| Target | Measured | |"
	echo "|---|---:|---|"
	echo "| Single post ≥ ${TARGET_POST_RPS} req/s | $(field keel-post 1) | $(met "$(field keel-post 1) >= ${TARGET_POST_RPS}") |"
	echo "| 304 path ≥ ${TARGET_304_RPS} req/s | $(field keel-304 1) | $(met "$(field keel-304 1) >= ${TARGET_304_RPS}") |"
	echo "| Page of 20 posts ≥ ${TARGET_LIST_RPS} req/s | $(field keel-list 1) | $(met "$(field keel-list 1) >= ${TARGET_LIST_RPS}") |"
	echo "| Page of 20 posts with body_html ≥ ${TARGET_BODIES_RPS} req/s (issue 15) | $(field keel-bodies 1) | $(met "$(field keel-bodies 1) >= ${TARGET_BODIES_RPS}") |"
	echo "| Search ≥ ${TARGET_SEARCH_RPS} req/s | $(field keel-search 1) | $(met "$(field keel-search 1) >= ${TARGET_SEARCH_RPS}") |"
	echo "| Search p99 < ${TARGET_SEARCH_P99_MS} ms | $(field keel-search 3) ms | $(met "$(field keel-search 3) < ${TARGET_SEARCH_P99_MS}") |"
} >"${tmp}/report.md"

publish_report
