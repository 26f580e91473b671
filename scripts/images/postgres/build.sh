#!/usr/bin/env bash
# build.sh makes a PostgreSQL image from Debian's own packages, because this
# machine has no container registry to pull postgres from.
#
# Usage: build.sh IMAGE REVISION PG_MAJOR
#
# debootstrap installs a minimal Debian with postgresql-$PG_MAJOR into a
# directory; we trim what a test server never uses, add an entrypoint that
# behaves like the official image's, and `docker import` the tree. It takes
# about 1 to 1.5 minutes and gives an image of about 170 MB.
set -euo pipefail

readonly IMAGE=$1 REVISION=$2 PG_MAJOR=$3
# bookworm is the Debian release whose PostgreSQL is 15.
readonly SUITE=bookworm
here=$(cd "$(dirname "$0")" && pwd)
readonly HERE=${here}

log() { printf '%s\n' "$*" >&2; }

if [[ ${EUID} -ne 0 ]]; then
	log "building ${IMAGE} needs root (debootstrap and chroot); run as root or set KEEL_TEST_POSTGRES_IMAGE"
	exit 1
fi

# shellcheck source=scripts/images/mirror.sh
. "${here}/../mirror.sh"

if ! command -v debootstrap >/dev/null 2>&1; then
	log "installing debootstrap with apt"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
fi

url=$(mirror)
rootfs=$(mktemp -d /var/tmp/keel-postgres-rootfs.XXXXXX)
# cleanup unmounts whatever debootstrap left mounted if it failed midway, and
# --one-file-system keeps rm from ever descending into such a mount.
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

log "debootstrap ${SUITE} with postgresql-${PG_MAJOR} from ${url}"
debootstrap --variant=minbase --include="postgresql-${PG_MAJOR}" "${SUITE}" "${rootfs}" "${url}"

log "trimming the root file system"
# postgresql-common creates a cluster at install time; the entrypoint makes
# its own in $PGDATA, as the official image does.
rm -rf "${rootfs}/var/lib/postgresql/${PG_MAJOR}" "${rootfs}/etc/postgresql/${PG_MAJOR}"
# The LLVM JIT is most of the package's weight; the entrypoint sets jit=off.
rm -rf "${rootfs}/usr/lib/postgresql/${PG_MAJOR}/lib/bitcode" \
	"${rootfs}/usr/lib/postgresql/${PG_MAJOR}/lib/llvmjit"*
rm -f "${rootfs}"/usr/lib/*/libLLVM* "${rootfs}"/usr/lib/*/libz3*
# Documentation, translations, locale sources (initdb uses glibc's built-in
# C.UTF-8) and apt's caches serve no test. zoneinfo stays: Debian's
# PostgreSQL reads its time zones from there.
rm -rf "${rootfs}"/usr/share/{doc,man,info,locale,i18n} \
	"${rootfs}"/var/cache/apt/* "${rootfs}"/var/lib/apt/lists/* \
	"${rootfs}"/var/cache/debconf/*-old "${rootfs}"/var/log/*.log

install -m 0755 "${HERE}/docker-entrypoint.sh" "${rootfs}/usr/local/bin/docker-entrypoint.sh"
# The socket directory and $PGDATA must belong to postgres, whose uid only
# the image's /etc/passwd knows, hence chroot.
chroot "${rootfs}" install -d -o postgres -g postgres -m 3777 /run/postgresql
chroot "${rootfs}" install -d -o postgres -g postgres -m 0700 /var/lib/postgresql/data
install -d -m 0755 "${rootfs}/docker-entrypoint-initdb.d"

log "importing ${IMAGE}"
# docker import accepts ENV, USER, WORKDIR, EXPOSE, ENTRYPOINT, CMD and LABEL
# but, in Docker 20.10, not STOPSIGNAL: the server stops on SIGTERM (smart
# shutdown) instead of the official image's SIGINT.
# Debian's psql is a perl wrapper that looks for clusters under /etc; putting
# the real binaries first on PATH bypasses it.
tar --numeric-owner -C "${rootfs}" \
	--exclude='./dev/*' --exclude='./proc/*' --exclude='./sys/*' -c . |
	docker import \
		--change 'USER postgres' \
		--change 'WORKDIR /var/lib/postgresql' \
		--change "ENV PATH=/usr/lib/postgresql/${PG_MAJOR}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
		--change 'ENV PGDATA=/var/lib/postgresql/data' \
		--change 'ENV LANG=C.UTF-8' \
		--change 'EXPOSE 5432' \
		--change 'ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]' \
		--change 'CMD ["postgres"]' \
		--change "LABEL org.keelhq.image=postgres org.keelhq.recipe=${REVISION}" \
		- "${IMAGE}" >/dev/null
