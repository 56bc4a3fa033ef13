#!/usr/bin/env bash
# A single-node Slurm on this machine, for the Slurm executor's tests (Debian, as root).
#
#   scripts/slurm-local.sh start    install (apt, if missing) and start munged, slurmctld
#                                   and slurmd; wait until `sinfo` shows the node idle
#   scripts/slurm-local.sh status   say whether the daemons this script started run
#   scripts/slurm-local.sh stop     kill exactly the daemons this script started
#
# `start` records the PIDs of the daemons it started in $STATE_DIR/pids ("name pid" per
# line); `stop` kills those PIDs only, never daemons found by name. `start` when every
# recorded daemon still runs does nothing. A Slurm it did not start (daemons already
# running from elsewhere) is used as it is, if it answers, and never stopped.
#
# The configuration is the one of docs/cluster.md ("Trying it on one machine"): one
# node, `localhost`, with every CPU of this machine, partition `debug`, no accounting.
set -euo pipefail

STATE_DIR=${ORCAPOD_SLURM_STATE:-/run/orcapod-slurm-local}
PIDS="$STATE_DIR/pids"
WAIT_SECONDS=${ORCAPOD_SLURM_WAIT:-60}

say() { echo "slurm-local: $*" >&2; }
die() { say "$*"; exit 1; }

# The command name of a live process, or nothing.
comm_of() { cat "/proc/$1/comm" 2>/dev/null || true; }

# Whether every recorded daemon is alive (same pid, same program).
recorded_alive() {
  [ -s "$PIDS" ] || return 1
  local name pid
  while read -r name pid; do
    [ "$(comm_of "$pid")" = "$name" ] || return 1
  done <"$PIDS"
}

stop() {
  [ -f "$PIDS" ] || { say "nothing recorded in $PIDS: nothing to stop"; return 0; }
  local name pid
  # Reverse order: slurmd, slurmctld, then munged.
  tac "$PIDS" | while read -r name pid; do
    if [ "$(comm_of "$pid")" = "$name" ]; then
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 1 50); do
        [ "$(comm_of "$pid")" = "$name" ] || break
        sleep 0.1
      done
      if [ "$(comm_of "$pid")" = "$name" ]; then
        kill -9 "$pid" 2>/dev/null || true
      fi
      say "stopped $name (pid $pid)"
    fi
  done
  rm -f "$PIDS"
}

install_if_missing() {
  if command -v slurmctld >/dev/null && command -v slurmd >/dev/null \
    && command -v sbatch >/dev/null && command -v munged >/dev/null; then
    return 0
  fi
  [ "$(id -u)" -eq 0 ] || die "Slurm is not installed and installing it needs root (apt-get install slurm-wlm munge)"
  command -v apt-get >/dev/null || die "Slurm is not installed and this is not a Debian-like system (no apt-get)"
  say "installing slurm-wlm and munge (apt-get)"
  # Keep the packages' maintainer scripts from starting daemons of their own: this script
  # starts (and stops) the only ones it uses.
  local policy=/usr/sbin/policy-rc.d made_policy=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod +x "$policy"
    made_policy=1
  fi
  local ok=0
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge >/dev/null || ok=$?
  [ "$made_policy" -eq 1 ] && rm -f "$policy"
  [ "$ok" -eq 0 ] || die "apt-get install slurm-wlm munge failed (exit $ok)"
}

configure() {
  mkdir -p /var/lib/slurm/slurmd /var/lib/slurm/slurmctld /var/log/slurm /run/munge /etc/slurm
  chown munge:munge /run/munge
  if [ ! -f /etc/munge/munge.key ]; then
    /usr/sbin/mungekey -c >/dev/null 2>&1 || die "cannot create /etc/munge/munge.key (mungekey -c)"
    chown munge:munge /etc/munge/munge.key
  fi
  # Never overwrite a configuration this script did not write (a real cluster's).
  if [ -f /etc/slurm/slurm.conf ] && ! head -1 /etc/slurm/slurm.conf | grep -q "orcapod's scripts/slurm-local.sh"; then
    die "/etc/slurm/slurm.conf exists and was not written by this script; not touching it (move it away to use the single-node setup)"
  fi
  cat >/etc/slurm/slurm.conf <<CONF
# Written by orcapod's scripts/slurm-local.sh: a single-node Slurm for tests.
ClusterName=local
SlurmctldHost=localhost
SlurmUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MinJobAge=300
KillWait=5
OverTimeLimit=0
StateSaveLocation=/var/lib/slurm/slurmctld
SlurmdSpoolDir=/var/lib/slurm/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
NodeName=localhost CPUs=$(nproc) RealMemory=4000 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
}

# Reads a daemon's pid file (written when it has daemonised), waiting a little.
pid_from() {
  local file=$1 name=$2 pid
  for _ in $(seq 1 100); do
    if [ -s "$file" ]; then
      pid=$(tr -dc '0-9' <"$file")
      if [ -n "$pid" ] && [ "$(comm_of "$pid")" = "$name" ]; then
        echo "$pid"
        return 0
      fi
    fi
    sleep 0.1
  done
  return 1
}

# The pid of a live daemon named `name` per its pid file, or nothing.
running_from_file() {
  local file=$1 name=$2 pid
  [ -s "$file" ] || return 0
  pid=$(tr -dc '0-9' <"$file")
  if [ -n "$pid" ] && [ "$(comm_of "$pid")" = "$name" ]; then echo "$pid"; fi
}

# Starts one daemon unless one runs already; records it when this script started it.
start_daemon() {
  local name=$1 pidfile=$2
  shift 2
  local existing
  existing=$(running_from_file "$pidfile" "$name")
  if [ -n "$existing" ]; then
    say "$name already runs (pid $existing), not started by this script: using it"
    return 0
  fi
  rm -f "$pidfile"
  "$@" || die "$name did not start ($*); see /var/log/slurm/ and the message above"
  local pid
  pid=$(pid_from "$pidfile" "$name") || die "$name did not write its pid file $pidfile; see /var/log/slurm/${name}.log"
  echo "$name $pid" >>"$PIDS"
  say "started $name (pid $pid)"
}

wait_idle() {
  local state="" resumed=0
  for _ in $(seq 1 $((WAIT_SECONDS * 2))); do
    state=$(sinfo -h -N -o '%T' 2>/dev/null | head -1 || true)
    case "$state" in
      idle | mixed | allocated) say "node localhost is $state"; return 0 ;;
      down* | drain* | drained*)
        if [ "$resumed" -eq 0 ]; then
          scontrol update nodename=localhost state=resume >/dev/null 2>&1 || true
          resumed=1
        fi
        ;;
    esac
    sleep 0.5
  done
  die "the node did not become idle within ${WAIT_SECONDS}s (sinfo says: '${state:-no answer}'); see /var/log/slurm/slurmctld.log and /var/log/slurm/slurmd.log"
}

start() {
  if recorded_alive; then
    say "already running (pids: $(awk '{print $1"="$2}' "$PIDS" | tr '\n' ' '))"
    return 0
  fi
  [ "$(id -u)" -eq 0 ] || die "starting Slurm needs root (the daemons run as root in this setup)"
  # Some recorded daemons died: stop the rest, then start afresh.
  [ -f "$PIDS" ] && stop
  install_if_missing
  configure
  mkdir -p "$STATE_DIR"
  : >"$PIDS"
  start_daemon munged /run/munge/munged.pid su -s /bin/sh munge -c /usr/sbin/munged
  start_daemon slurmctld /run/slurmctld.pid /usr/sbin/slurmctld
  start_daemon slurmd /run/slurmd.pid /usr/sbin/slurmd
  wait_idle
}

status() {
  if recorded_alive; then
    say "running: $(awk '{print $1"="$2}' "$PIDS" | tr '\n' ' ')"
    sinfo 2>/dev/null || true
    return 0
  fi
  say "not running (as started by this script)"
  return 1
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
