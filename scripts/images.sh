#!/usr/bin/env bash
# images.sh builds the images the container tests use on machines without a
# container registry: local/postgres and local/redis from Debian's packages,
# local/mailpit from Mailpit's Go module and local/seaweedfs from
# SeaweedFS's; and Keel's own image, local/keel, from this checkout (make
# image). The recipes live in
# scripts/images/<name>/.
#
# Each image is built only when it is missing or was built from another
# recipe: images carry an org.keelhq.recipe label holding a hash of their
# recipe directory, so editing a recipe rebuilds that image and nothing else.
# A second run with nothing to do takes well under a second.
#
# local/keel's revision also covers the source tree (the commit, the edits
# and the new files), so any change to Keel rebuilds it.
#
# Usage: scripts/images.sh [postgres] [mailpit] [redis] [seaweedfs] [keel]    (no argument: all but keel)
set -euo pipefail

cd "$(dirname "$0")/.."
# shellcheck source=scripts/images/images.env
. scripts/images/images.env

log() { printf 'images.sh: %s\n' "$*" >&2; }

scripts/docker.sh

# Two runs at once (make images beside make test) would build the same image
# twice; the lock makes the second wait and then find the images up to date.
# It is taken after docker.sh, so a dockerd started there cannot inherit the
# descriptor and hold the lock forever.
exec 9>"${TMPDIR:-/tmp}/keel-images.lock"
flock 9

# revision hashes a recipe directory's file names and contents.
revision() {
	(cd "scripts/images/$1" && LC_ALL=C sha256sum -- * | sha256sum | cut -c1-12)
}

# source_revision hashes the checkout as git sees it: HEAD, the changes to
# tracked files and the untracked files that are not ignored.
source_revision() {
	{
		git rev-parse HEAD
		git diff HEAD --binary
		git ls-files --others --exclude-standard -z | xargs -0 -r sha256sum
	} | sha256sum | cut -c1-12
}

# built_revision prints the recipe label of an image, or nothing if missing.
built_revision() {
	docker image inspect --format '{{index .Config.Labels "org.keelhq.recipe"}}' "$1" 2>/dev/null || true
}

pids=()

# install_debootstrap installs what the postgres and redis recipes build
# with, here and before either starts: each recipe would install it itself,
# but two at once contend for apt's lock and the second fails (it did on a
# fresh machine), so it is installed once, in the foreground.
install_debootstrap() {
	if command -v debootstrap >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1 || [[ $(id -u) -ne 0 ]]; then
		return
	fi
	log "installing debootstrap with apt"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null 2>&1 ||
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null; }
}

# build starts one image's recipe in the background when the image is stale.
# The two builds overlap well: debootstrap mostly waits on the network while
# the Go build keeps the CPUs busy.
build() {
	local name=$1 image=$2 version=$3
	local rev
	rev=$(revision "${name}")
	if [[ ${name} == keel ]]; then
		rev="${rev}-$(source_revision)"
	fi
	if [[ $(built_revision "${image}") == "${rev}" ]]; then
		log "${image} is up to date (recipe ${rev})"
		return
	fi
	local out="${TMPDIR:-/tmp}/keel-image-${name}.log"
	log "building ${image} (recipe ${rev}); log: ${out}"
	if [[ ${name} == postgres || ${name} == redis ]]; then
		install_debootstrap
	fi
	(
		start=${SECONDS}
		if "scripts/images/${name}/build.sh" "${image}" "${rev}" "${version}" >"${out}" 2>&1; then
			log "built ${image} in $((SECONDS - start)) s"
		else
			log "building ${image} failed; the end of ${out} follows"
			tail -n 40 "${out}" >&2
			exit 1
		fi
	) &
	pids+=($!)
}

if (($# == 0)); then
	set -- postgres mailpit redis seaweedfs
fi
for name in "$@"; do
	case ${name} in
	postgres) build postgres "${LOCAL_POSTGRES_IMAGE}" "${POSTGRES_MAJOR}" ;;
	mailpit) build mailpit "${LOCAL_MAILPIT_IMAGE}" "${MAILPIT_VERSION}" ;;
	redis) build redis "${LOCAL_REDIS_IMAGE}" "" ;;
	seaweedfs) build seaweedfs "${LOCAL_SEAWEEDFS_IMAGE}" "${SEAWEEDFS_VERSION}" ;;
	keel) build keel "${LOCAL_KEEL_IMAGE}" "${VERSION:-$(git describe --tags --always --dirty)}" ;;
	*)
		log "unknown image ${name}; known: postgres, mailpit, redis, seaweedfs, keel"
		exit 2
		;;
	esac
done

failed=0
for pid in "${pids[@]}"; do
	wait "${pid}" || failed=1
done

# Re-importing a tag leaves the previous image dangling. Only our own images
# carry org.keelhq.image, so other projects' dangling images stay untouched.
if ((${#pids[@]} > 0)); then
	docker image prune --force --filter label=org.keelhq.image >/dev/null
fi
exit "${failed}"
