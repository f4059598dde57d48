#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# egpuhp-test: once
#
# The shutdown unit (systemd/egpuhp-deauthorize.service): valid for
# systemd, stopped by the shutdown transaction after egpud and the display
# manager and before local filesystems go, and its ExecStop de-authorizes
# only when the system is really going down -- a restart of the unit by a
# package upgrade must leave the eGPU alone.  ExecStop runs here with a
# stand-in systemctl and egpuctl (named fake in the test names).
set -uo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
unit=$top/systemd/egpuhp-deauthorize.service
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# shellcheck source=../tap.sh
. "$top/tests/tap.sh"

key() {		# key NAME: the values of NAME= in the unit, space separated
	sed -n "s/^$1=//p" "$unit" | tr '\n' ' '
}

has() {		# has KEY WORD
	local v
	v=$(key "$1")
	[[ " $v " == *" $2 "* ]] || { echo "$1=$v lacks $2"; return 1; }
}

verify() {
	# man pages are not installed here: that complaint is not about the unit
	systemd-analyze verify "$unit" 2>&1 | grep -v "Command 'man " | tee "$tmp/verify"
	[[ ! -s $tmp/verify ]]
}

# ExecStop as systemd runs it ($$ is a literal $), with /usr/bin/egpuctl
# replaced by a stand-in that records its arguments; systemctl answers $1.
exec_stop() {	# exec_stop SYSTEM_STATE
	local cmd
	mkdir -p "$tmp/bin"
	printf '#!/bin/sh\necho "%s"\n[ "%s" = running ]\n' "$1" "$1" > "$tmp/bin/systemctl"
	printf '#!/bin/sh\necho "$*" >> %s/egpuctl.calls\n' "$tmp" > "$tmp/bin/egpuctl"
	chmod +x "$tmp/bin/systemctl" "$tmp/bin/egpuctl"
	rm -f "$tmp/egpuctl.calls"
	cmd=$(sed -n 's/^ExecStop=//p' "$unit" | sed 's/\$\$/$/g' |
	      sed "s@/usr/bin/egpuctl@$tmp/bin/egpuctl@g")
	[[ $cmd == "/bin/sh -c '"*"'" ]] || { echo "unexpected ExecStop: $cmd"; return 1; }
	cmd=${cmd#/bin/sh -c \'}
	PATH=$tmp/bin:$PATH /bin/sh -c "${cmd%\'}"
}

stop_at_shutdown() {
	exec_stop stopping || return 1
	[[ $(cat "$tmp/egpuctl.calls" 2>/dev/null) == "deauthorize --all" ]] ||
		{ echo "egpuctl calls: $(cat "$tmp/egpuctl.calls" 2>/dev/null)"; return 1; }
}

stop_not_at_shutdown() {	# a restart while running (upgrade), or degraded
	local state
	for state in running degraded maintenance; do
		exec_stop "$state" || return 1
		[[ ! -e $tmp/egpuctl.calls ]] || { echo "$state: egpuctl ran"; return 1; }
	done
}

if command -v systemd-analyze >/dev/null; then
	check "systemd-analyze verify: the unit is valid" verify
fi
check "stopped by the shutdown transaction (Conflicts= and Before=shutdown.target)" \
	bash -c "$(declare -f key has); unit=$unit; has Conflicts shutdown.target && has Before shutdown.target"
check "stops after egpud and the display manager (Before= both)" \
	bash -c "$(declare -f key has); unit=$unit; has Before egpud.service && has Before display-manager.service"
check "stops before local filesystems are unmounted (After=local-fs.target)" \
	bash -c "$(declare -f key has); unit=$unit; has After local-fs.target"
check "the unit stays active after start (RemainAfterExit), not stopped by isolate" \
	bash -c "$(declare -f key has); unit=$unit; has RemainAfterExit yes && has IgnoreOnIsolate yes"
check "ExecStop at shutdown runs egpuctl deauthorize --all (fake systemctl, fake egpuctl)" \
	stop_at_shutdown
check "ExecStop on a restart/upgrade leaves the eGPU alone (fake systemctl, fake egpuctl)" \
	stop_not_at_shutdown

tap_done
