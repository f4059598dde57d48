#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# egpuhp-test: once
#
# The systemd units: systemd-analyze verify finds nothing wrong with them
# (in a root holding what they name), egpud.service is Type=notify and
# ordered after bolt.service, and its sandbox keeps systemd-analyze
# security's exposure at or below a bound (bolt.service's own sandbox
# scores about that).  Needs systemd-analyze (Debian: systemd).
set -uo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
MAX_EXPOSURE=4.5
# shellcheck source=../tap.sh
. "$top/tests/tap.sh"

if ! command -v systemd-analyze >/dev/null; then
	echo "1..0 # SKIP systemd-analyze not installed"
	exit 0
fi

# A root with systemd's own units and a stand-in for every program the
# units start (verify checks that each is an executable).
root=$tmp/root
mkdir -p "$root/etc/systemd/system" "$root/usr/lib/systemd"
cp -a /usr/lib/systemd/system "$root/usr/lib/systemd/"
for u in systemd/*.service; do
	cp "$u" "$root/etc/systemd/system/"
done
for f in $(sed -n 's/^Exec[A-Za-z]*=[-@+!:]*\(\/[^ ]*\).*/\1/p' systemd/*.service | sort -u); do
	mkdir -p "$root$(dirname "$f")"
	printf '#!/bin/sh\n' > "$root$f"
	chmod 755 "$root$f"
done

verify() {	# verify UNIT: no output at all means no finding
	systemd-analyze verify --man=no --root="$root" "$root/etc/systemd/system/$1" \
		> "$tmp/verify" 2>&1
	cat "$tmp/verify"
	[[ ! -s $tmp/verify ]]
}

for u in systemd/*.service; do
	check "systemd-analyze verify $(basename "$u")" verify "$(basename "$u")"
done

unit_has() {	# unit_has UNIT KEY=VALUE
	grep -qx "$2" "systemd/$1" || { echo "$1: no line $2"; return 1; }
}
check "egpud.service: Type=notify" unit_has egpud.service "Type=notify"
check "egpud.service: ordered after bolt.service" \
	grep -q '^After=.*bolt\.service' systemd/egpud.service
check "egpud.service: sockets only AF_UNIX and AF_NETLINK" \
	unit_has egpud.service "RestrictAddressFamilies=AF_UNIX AF_NETLINK"
check "egpud.service: runtime directory kept across restarts (checkpoint records)" \
	unit_has egpud.service "RuntimeDirectoryPreserve=yes"

exposure() {	# exposure UNIT MAX
	systemd-analyze security --offline=yes --root="$root" --no-pager \
		"$root/etc/systemd/system/$1" > "$tmp/sec" 2>&1
	local score
	score=$(sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p' "$tmp/sec")
	echo "exposure of $1: ${score:-unknown} (at most $2)"
	grep -E '✗' "$tmp/sec" | head -20
	[[ -n $score ]] && awk -v s="$score" -v m="$2" 'BEGIN { exit !(s <= m) }'
}
check "systemd-analyze security: egpud.service exposure <= $MAX_EXPOSURE" \
	exposure egpud.service "$MAX_EXPOSURE"

tap_done
