#!/usr/bin/env bash
# browsers.sh provides the previous version of each browser the console is
# tested in, beside the current one apt installs (scripts/test.sh):
# Chromium 150 and Firefox ESR 140, from Debian bookworm's point release,
# where bookworm-security holds Chromium 156 and Firefox ESR 153. dpkg keeps
# one version of a package, so these are not installed: their .debs are
# downloaded by exact version with apt-get download, which checks them
# against the archive's signed index, and unpacked with dpkg-deb into a
# cache folder outside the checkout, once.
#
# Usage: eval "$(scripts/browsers.sh)"
#
# It prints, for eval, the variables test/browser and test/firefox read:
#
#   export KEEL_TEST_CHROMIUM_OLD=<cache>/chromium-<version>/usr/lib/chromium/chromium
#   export KEEL_TEST_FIREFOX_OLD=<cache>/firefox-esr-<version>/usr/lib/firefox-esr/firefox-esr
#
# A variable already set in the environment is kept, so a developer can
# point the tests at browsers of their own. The cache is
# $KEEL_BROWSERS_CACHE, by default ${XDG_CACHE_HOME:-~/.cache}/keel-browsers.
# The unpacked browsers use the shared libraries that the current versions'
# packages pulled in; the script checks with ldd that nothing is missing.
# It fails, and make test with it, when a browser cannot be provided.
set -euo pipefail

readonly CHROMIUM_OLD_VERSION=150.0.7871.100-1~deb12u1
readonly FIREFOX_OLD_VERSION=140.12.0esr-1~deb12u1
readonly CACHE=${KEEL_BROWSERS_CACHE:-${XDG_CACHE_HOME:-${HOME}/.cache}/keel-browsers}

log() { printf 'browsers.sh: %s\n' "$*" >&2; }
die() {
	log "$*"
	exit 1
}

# known succeeds when apt's index holds version $2 of package $1
# (apt-cache show succeeds for an unknown version too, printing nothing).
known() { apt-get download --print-uris "$1=$2" >/dev/null 2>&1; }

# download fetches version $1 of the packages $3... into folder $2.
download() {
	local version=$1 dir=$2 pkg
	shift 2
	local want=()
	for pkg in "$@"; do
		if ! known "${pkg}" "${version}"; then
			if [[ ${EUID} -ne 0 ]]; then
				die "apt does not know ${pkg} ${version}: run apt-get update as root, or set the variable yourself"
			fi
			log "apt does not know ${pkg} ${version}; updating its index"
			apt-get update -qq
			known "${pkg}" "${version}" ||
				die "Debian's archive no longer has ${pkg} ${version}: a newer bookworm point release replaced it; update the versions in scripts/browsers.sh"
		fi
		want+=("${pkg}=${version}")
	done
	local opts=(-qq)
	if [[ ${EUID} -eq 0 ]]; then
		# apt drops to the _apt user for downloads, who may not write to
		# a folder made by mktemp (mode 700); root may.
		opts+=(-o APT::Sandbox::User=root)
	fi
	(cd "${dir}" && apt-get download "${opts[@]}" "${want[@]}" >&2)
}

# check_libs fails unless every shared library that binary $1 and the
# libraries beside it need is found, looking first in folder $2 (Firefox
# loads its own libraries from there).
check_libs() {
	local binary=$1 libdir=$2 f missing
	missing=$(
		for f in "${binary}" "${libdir}"/*.so; do
			[[ -f ${f} ]] || continue
			LD_LIBRARY_PATH=${libdir} ldd "${f}" 2>/dev/null | grep 'not found' || true
		done | sort -u
	)
	if [[ -n ${missing} ]]; then
		die "$(basename "${binary}") lacks shared libraries (install the Debian packages that provide them):
${missing}"
	fi
}

# provide VAR RELPATH VERSION PKG... prints VAR's export line: its value
# when set, else the binary RELPATH in version VERSION of the packages,
# unpacked together into the cache the first time.
provide() {
	local var=$1 rel=$2 version=$3
	shift 3
	if [[ -n ${!var:-} ]]; then
		log "${var}=${!var} (from the environment)"
		printf 'export %s=%q\n' "${var}" "${!var}"
		return
	fi
	command -v apt-get >/dev/null 2>&1 && command -v dpkg-deb >/dev/null 2>&1 ||
		die "${var} is not set and this machine has no apt-get and dpkg-deb to fetch $1 ${version}: set it to that browser's binary"
	local dir=${CACHE}/$1-${version}
	if [[ ! -f ${dir}/.complete ]]; then
		log "fetching $* ${version} from Debian's archive into ${dir}"
		local work deb
		work=$(mktemp -d "${CACHE}/.work.XXXXXX")
		download "${version}" "${work}" "$@"
		mkdir "${work}/root"
		for deb in "${work}"/*.deb; do
			dpkg-deb -x "${deb}" "${work}/root"
		done
		[[ -x ${work}/root/${rel} ]] || die "$* ${version} has no ${rel}"
		check_libs "${work}/root/${rel}" "$(dirname "${work}/root/${rel}")"
		touch "${work}/root/.complete"
		rm -rf "${dir}"
		mv "${work}/root" "${dir}"
	fi
	check_libs "${dir}/${rel}" "$(dirname "${dir}/${rel}")"
	log "${var}=${dir}/${rel} ($("${dir}/${rel}" --version 2>/dev/null | head -n 1))"
	printf 'export %s=%q\n' "${var}" "${dir}/${rel}"
}

mkdir -p "${CACHE}"
# Two runs at once (two checkouts, say) take turns; the second finds the
# browsers unpacked.
exec 9>"${CACHE}/.lock"
flock 9
# The downloads and half-unpacked folders, which only the lock's holder
# makes, go when the script ends, whether it succeeded or not.
trap 'rm -rf "${CACHE}"/.work.*' EXIT
# The binary itself, not /usr/bin's launcher script: the launcher looks
# for the browser under /usr/lib, where the current version lives.
provide KEEL_TEST_CHROMIUM_OLD usr/lib/chromium/chromium "${CHROMIUM_OLD_VERSION}" chromium chromium-common
provide KEEL_TEST_FIREFOX_OLD usr/lib/firefox-esr/firefox-esr "${FIREFOX_OLD_VERSION}" firefox-esr
