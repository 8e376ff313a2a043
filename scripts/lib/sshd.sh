# shellcheck shell=bash
# Starts a test OpenSSH server on 127.0.0.1:$WSS_SSHD_PORT with its own host key and config, for
# the EIC tests: the `aws` stand-in (tests/fixtures/aws) pushes keys into $WSS_TEST_SSHD_KEYS and
# tunnels to it. The OS user is `ubuntu`, as on EC2 (created when missing).

WSS_SSHD_PORT="${WSS_SSHD_PORT:-2222}"

start_sshd() {
  local dir="$WSS_TEST_STATE/sshd"
  export WSS_TEST_SSHD_PORT="$WSS_SSHD_PORT"
  export WSS_TEST_SSHD_KEYS="$dir/keys"
  export WSS_TEST_AWS_LOG="$WSS_TEST_STATE/aws.log"
  mkdir -p "$dir/keys" /run/sshd
  chmod 755 "$dir" "$dir/keys"
  : >"$WSS_TEST_AWS_LOG"
  id ubuntu >/dev/null 2>&1 || useradd -m -s /bin/bash ubuntu
  # A locked account (no password at all) is refused by sshd without PAM; '*' only forbids passwords.
  usermod -p '*' ubuntu
  # As on the workspace instances: the OS user has passwordless sudo, and the runtime bases
  # /opt/configs (langgraph and most runtimes) and /configs (claude-code) belong to root.
  echo 'ubuntu ALL=(ALL) NOPASSWD: ALL' >/etc/sudoers.d/wss-test-ubuntu
  chmod 0440 /etc/sudoers.d/wss-test-ubuntu
  install -d -o root -g root -m 0755 /opt/configs /configs
  [ -f "$dir/host_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -f "$dir/host_ed25519"
  cat >"$dir/sshd_config" <<CONF
Port $WSS_SSHD_PORT
ListenAddress 127.0.0.1
HostKey $dir/host_ed25519
PidFile $dir/sshd.pid
AuthorizedKeysFile $dir/keys/%u
StrictModes no
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
PermitRootLogin no
MaxSessions 200
MaxStartups 200:30:400
CONF
  # A test sshd of an earlier run (of this or another checkout) holds the port: replace it.
  # (A listening sshd retitles itself "sshd: /usr/sbin/sshd -f … [listener] …".)
  if pkill -f '/usr/sbin/sshd -f .*/sshd/sshd_config' 2>/dev/null; then
    sleep 0.5
  fi
  rm -f "$dir/sshd.pid"
  echo "==> starting sshd on 127.0.0.1:$WSS_SSHD_PORT"
  /usr/sbin/sshd -f "$dir/sshd_config" -E "$dir/sshd.log"
  for _ in $(seq 1 50); do
    # Ours, not whatever else may hold the port: its pid file names a live process.
    if [ -s "$dir/sshd.pid" ] && kill -0 "$(cat "$dir/sshd.pid")" 2>/dev/null &&
      (echo >"/dev/tcp/127.0.0.1/$WSS_SSHD_PORT") 2>/dev/null; then
      return 0
    fi
    sleep 0.1
  done
  echo "sshd did not come up; its log:" >&2
  cat "$dir/sshd.log" >&2
  return 1
}
