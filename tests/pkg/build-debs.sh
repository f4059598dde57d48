#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Builds egpuhp's Debian packages the way a user would, "dpkg-buildpackage
# -b -us -uc", in a clean copy of the tree (tracked and new files, nothing
# ignored: no build/ or .cache/; not tests/, bench/ or *.md, which no
# package is built from, so that editing a test rebuilds nothing), and
# prints the directory holding the .debs: build/deb/<hash of the copied
# files>/.  A second call for the same files reuses them; the VM tier and
# the package test share one build.
set -euo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
mkdir -p build/deb
exec 9>build/deb/.lock
flock 9

# shellcheck disable=SC2016 # the inner sh expands "$f"
files() { git ls-files -z --cached --others --exclude-standard -- \
		':!tests/' ':!bench/' ':!*.md' | xargs -0 -n 200 sh -c \
	'for f; do [ -f "$f" ] && printf "%s\0" "$f"; done' sh; }
hash=$(files | xargs -0 sha256sum | sha256sum | cut -c1-16)
out=$top/build/deb/$hash
if [ -f "$out/ok" ]; then
	echo "$out"
	exit 0
fi
rm -rf "$out"
mkdir -p "$out/src/egpuhp"
files | cpio -0 -pdm --quiet "$out/src/egpuhp"
if ! (cd "$out/src/egpuhp" && nice -n 10 dpkg-buildpackage -b -us -uc) >"$out/build.log" 2>&1; then
	tail -40 "$out/build.log" >&2
	echo "build-debs.sh: dpkg-buildpackage failed, log in $out/build.log" >&2
	exit 1
fi
mv "$out"/src/*.deb "$out"/src/*.changes "$out"/src/*.buildinfo "$out/"
rm -rf "$out/src"
touch "$out/ok"
# keep the newest few builds only
find build/deb -mindepth 1 -maxdepth 1 -type d -printf '%T@ %p\n' | sort -rn |
	tail -n +4 | cut -d' ' -f2- | xargs -r rm -rf
echo "$out"
