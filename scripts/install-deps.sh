#!/usr/bin/env bash
# Installs the system programs hoard's tests and benchmarks talk to for real:
# rclone (transfers, S3/SFTP backends), OpenSSH (ssh remotes on loopback), restic/b3sum/rsync
# (peers measured by `npm run bench`), jq (pipelines in tests), GNU time (peak memory).
# Idempotent: does nothing when everything is already there.
set -euo pipefail

need=()
have() { command -v "$1" >/dev/null 2>&1; }
have rclone || need+=(rclone)
have sshd || [ -x /usr/sbin/sshd ] || need+=(openssh-server)
have ssh || need+=(openssh-client)
have restic || need+=(restic)
have b3sum || need+=(b3sum)
have rsync || need+=(rsync)
have jq || need+=(jq)
[ -x /usr/bin/time ] || need+=(time)
have runuser || need+=(util-linux)

if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  if have sudo; then SUDO=sudo; else
    echo "install-deps: need root to install: ${need[*]} (run: apt-get install ${need[*]})" >&2
    exit 1
  fi
else
  SUDO=
fi
echo "install-deps: installing ${need[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >/dev/null
$SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
