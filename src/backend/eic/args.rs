//! Every argv and remote command string of the EIC path, built by pure functions from quoted
//! parts (SPEC §7). Nothing here runs anything.

use std::path::Path;

/// Quotes `s` for a POSIX shell (with `shlex`): the result is one word whose value is exactly
/// `s`. A NUL cannot be in a shell word; the API refuses it at the edge (argv, env, cwd and
/// paths), so none reaches here, and one that did would become an empty word, never code.
pub fn shell_quote(s: &str) -> String {
    shlex::try_quote(s).map_or_else(|_| "''".to_owned(), |q| q.into_owned())
}

/// Quotes every word and joins them with spaces.
pub fn quote_all<S: AsRef<str>>(words: &[S]) -> String {
    words
        .iter()
        .map(|w| shell_quote(w.as_ref()))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Where and as whom the EIC path connects.
#[derive(Clone, Debug)]
pub struct Target<'a> {
    pub aws: &'a str,
    pub region: &'a str,
    pub instance_id: &'a str,
    pub os_user: &'a str,
}

/// `aws --region R ec2-instance-connect send-ssh-public-key …` (region before the subcommand).
pub fn send_key_args(t: &Target<'_>, public_key: &str) -> Vec<String> {
    [
        "--region",
        t.region,
        "ec2-instance-connect",
        "send-ssh-public-key",
        "--instance-id",
        t.instance_id,
        "--instance-os-user",
        t.os_user,
        "--ssh-public-key",
        public_key,
    ]
    .map(str::to_owned)
    .into()
}

/// `aws --region R ec2-instance-connect open-tunnel --instance-id I`, tunnelling on stdio.
pub fn tunnel_args(t: &Target<'_>) -> Vec<String> {
    [
        "--region",
        t.region,
        "ec2-instance-connect",
        "open-tunnel",
        "--instance-id",
        t.instance_id,
    ]
    .map(str::to_owned)
    .into()
}

/// The `ProxyCommand` that runs the stdio tunnel (ssh hands it to a shell, prefixed with `exec`:
/// every part is quoted).
pub fn proxy_command(t: &Target<'_>) -> String {
    let mut words = vec![t.aws.to_owned()];
    words.extend(tunnel_args(t));
    quote_all(&words)
}

/// How the instance's host key is checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostKeyPolicy {
    /// No key pinned yet: record the one offered (first connection).
    Record,
    /// A key is pinned in the known-hosts file: anything else is refused.
    Pinned,
}

/// Files of one connection, all inside its private directory.
#[derive(Clone, Debug)]
pub struct ConnFiles<'a> {
    pub identity: &'a Path,
    pub known_hosts: &'a Path,
    pub control: &'a Path,
}

/// Options every ssh invocation shares: no user config, no agent, no prompts.
fn common_options(files: &ConnFiles<'_>) -> Vec<String> {
    let o = |s: String| ["-o".to_owned(), s];
    let mut args = vec!["-F".to_owned(), "/dev/null".to_owned()];
    for opt in [
        "BatchMode=yes".to_owned(),
        format!("ControlPath={}", files.control.display()),
    ] {
        args.extend(o(opt));
    }
    args
}

/// The master connection: authenticates through the tunnel, then holds the control socket.
pub fn master_args(t: &Target<'_>, files: &ConnFiles<'_>, policy: HostKeyPolicy) -> Vec<String> {
    let mut args = common_options(files);
    let strict = match policy {
        HostKeyPolicy::Record => "accept-new",
        HostKeyPolicy::Pinned => "yes",
    };
    for opt in [
        "ControlMaster=yes".to_owned(),
        "ControlPersist=no".to_owned(),
        format!("ProxyCommand={}", proxy_command(t)),
        format!("HostKeyAlias={}", t.instance_id),
        format!("UserKnownHostsFile={}", files.known_hosts.display()),
        "GlobalKnownHostsFile=/dev/null".to_owned(),
        format!("StrictHostKeyChecking={strict}"),
        "IdentitiesOnly=yes".to_owned(),
        "IdentityAgent=none".to_owned(),
        "PasswordAuthentication=no".to_owned(),
        "KbdInteractiveAuthentication=no".to_owned(),
        "ConnectTimeout=30".to_owned(),
        "ServerAliveInterval=15".to_owned(),
        "ServerAliveCountMax=3".to_owned(),
    ] {
        args.extend(["-o".to_owned(), opt]);
    }
    args.extend([
        "-i".to_owned(),
        files.identity.display().to_string(),
        "-N".to_owned(),
        "-l".to_owned(),
        t.os_user.to_owned(),
        t.instance_id.to_owned(),
    ]);
    args
}

/// A client riding on the master's control socket: a remote command, or a login shell with a
/// PTY when `remote` is `None`.
pub fn client_args(t: &Target<'_>, files: &ConnFiles<'_>, remote: Option<&str>) -> Vec<String> {
    let mut args = common_options(files);
    args.extend(["-o".to_owned(), "ControlMaster=no".to_owned()]);
    args.push(if remote.is_some() { "-T" } else { "-tt" }.to_owned());
    args.extend([
        "-l".to_owned(),
        t.os_user.to_owned(),
        t.instance_id.to_owned(),
    ]);
    if let Some(cmd) = remote {
        args.extend(["--".to_owned(), cmd.to_owned()]);
    }
    args
}

/// The remote command for an exec: marker and env through `env`, optional `cd`, argv quoted.
pub fn exec_command(
    marker: &str,
    env: &[(String, String)],
    cwd: Option<&str>,
    argv: &[String],
) -> String {
    let mut words = vec!["env".to_owned(), marker.to_owned()];
    words.extend(env.iter().map(|(k, v)| format!("{k}={v}")));
    words.extend(argv.iter().cloned());
    let run = format!("exec {}", quote_all(&words));
    match cwd {
        Some(dir) => format!("cd {} && {run}", shell_quote(dir)),
        None => run,
    }
}

/// Runs a fixed script with `args` as its positional parameters: the script is quoted once as
/// a whole, so no argument is ever parsed as shell code.
pub fn script_command(script: &str, args: &[&str]) -> String {
    let mut words = vec!["sh", "-c", script, "sh"];
    words.extend_from_slice(args);
    quote_all(&words)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> Target<'static> {
        Target {
            aws: "/usr/local/bin/aws",
            region: "us-east-2",
            instance_id: "i-0123456789abcdef0",
            os_user: "ubuntu",
        }
    }

    /// Runs `sh -c 'printf %s\\0 "$@"' sh <words>` through a real shell and splits the result.
    fn through_sh(command_words: &str) -> Vec<String> {
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("printf '%s\\0' {command_words}"))
            .output()
            .unwrap();
        let mut parts: Vec<String> = out
            .stdout
            .split(|&b| b == 0)
            .map(|p| String::from_utf8(p.to_vec()).unwrap())
            .collect();
        parts.pop();
        parts
    }

    #[test]
    fn quoting_round_trips_through_a_real_shell() {
        let words = [
            "plain",
            "",
            "a'b\"c $(touch /tmp/p); rm x",
            "`id`",
            "new\nline",
            "*",
            "~",
            "tab\there",
            "'",
            "$HOME",
            "back\\slash",
            "{a,b}",
            "!bang",
            "#hash",
            "a=b",
            "non\u{a0}breaking",
            "ünïcödé",
            "${x:-y}",
        ];
        assert_eq!(through_sh(&quote_all(&words)), words);
        // bash too: the login shell of most instances.
        let out = std::process::Command::new("bash")
            .arg("-c")
            .arg(format!("printf '%s\\0' {}", quote_all(&words)))
            .output()
            .unwrap();
        let bash: Vec<String> = out
            .stdout
            .split(|&b| b == 0)
            .map(|p| String::from_utf8_lossy(p).into_owned())
            .collect();
        assert_eq!(&bash[..words.len()], words);
    }

    #[test]
    fn send_key_puts_the_region_before_the_subcommand() {
        assert_eq!(
            send_key_args(&target(), "ssh-ed25519 AAAA k"),
            [
                "--region",
                "us-east-2",
                "ec2-instance-connect",
                "send-ssh-public-key",
                "--instance-id",
                "i-0123456789abcdef0",
                "--instance-os-user",
                "ubuntu",
                "--ssh-public-key",
                "ssh-ed25519 AAAA k"
            ]
        );
    }

    #[test]
    fn the_tunnel_runs_on_stdio_as_the_proxy_command() {
        assert_eq!(
            proxy_command(&target()),
            "/usr/local/bin/aws --region us-east-2 ec2-instance-connect open-tunnel \
             --instance-id i-0123456789abcdef0"
        );
    }

    #[test]
    fn the_master_pins_or_records_the_host_key_never_ignores_it() {
        let files = ConnFiles {
            identity: Path::new("/d/key"),
            known_hosts: Path::new("/d/known"),
            control: Path::new("/d/ctl"),
        };
        let record = master_args(&target(), &files, HostKeyPolicy::Record).join(" ");
        assert!(record.contains("StrictHostKeyChecking=accept-new"));
        let pinned = master_args(&target(), &files, HostKeyPolicy::Pinned).join(" ");
        assert!(pinned.contains("StrictHostKeyChecking=yes"));
        assert!(pinned.contains("HostKeyAlias=i-0123456789abcdef0"));
        assert!(pinned.contains("UserKnownHostsFile=/d/known"));
        assert!(!pinned.contains("StrictHostKeyChecking=no"));
        assert!(pinned.ends_with("-i /d/key -N -l ubuntu i-0123456789abcdef0"));
    }

    #[test]
    fn clients_ride_the_control_socket() {
        let files = ConnFiles {
            identity: Path::new("/d/key"),
            known_hosts: Path::new("/d/known"),
            control: Path::new("/d/ctl"),
        };
        let exec = client_args(&target(), &files, Some("exec true"));
        assert!(
            exec.join(" ")
                .contains("ControlPath=/d/ctl -o ControlMaster=no -T")
        );
        assert_eq!(exec[exec.len() - 2..], ["--", "exec true"]);
        let shell = client_args(&target(), &files, None);
        assert!(shell.contains(&"-tt".to_owned()));
        assert_eq!(shell.last().unwrap(), "i-0123456789abcdef0");
    }

    #[test]
    fn an_exec_command_gives_back_every_argv_element_byte_for_byte() {
        let argv: Vec<String> = ["printf", "%s|", "a'b\"c $(touch /tmp/p); rm x", "$HOME"]
            .map(String::from)
            .into();
        let cmd = exec_command("M=1", &[("K".into(), "v w".into())], Some("/"), &argv);
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(&cmd)
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8(out.stdout).unwrap(),
            "a'b\"c $(touch /tmp/p); rm x|$HOME|"
        );
    }

    #[test]
    fn script_arguments_are_positional_parameters_not_code() {
        let cmd = script_command("printf '%s|' \"$@\"", &["x; echo pwned", "$(id)"]);
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(&cmd)
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8(out.stdout).unwrap(),
            "x; echo pwned|$(id)|"
        );
    }
}
