#!/usr/bin/env bash
# test.sh runs Keel's whole test suite, container tests included (make test).
#
# Usage: scripts/test.sh [go test flags and packages]    (default: ./...)
#
# It starts dockerd when none answers, picks the PostgreSQL and Mailpit
# images (the public ones when this machine has or can pull them, otherwise
# images built here by scripts/images.sh), removes containers that earlier
# runs left behind, provides the previous versions of the browsers
# (scripts/browsers.sh), then runs go vet and go test. Its exit status is
# go test's.
set -euo pipefail

cd "$(dirname "$0")/.."
# shellcheck source=scripts/images/images.env
. scripts/images/images.env

readonly DEFAULT_POSTGRES_IMAGE=postgres:17-alpine
readonly DEFAULT_MAILPIT_IMAGE=axllent/mailpit:v1.33.1
readonly DEFAULT_REDIS_IMAGE=redis:7-alpine
# A registry that answers pulls a small image in far less; one that is
# unreachable fails at once. The timeout only guards against a network that
# swallows packets silently.
readonly PULL_TIMEOUT_SECONDS=60

log() { printf 'test.sh: %s\n' "$*" >&2; }

# The machines have a /.dockerenv, so testcontainers would believe it runs in
# a container and dial the default gateway instead of the mapped ports; and
# the Ryuk reaper image cannot be pulled. test/containers.SetDefaults sets
# the same for a bare `go test`.
export TESTCONTAINERS_HOST_OVERRIDE=127.0.0.1
export TESTCONTAINERS_RYUK_DISABLED=true

# Browser tests write their screenshots under KEEL_ARTIFACTS: artifacts/ in
# the checkout unless the caller names another folder, so that a CI run
# leaves them where its artifacts are collected (git ignores the folder).
export KEEL_ARTIFACTS=${KEEL_ARTIFACTS:-${PWD}/artifacts}
mkdir -p "${KEEL_ARTIFACTS}"

# alive succeeds when process $1 exists, whoever owns it (kill -0 would fail
# for another user's process); /proc answers on Linux, ps elsewhere.
alive() { [[ -d /proc/$1 ]] || ps -p "$1" >/dev/null 2>&1; }

# sweep removes the containers testcontainers started (label
# org.testcontainers=true) that no running test binary owns: those a crashed
# or killed binary could not stop, which Ryuk would have reaped. Keel's
# helpers label containers with their binary's pid (org.keelhq.pid), so a
# test run beside this one keeps its containers.
sweep() {
	local id pid swept=0
	while read -r id pid; do
		if [[ -n ${pid} ]] && alive "${pid}"; then
			continue
		fi
		docker rm --force --volumes "${id}" >/dev/null 2>&1 || true
		swept=$((swept + 1))
	done < <(docker ps --all --filter label=org.testcontainers=true \
		--format '{{.ID}} {{.Label "org.keelhq.pid"}}' 2>/dev/null || true)
	if ((swept > 0)); then
		log "removed ${swept} leftover test container(s)"
	fi
}

# available succeeds when the daemon holds the image or can pull it.
available() {
	docker image inspect "$1" >/dev/null 2>&1 ||
		timeout "${PULL_TIMEOUT_SECONDS}" docker pull --quiet "$1" >/dev/null 2>&1
}

scripts/docker.sh
sweep

# Chromium opens the API reference page (test/docspage) and the console
# (test/console), which Firefox ESR opens too (test/firefox drives it over
# WebDriver BiDi, so no geckodriver is needed); Node.js and npm
# build and run the TypeScript client's tests (test/jsclient). A Debian
# machine gets them from the archive, like dockerd; elsewhere the
# developer installs them.
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v firefox-esr >/dev/null 2>&1 || command -v firefox >/dev/null 2>&1 || missing+=(firefox-esr)
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
# make image copies the build machine's CA certificates into local/keel.
[[ -r /etc/ssl/certs/ca-certificates.crt ]] || missing+=(ca-certificates)
# test/deploy validates deploy/compose.yaml with Compose: the docker compose
# plugin where it is installed, else Debian's docker-compose.
docker compose version >/dev/null 2>&1 || command -v docker-compose >/dev/null 2>&1 || missing+=(docker-compose)
# The public Atom feed and sitemap are checked with tools not written
# here (adapters/httpapi): Debian's feedparser, run by the system's
# Python, and libxml2's xmllint with the sitemaps.org schema.
command -v xmllint >/dev/null 2>&1 || missing+=(libxml2-utils)
/usr/bin/python3 -c 'import feedparser' >/dev/null 2>&1 || missing+=(python3-feedparser)
if ((${#missing[@]} > 0)); then
	if [[ ${EUID} -ne 0 || ! -f /etc/debian_version ]]; then
		log "the tests need ${missing[*]}: install them and rerun"
		exit 1
	fi
	log "installing ${missing[*]} with apt"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# The console promises the last two versions of each browser: the tests
# also run in the previous Chromium and Firefox ESR, which
# scripts/browsers.sh unpacks from Debian's archive (once, into a cache)
# and names in KEEL_TEST_CHROMIUM_OLD and KEEL_TEST_FIREFOX_OLD. It needs
# the shared libraries that the packages above pulled in.
browsers=$(scripts/browsers.sh)
eval "${browsers}"
trap sweep EXIT

# choose exports the image variable $1: its current value when set, else the
# public image $2 when available, else the local image $4 built by recipe $3.
to_build=()
choose() {
	local env=$1 public=$2 recipe=$3 local_image=$4
	if [[ -n ${!env:-} ]]; then
		log "${env}=${!env} (from the environment)"
	elif available "${public}"; then
		export "${env}=${public}"
		log "${env}=${public}"
	else
		log "${public} cannot be pulled here; using ${local_image}, built from scripts/images/${recipe}"
		export "${env}=${local_image}"
		to_build+=("${recipe}")
	fi
}
choose KEEL_TEST_POSTGRES_IMAGE "${DEFAULT_POSTGRES_IMAGE}" postgres "${LOCAL_POSTGRES_IMAGE}"
choose KEEL_TEST_MAILPIT_IMAGE "${DEFAULT_MAILPIT_IMAGE}" mailpit "${LOCAL_MAILPIT_IMAGE}"
# Redis only for test/nodes, which compares it with PostgreSQL as the store
# of shared rate limits.
choose KEEL_TEST_REDIS_IMAGE "${DEFAULT_REDIS_IMAGE}" redis "${LOCAL_REDIS_IMAGE}"
# SeaweedFS's S3 gateway for the S3 blob store's tests: always the image
# built here, as its command line is written for that build.
if [[ -n ${KEEL_TEST_S3_IMAGE:-} ]]; then
	log "KEEL_TEST_S3_IMAGE=${KEEL_TEST_S3_IMAGE} (from the environment)"
else
	export KEEL_TEST_S3_IMAGE=${LOCAL_SEAWEEDFS_IMAGE}
	log "KEEL_TEST_S3_IMAGE=${KEEL_TEST_S3_IMAGE}, built from scripts/images/seaweedfs"
	to_build+=(seaweedfs)
fi
# test/deploy runs Keel's own image, built from this checkout (make image)
# unless the caller names another: it is rebuilt whenever the source changed.
if [[ -n ${KEEL_TEST_KEEL_IMAGE:-} ]]; then
	log "KEEL_TEST_KEEL_IMAGE=${KEEL_TEST_KEEL_IMAGE} (from the environment)"
else
	export KEEL_TEST_KEEL_IMAGE=${LOCAL_KEEL_IMAGE}:latest
	log "KEEL_TEST_KEEL_IMAGE=${KEEL_TEST_KEEL_IMAGE}, built from this checkout by scripts/images/keel"
	to_build+=(keel)
fi
if ((${#to_build[@]} > 0)); then
	# A no-op taking well under a second when the images are up to date.
	scripts/images.sh "${to_build[@]}"
fi

if (($# == 0)); then
	set -- ./...
fi

go vet ./...
status=0
# The timeout guards against a test that hangs. test/authz, the longest
# package, builds thousands of databases under -race: 13 minutes on a quiet
# machine and over 30 on one whose load average was 15, so the bound leaves
# room for a busy machine.
go test -race -count=1 -timeout 45m "$@" || status=$?
# The race detector slows the SQLite driver tenfold, so under -race the
# export test streams 20,000 large submissions; the issue's 100,000 run
# here, without it (about 15 s). Only for the whole suite.
if [[ "$*" == "./..." ]]; then
	go test -count=1 -timeout 10m ./test/export/ || status=$?
fi
exit "${status}"
