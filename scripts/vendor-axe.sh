#!/usr/bin/env bash
# vendor-axe.sh fetches axe-core, the accessibility checker the console's
# browser tests run on every page (test/console's crawl), from the npm
# registry into test/browser/testdata/axe, where test/browser embeds it and
# injects it into the page through the DevTools protocol. Tests never
# download it: the checked-in copy is what they run, so they work offline.
#
# Usage: scripts/vendor-axe.sh
#
# To refresh it, change VERSION and INTEGRITY (npm view
# axe-core@<version> dist.integrity), run this script and run the crawl
# (go test ./test/console -run TestCrawl). The package's tarball is checked
# against INTEGRITY, the registry's SHA-512, before anything is copied.
set -euo pipefail

readonly PACKAGE=axe-core
readonly VERSION=4.14.1
readonly INTEGRITY=sha512-FHfa+lmNjQZfJz1q8wKqIDwC6DExcHt/pkjNQb09a3NPjCKg2rhu5qb2S4r76ASyFNNtuFooJpZe37OgudVGtQ==
# The minified script and its licence (MPL-2.0, which asks that the
# licence travel with the file) are all the tests need.
readonly FILES=(axe.min.js LICENSE)

cd "$(dirname "$0")/.."
readonly DEST=test/browser/testdata/axe

work=$(mktemp -d)
trap 'rm -rf "${work}"' EXIT

tarball=$(cd "${work}" && npm pack --silent "${PACKAGE}@${VERSION}")
got="sha512-$(openssl dgst -sha512 -binary "${work}/${tarball}" | base64 -w0)"
if [[ ${got} != "${INTEGRITY}" ]]; then
	printf 'vendor-axe.sh: %s@%s has integrity %s, want %s\n' "${PACKAGE}" "${VERSION}" "${got}" "${INTEGRITY}" >&2
	exit 1
fi
tar -xzf "${work}/${tarball}" -C "${work}"

rm -rf "${DEST}"
mkdir -p "${DEST}"
for f in "${FILES[@]}"; do
	cp "${work}/package/${f}" "${DEST}/${f}"
done
printf '%s@%s %s\n' "${PACKAGE}" "${VERSION}" "${INTEGRITY}" >"${DEST}/VERSION"
printf 'vendor-axe.sh: %s@%s in %s\n' "${PACKAGE}" "${VERSION}" "${DEST}" >&2
