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
# shellcheck source=scripts/vendorlib.sh
source scripts/vendorlib.sh
vendor_npm "${PACKAGE}" "${VERSION}" "${INTEGRITY}" test/browser/testdata/axe "${FILES[@]}"
