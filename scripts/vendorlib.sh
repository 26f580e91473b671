#!/usr/bin/env bash
# vendorlib.sh is sourced by the scripts that vendor a package from the npm
# registry (vendor-docs.sh, vendor-axe.sh): they differ in the package and
# the files they keep, not in how a package is fetched and checked.

# vendor_npm PACKAGE VERSION INTEGRITY DEST FILE... packs PACKAGE@VERSION
# from the registry, refuses it unless its tarball's SHA-512 is INTEGRITY
# (the registry's dist.integrity), and replaces DEST with the listed files
# of the package and a VERSION file naming what they came from.
vendor_npm() {
	local package=$1 version=$2 integrity=$3 dest=$4
	shift 4
	local work tarball got f
	work=$(mktemp -d)
	# shellcheck disable=SC2064 # the path is fixed now, on purpose
	trap "rm -rf '${work}'" RETURN
	tarball=$(cd "${work}" && npm pack --silent "${package}@${version}")
	got="sha512-$(openssl dgst -sha512 -binary "${work}/${tarball}" | base64 -w0)"
	if [[ ${got} != "${integrity}" ]]; then
		printf '%s: %s@%s has integrity %s, want %s\n' "$(basename "$0")" "${package}" "${version}" "${got}" "${integrity}" >&2
		return 1
	fi
	tar -xzf "${work}/${tarball}" -C "${work}"
	rm -rf "${dest}"
	mkdir -p "${dest}"
	for f in "$@"; do
		cp "${work}/package/${f}" "${dest}/${f}"
	done
	printf '%s@%s %s\n' "${package}" "${version}" "${integrity}" >"${dest}/VERSION"
	printf '%s: %s@%s in %s\n' "$(basename "$0")" "${package}" "${version}" "${dest}" >&2
}
