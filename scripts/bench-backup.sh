#!/usr/bin/env bash
# bench-backup.sh measures keel backup, keel backup verify and keel restore
# of BENCH_SUBMISSIONS (1,000,000) submissions on SQLite, the issue 14
# figures in BENCHMARKS.md: wall time and peak resident memory of each
# command (GNU time's -v), and the sizes of the database and the archive.
#
# The data: keel serve makes an instance, a workspace and a form and takes
# one submission through the API, which queues its notification; sqlite3
# then copies that submission and its outbox message under new IDs until
# there are BENCH_SUBMISSIONS of each, so that every row has the shape
# Keel writes, at a speed the API would need minutes for. Each copy's
# address and message differ (a counter and 24 random hexadecimal
# digits), so that the archive does not compress better than real data. The restore goes
# into a new SQLite database and blob directory.
#
# With BENCH_MEDIA set, keel serve also takes that many PNG uploads of
# about 50 KB each (random pixels, which do not compress) through the media
# API, so that the backup copies their files into the archive and the
# restore writes them back (issue 14's blobs).
#
# The report goes to stdout and to bench/results/backup.md (not committed).
#
# Usage: scripts/bench-backup.sh
# Settings (environment):
#   BENCH_SUBMISSIONS  submissions (each with one outbox message) to back up (default 1000000)
#   BENCH_MEDIA        media files of about 50 KB to upload first (default 0)
set -euo pipefail

# shellcheck source=scripts/benchlib.sh
source "$(dirname "$0")/benchlib.sh"
cd "$(dirname "$0")/.."

readonly SUBMISSIONS=${BENCH_SUBMISSIONS:-1000000}
readonly MEDIA=${BENCH_MEDIA:-0}
readonly RESULTS=bench/results/backup.md

require curl sqlite3 /usr/bin/time
keel_defaults
make_tmp backup

log "building keel"
go build -o "${tmp}/keel" ./cmd/keel

export KEEL_DATA_DIR="${tmp}/data" KEEL_DISPATCHER=off KEEL_LOG_LEVEL=warn KEEL_RATE_LIMIT_SESSION=0
start keel "${tmp}/keel" serve --http-addr 127.0.0.1:0 --log-level info
base="http://${server_addr}"
api() { curl -fsS -H 'Content-Type: application/json' ${token:+-H "Authorization: Bearer ${token}"} "$@"; }
token=$(api -X POST "${base}/v1/setup" -d '{"email":"owner@bench.test","password":"correct horse battery","name":"Owner"}' | sed -n 's/.*"token":"\([^"]*\)".*/\1/p')
api -X POST "${base}/v1/workspaces" -d '{"name":"Bench","slug":"bench"}' >/dev/null
form=$(api -X POST "${base}/v1/workspaces/bench/forms" -d '{"name":"Contact","fields":[{"name":"email","label":"E-mail","type":"email","required":true},{"name":"message","label":"Message","type":"textarea"}],"notify":{"recipients":["team@bench.test"],"subject":"New message"}}' | sed -n 's/.*"id":"\(frm_[^"]*\)".*/\1/p')
token='' api -X POST "${base}/v1/forms/${form}/submissions" -d '{"email":"visitor@example.com","message":"Hello, I would like to book a berth for a small boat from June to September. Is there one free?"}' >/dev/null
if ((MEDIA > 0)); then
	require python3
	log "uploading ${MEDIA} media files of about 50 KB"
	mkdir -p "${tmp}/png"
	# 128 x 128 pixels of random RGB: 49,152 bytes that deflate cannot shrink.
	python3 - "${tmp}/png" "${MEDIA}" <<'PY'
import os, struct, sys, zlib
def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xffffffff)
for i in range(int(sys.argv[2])):
    rows = b"".join(b"\0" + os.urandom(128 * 3) for _ in range(128))
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 128, 128, 8, 2, 0, 0, 0)) + chunk(b"IDAT", zlib.compress(rows, 0)) + chunk(b"IEND", b"")
    open(os.path.join(sys.argv[1], "%05d.png" % i), "wb").write(png)
PY
	for f in "${tmp}"/png/*.png; do
		curl -fsS -o /dev/null -H "Authorization: Bearer ${token}" -H 'Content-Type: image/png' --data-binary "@${f}" "${base}/v1/workspaces/bench/media?name=$(basename "${f}")"
	done
fi
stop "${server_pid}"

log "copying the submission and its message to ${SUBMISSIONS} of each"
sqlite3 "${KEEL_DATA_DIR}/keel.db" <<SQL
PRAGMA journal_mode = WAL;
BEGIN;
CREATE TEMP TABLE n AS WITH RECURSIVE c(i) AS (SELECT 2 UNION ALL SELECT i + 1 FROM c WHERE i < ${SUBMISSIONS}) SELECT i FROM c;
INSERT INTO submissions (id, form_id, workspace_id, status, field_values, search_text, ip_hash, user_agent, referrer, origin, created_at, updated_at, mail_held)
	SELECT printf('sub_bench%08d', i), form_id, workspace_id, status,
		replace(replace(field_values, 'visitor@', 'visitor' || i || '@'), 'one free?', 'one free? Ref ' || hex(randomblob(12))),
		replace(search_text, 'visitor@', 'visitor' || i || '@'), ip_hash, user_agent, referrer, origin, created_at, updated_at, mail_held
	FROM submissions, temp.n;
INSERT INTO outbox_messages (id, workspace_id, submission_id, kind, status, from_addr, to_addrs, reply_to, subject, text_body, html_body, attempts, next_attempt_at, lease_until, trace_parent, created_at, sent_at)
	SELECT printf('msg_bench%08d', i), workspace_id, printf('sub_bench%08d', i), kind, status, from_addr, to_addrs, reply_to, subject, text_body, html_body, attempts, next_attempt_at, lease_until, trace_parent, created_at, sent_at
	FROM outbox_messages, temp.n;
COMMIT;
PRAGMA wal_checkpoint(TRUNCATE);
SQL
rows=$(sqlite3 "${KEEL_DATA_DIR}/keel.db" 'SELECT (SELECT COUNT(*) FROM submissions) || " submissions, " || (SELECT COUNT(*) FROM outbox_messages) || " outbox messages"')
db_bytes=$(stat -c %s "${KEEL_DATA_DIR}/keel.db")
blob_bytes=$(du -sb "${KEEL_DATA_DIR}/blobs" 2>/dev/null | cut -f1 || echo 0)
rows="${rows}, ${MEDIA} media files"
log "database: ${rows}, ${db_bytes} bytes; blob store ${blob_bytes} bytes"

# measure NAME CMD...: runs CMD under GNU time, keeping its wall time (s)
# and peak RSS (MiB) in elapsed[NAME] and rss[NAME].
declare -A elapsed rss
measure() {
	local name=$1
	shift
	log "${name}: $*"
	/usr/bin/time -v -o "${tmp}/${name}.time" "$@" >"${tmp}/${name}.out" 2>"${tmp}/${name}.err" || die "${name} failed: $(cat "${tmp}/${name}.err")"
	elapsed[${name}]=$(awk -F': ' '/Elapsed \(wall clock\)/ { n = split($2, p, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + p[i]; printf "%.1f", s }' "${tmp}/${name}.time")
	rss[${name}]=$(awk -F': ' '/Maximum resident set size/ { printf "%.0f", $2 / 1024 }' "${tmp}/${name}.time")
}

archive="${tmp}/backup.zip"
measure backup "${tmp}/keel" backup --out "${archive}"
measure verify "${tmp}/keel" backup verify "${archive}"
measure restore "${tmp}/keel" restore --data-dir "${tmp}/restored" "${archive}"
archive_bytes=$(stat -c %s "${archive}")
restored=$(sqlite3 "${tmp}/restored/keel.db" 'SELECT COUNT(*) FROM submissions')
[[ ${restored} == "${SUBMISSIONS}" ]] || die "restored ${restored} submissions, want ${SUBMISSIONS}"
restored_files=$({ find "${tmp}/restored/blobs" -type f -path '*/original' 2>/dev/null || true; } | wc -l)
[[ ${restored_files} == "${MEDIA}" ]] || die "restored ${restored_files} media files, want ${MEDIA}"

{
	echo "# keel backup and restore, SQLite"
	echo
	echo "Machine: $(machine)"
	echo "Command: scripts/bench-backup.sh (BENCH_SUBMISSIONS=${SUBMISSIONS} BENCH_MEDIA=${MEDIA})${runtime_env:+, ${runtime_env}}"
	echo "Data: ${rows}; database ${db_bytes} bytes; blob store ${blob_bytes} bytes; archive ${archive_bytes} bytes"
	echo
	echo "| Command | Wall time | Peak RSS |"
	echo "|---|---|---|"
	for name in backup verify restore; do
		echo "| keel ${name} | ${elapsed[${name}]} s | ${rss[${name}]} MiB |"
	done
} >"${tmp}/report.md"
publish_report
