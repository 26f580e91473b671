#!/usr/bin/env bash
# build.sh makes a Redis image from Debian's own redis-server package, as
# scripts/images/postgres does for PostgreSQL, because this machine has no
# container registry to pull redis from. Keel does not use Redis; the image
# serves the benchmark that compared it with PostgreSQL as the store of
# shared rate limits (BENCHMARKS.md, "Issue 14").
#
# Usage: build.sh IMAGE REVISION
#
# debootstrap installs a minimal Debian with redis-server into a directory;
# we trim what a server never uses and `docker import` the tree. It takes
# about a minute and gives an image of about 90 MB.
set -euo pipefail

readonly IMAGE=$1 REVISION=$2
# bookworm's redis-server is Redis 7.0.
readonly SUITE=bookworm

log() { printf '%s\n' "$*" >&2; }

if [[ ${EUID} -ne 0 ]]; then
	log "building ${IMAGE} needs root (debootstrap); run as root or set KEEL_TEST_REDIS_IMAGE"
	exit 1
fi

# The host's Debian mirror, found as the PostgreSQL recipe finds it.
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/images/mirror.sh
. "${here}/../mirror.sh"

if ! command -v debootstrap >/dev/null 2>&1; then
	log "installing debootstrap with apt"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
fi

url=$(mirror)
rootfs=$(mktemp -d /var/tmp/keel-redis-rootfs.XXXXXX)
cleanup() {
	local m
	for m in proc sys dev/pts dev; do
		if mountpoint -q "${rootfs}/${m}" 2>/dev/null; then
			umount -l "${rootfs}/${m}" || true
		fi
	done
	rm -rf --one-file-system "${rootfs}"
}
trap cleanup EXIT

log "debootstrap ${SUITE} with redis-server from ${url}"
debootstrap --variant=minbase --include=redis-server "${SUITE}" "${rootfs}" "${url}"

log "trimming the root file system"
rm -rf "${rootfs}"/usr/share/{doc,man,info,locale,i18n} \
	"${rootfs}"/var/cache/apt/* "${rootfs}"/var/lib/apt/lists/* \
	"${rootfs}"/var/cache/debconf/*-old "${rootfs}"/var/log/*.log

log "importing ${IMAGE}"
# The server keeps nothing on disk (no RDB snapshots, no append-only file),
# listens on every interface of its container (the test publishes the port
# on 127.0.0.1 only) and runs in the foreground as Debian's redis user.
tar --numeric-owner -C "${rootfs}" \
	--exclude='./dev/*' --exclude='./proc/*' --exclude='./sys/*' -c . |
	docker import \
		--change 'USER redis' \
		--change 'WORKDIR /var/lib/redis' \
		--change 'EXPOSE 6379' \
		--change 'ENTRYPOINT ["/usr/bin/redis-server", "--bind", "0.0.0.0", "--protected-mode", "no", "--save", "", "--appendonly", "no", "--daemonize", "no", "--logfile", ""]' \
		--change "LABEL org.keelhq.image=redis org.keelhq.recipe=${REVISION}" \
		- "${IMAGE}" >/dev/null
