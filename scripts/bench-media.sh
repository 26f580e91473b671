#!/usr/bin/env bash
# bench-media.sh measures the media library of issue 16, the figures in
# BENCHMARKS.md's "Issue 16: media" section:
#
# 1. Cached variant. req/s and latency of keel serve on SQLite, under wrk,
#    for the public URL of an image variant of about 50 KB that exists
#    already (GET /v1/sites/{site}/media/{id}/{name}?w=...), against
#    bench/barecontent answering the same request with the bytes and
#    headers Keel gave for it: the machine's ceiling, measured in the same
#    run. Keel's access log is checked after each run: every answer must
#    have been a 200.
# 2. Uploads. The time of a 5 MiB upload through the media API (a PDF,
#    stored as it comes, and a JPEG of about 5 MB, whose metadata are
#    stripped on the way), median of BENCH_UPLOAD_RUNS, against copying the
#    same file on the same disk: cp then sync FILE (which fsyncs that file
#    only), dd conv=fsync, and the same copy and fsync inside the timing
#    program, without starting a process. Keel's blob store writes a
#    temporary file, fsyncs it, renames it and fsyncs its directory; its
#    upload also crosses the loopback, is hashed (SHA-256), sniffed and
#    recorded in SQLite.
# 3. Memory. keel serve's resident memory (VmRSS, VmHWM) before, at its
#    peak during and after BENCH_UPLOAD_CONCURRENCY (20) concurrent 5 MB
#    uploads, of each file, and one upload of 50 MiB (the server runs with
#    KEEL_MEDIA_MAX_FILE_SIZE=64 MiB for it; the default is 25 MiB).
#
# bench/mediarun generates the files from a fixed seed, creates the
# administrator and workspace through the API, uploads a 1600×1200 photo,
# makes its variants and picks the one closest to 50 KB; it then runs the
# uploads and reads the memory.
#
# The method is scripts/bench.sh's: ports the servers pick (port 0, read
# from their listening log line), Keel on its defaults with its access log
# in a file, wrk and the servers sharing the machine's CPUs, rounds that run
# bare before Keel, and the CPUs that other processes kept busy.
#
# The report goes to stdout and to bench/results/media.md (not committed).
#
# Usage: scripts/bench-media.sh
# Settings (environment):
#   BENCH_DURATION             length of each measured wrk run (default 10s)
#   BENCH_WARMUP               length of the warm-up run per scenario (default 2s)
#   BENCH_RUNS                 measured wrk runs per scenario; the median counts (default 3)
#   BENCH_CONNECTIONS          wrk connections (default 32)
#   BENCH_THREADS              wrk threads (default 2)
#   BENCH_UPLOAD_RUNS          timed uploads (and copies) of each file (default 11)
#   BENCH_UPLOAD_CONCURRENCY   uploads in flight in the memory runs (default 20)
#   BENCH_ADMIN_ADDR           keel's admin listener (default off); 127.0.0.1:PORT
#                              serves /debug/pprof for a profile during the runs
set -euo pipefail

# shellcheck source=scripts/benchlib.sh
source "$(dirname "$0")/benchlib.sh"
cd "$(dirname "$0")/.."

wrk_settings 2s
readonly UPLOAD_RUNS=${BENCH_UPLOAD_RUNS:-11}
readonly UPLOAD_CONCURRENCY=${BENCH_UPLOAD_CONCURRENCY:-20}
readonly ADMIN_ADDR=${BENCH_ADMIN_ADDR:-off}
readonly RESULTS=bench/results/media.md

# The issue's targets.
readonly TARGET_VARIANT_RPS=10000
readonly TARGET_UPLOAD_RATIO=2 # at most twice cp's time

require wrk curl cp sync dd
keel_defaults
make_tmp media

log "building keel, bench/barecontent and bench/mediarun"
go build -o "${tmp}/keel" ./cmd/keel
go build -o "${tmp}/barecontent" ./bench/barecontent
go build -o "${tmp}/mediarun" ./bench/mediarun

# --- Keel and its media -----------------------------------------------------

mkdir "${tmp}/data" "${tmp}/files" "${tmp}/copies" "${tmp}/captured"
# Quotas far above the load: wrk calls from one address, and the buckets
# and RateLimit headers are still paid for on every request.
start keel env KEEL_RATE_LIMIT_SESSION=1000000000 KEEL_RATE_LIMIT_ANONYMOUS=1000000000 \
	KEEL_MEDIA_MAX_FILE_SIZE=$((64 << 20)) KEEL_ADMIN_ADDR="${ADMIN_ADDR}" \
	"${tmp}/keel" serve --http-addr 127.0.0.1:0 --data-dir "${tmp}/data"
keel_addr=${server_addr}
keel_pid=${server_pid}
keel_log=${tmp}/keel.log

log "generating the files, setting up and making the photo's variants"
if ! "${tmp}/mediarun" setup -base "http://${keel_addr}" -dir "${tmp}/files" 2>"${tmp}/setup.log"; then
	cat "${tmp}/setup.log" >&2
	die "setup failed"
fi
cat "${tmp}/setup.log" >&2
variant_uri=$(cat "${tmp}/files/variant.uri")

status=$(curl -sS -D "${tmp}/captured/variant.headers" -o "${tmp}/captured/variant.body" -w '%{http_code}' "http://${keel_addr}${variant_uri}")
[[ ${status} == 200 ]] || die "GET ${variant_uri}: ${status}"
printf '%s\t%s\t%s\n' "${variant_uri}" "${tmp}/captured/variant.headers" "${tmp}/captured/variant.body" >"${tmp}/manifest"
variant_bytes=$(wc -c <"${tmp}/captured/variant.body" | tr -d ' ')

start bare "${tmp}/barecontent" -addr 127.0.0.1:0 -manifest "${tmp}/manifest"
bare_addr=${server_addr}
bare_pid=${server_pid}
cmp -s <(curl -sS "http://${bare_addr}${variant_uri}") <(curl -sS "http://${keel_addr}${variant_uri}") ||
	die "bare and Keel answer ${variant_uri} differently"

# --- The cached variant under wrk -------------------------------------------

scenarios=(bare-variant keel-variant)
declare -A label=(
	[bare-variant]="bare net/http, the variant's bytes from memory"
	[keel-variant]="Keel, public media variant (made beforehand)"
)
declare -A baseline=([keel-variant]=bare-variant)

scenario_args() {
	local addr=${keel_addr}
	[[ $1 == bare-* ]] && addr=${bare_addr}
	printf '%s\n' "http://${addr}${variant_uri}"
}
scenario_pid() { if [[ $1 == bare-* ]]; then echo "${bare_pid}"; else echo "${keel_pid}"; fi; }

# check_log NAME checks that every request in Keel's access log since it
# was last emptied was answered 200, then empties it. 4xx and 5xx are left
# to wrk, because the log also holds the requests wrk abandoned when it
# stopped, which fail with the cancelled request's context and which no
# client saw. The log is written in batches every 100 ms.
check_log() {
	local total wrong
	[[ $1 == keel-* ]] || return 0
	sleep 0.3
	total=$(grep -c '"msg":"request"' "${keel_log}" || true)
	wrong=$(grep '"msg":"request"' "${keel_log}" | grep -v '"status":200,' | grep -c '"status":[123]' || true)
	if ((total == 0 || wrong > 0)); then
		grep '"msg":"request"' "${keel_log}" | grep -v '"status":200,' | head -3 >&2
		die "$1: ${wrong} of ${total} logged answers were not 200"
	fi
	: >"${keel_log}" # opened for appending, so truncating it is safe
}
check_answers() {
	[[ -z $3 ]] || die "$1: $3 of $2 answers were errors"
	check_log "$1"
}

sleep 0.3 # the setup's log lines, written in batches, must not count
: >"${keel_log}"
rounds

# --- Uploads and memory ------------------------------------------------------

stop "${bare_pid}"
log "uploads: ${UPLOAD_RUNS} of each file against cp, then ${UPLOAD_CONCURRENCY} at once and one of 50 MiB"
upload_load=$(cut -d' ' -f1-3 /proc/loadavg)
if ! "${tmp}/mediarun" uploads -base "http://${keel_addr}" -dir "${tmp}/files" -copy-dir "${tmp}/copies" \
	-pid "${keel_pid}" -runs "${UPLOAD_RUNS}" -concurrent "${UPLOAD_CONCURRENCY}" >"${tmp}/uploads.md" 2>"${tmp}/uploads.log"; then
	cat "${tmp}/uploads.log" >&2
	die "uploads failed"
fi
upload_load_after=$(cut -d' ' -f1-3 /proc/loadavg)
# result upload FILE RATIO; result memory FILE N GROWTH_BYTES IN_FLIGHT_BYTES
result() { sed -n "s/^mediarun: result $1 $2 //p" "${tmp}/uploads.log"; }
pdf_ratio=$(result upload file5m.pdf)
jpg_ratio=$(result upload file5m.jpg)
read -r _ pdf_growth pdf_flight < <(result memory file5m.pdf)
read -r _ jpg_growth jpg_flight < <(result memory file5m.jpg)
read -r _ big_growth big_flight < <(result memory file50m.pdf)

# --- Report -----------------------------------------------------------------

field() { median_run "$1" | cut -d' ' -f"$2"; }
mb() { awk -v b="$1" 'BEGIN { printf "%.0f MB", b / 1e6 }'; }

{
	echo "## Keel media (issue 16), $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo
	echo "- Machine: $(machine); data directory on $(df -T "${tmp}" | awk 'NR == 2 { print $2 }') ($(df "${tmp}" | awk 'NR == 2 { print $1 }'))."
	echo "- Software: $(software)."
	echo "- Command: \`scripts/bench-media.sh\`: \`wrk -t${THREADS} -c${CONNECTIONS} -d${DURATION} --latency\` on 127.0.0.1 after a ${WARMUP} warm-up per"
	echo "  scenario; ${RUNS} rounds of the two scenarios in turn; each row is the median round by req/s; % of bare is the"
	echo "  median over the rounds of Keel's req/s over the bare server's in the same round."
	echo "- Load average before the wrk runs: ${load_before}; other processes kept $(other_load) CPUs busy during them."
	echo "  Load average before the uploads: ${upload_load}, after: ${upload_load_after}."
	echo "  Go runtime settings in the environment: ${runtime_env:-none}."
	echo "- Media: $(sed -n 's/^mediarun: files: //p' "${tmp}/setup.log"). The variant under load:"
	echo "  \`${variant_uri%%/media/*}/media/…?w=${variant_uri##*w=}\`, ${variant_bytes} bytes."
	echo
	echo "| Scenario | req/s | p50 | p99 | server CPU/req | % of bare | runs: req/s (p99 ms, other CPUs) |"
	echo "|---|---:|---:|---:|---:|---:|---|"
	percent_rows all_runs
	echo
	cat "${tmp}/uploads.md"
	echo
	echo "| Target | Measured | |"
	echo "|---|---:|---|"
	echo "| Cached variant (${variant_bytes} bytes) ≥ ${TARGET_VARIANT_RPS} req/s | $(field keel-variant 1) | $(met "$(field keel-variant 1) >= ${TARGET_VARIANT_RPS}") |"
	echo "| Upload of 5 MiB (PDF) within ${TARGET_UPLOAD_RATIO}× cp + sync | ${pdf_ratio}× | $(met "${pdf_ratio} <= ${TARGET_UPLOAD_RATIO}") |"
	echo "| Upload of 5 MB (JPEG, stripped) within ${TARGET_UPLOAD_RATIO}× cp + sync | ${jpg_ratio}× | $(met "${jpg_ratio} <= ${TARGET_UPLOAD_RATIO}") |"
	# Flat: the peak grows by less than a tenth of the bytes in flight,
	# where holding each file whole would grow it by all of them.
	echo "| Memory flat: ${UPLOAD_CONCURRENCY} × 5 MiB PDF uploads, peak growth < 1/10 of $(mb "${pdf_flight}") in flight | $(mb "${pdf_growth}") | $(met "${pdf_growth} * 10 < ${pdf_flight}") |"
	echo "| Memory flat: ${UPLOAD_CONCURRENCY} × 5 MB JPEG uploads, peak growth < 1/10 of $(mb "${jpg_flight}") in flight | $(mb "${jpg_growth}") | $(met "${jpg_growth} * 10 < ${jpg_flight}") |"
	echo "| Memory flat: one 50 MiB upload, peak growth < 1/10 of $(mb "${big_flight}") | $(mb "${big_growth}") | $(met "${big_growth} * 10 < ${big_flight}") |"
} >"${tmp}/report.md"

publish_report
