//! Container settings by tier (SPEC §8), as a pure function of the workspace and configuration.

use std::collections::HashMap;

use bollard::models::{ContainerCreateBody, HostConfig};

use crate::workspace::Workspace;

/// Nano-CPUs per CPU share (a share is 1/1024 of a CPU).
const NANO_CPUS_PER_SHARE: u64 = 1_000_000_000 / 1024;
/// Where the configs volume is mounted in every workspace container.
pub const CONFIGS_MOUNT: &str = "/configs";
/// The engine's socket, bind-mounted into tier-4 containers.
const DOCKER_SOCKET: &str = "/var/run/docker.sock";

/// What the configuration says about the containers this server creates.
#[derive(Clone, Debug)]
pub struct ContainerSettings {
    pub default_image: String,
    pub privileged: bool,
    /// Memory (MiB) and CPU shares for tiers 2, 3 and 4.
    pub limits: [(u64, u64); 3],
}

/// The create-container body for `ws`: its image, the configs volume, labels and tier settings.
/// The image's own command is never overridden.
pub fn container_body(
    ws: &Workspace,
    container: &str,
    s: &ContainerSettings,
    volume: &str,
    labels: HashMap<String, String>,
) -> ContainerCreateBody {
    let mut binds = vec![format!("{volume}:{CONFIGS_MOUNT}")];
    let mut host = HostConfig::default();
    match ws.tier {
        1 => {
            host.readonly_rootfs = Some(true);
            host.tmpfs = Some(HashMap::from([(
                "/tmp".to_owned(),
                "rw,noexec,nosuid,size=64m".to_owned(),
            )]));
        }
        tier @ 2..=4 => {
            let (memory_mb, shares) = s.limits[(tier - 2) as usize];
            host.memory = Some((memory_mb * 1024 * 1024) as i64);
            host.nano_cpus = Some((shares * NANO_CPUS_PER_SHARE) as i64);
            if tier >= 3 {
                host.privileged = Some(s.privileged);
                host.pid_mode = Some("host".to_owned());
            }
            if tier == 4 {
                host.network_mode = Some("host".to_owned());
                binds.push(format!("{DOCKER_SOCKET}:{DOCKER_SOCKET}"));
            }
        }
        _ => {}
    }
    host.binds = Some(binds);
    ContainerCreateBody {
        image: Some(ws.image.clone().unwrap_or_else(|| s.default_image.clone())),
        hostname: Some(container.to_owned()),
        env: Some(vec![format!("WORKSPACE_ID={}", ws.id)]),
        labels: Some(labels),
        host_config: Some(host),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workspace::Workspace;

    fn settings(privileged: bool) -> ContainerSettings {
        ContainerSettings {
            default_image: "default:1".into(),
            privileged,
            limits: [(512, 1024), (2048, 2048), (4096, 4096)],
        }
    }

    fn body(tier: i32, privileged: bool) -> ContainerCreateBody {
        let mut ws = Workspace::sample(None);
        ws.tier = tier;
        container_body(&ws, "ws-test", &settings(privileged), "v", HashMap::new())
    }

    #[test]
    fn tier_one_is_read_only_with_a_small_noexec_tmp_and_only_configs() {
        let h = body(1, true).host_config.unwrap();
        assert_eq!(h.readonly_rootfs, Some(true));
        assert_eq!(h.tmpfs.unwrap()["/tmp"], "rw,noexec,nosuid,size=64m");
        assert_eq!(h.binds.unwrap(), ["v:/configs"]);
        assert_eq!((h.memory, h.privileged, h.pid_mode), (None, None, None));
    }

    #[test]
    fn tier_two_gets_half_a_gig_and_one_cpu() {
        let h = body(2, true).host_config.unwrap();
        assert_eq!(h.memory, Some(512 * 1024 * 1024));
        assert_eq!(h.nano_cpus, Some(1_000_000_000 / 1024 * 1024));
        assert_eq!(h.privileged, None);
    }

    #[test]
    fn tiers_three_and_four_share_the_host_pid_namespace_and_may_drop_privileged() {
        let h = body(3, true).host_config.unwrap();
        assert_eq!(
            (h.privileged, h.pid_mode.as_deref()),
            (Some(true), Some("host"))
        );
        assert_eq!(h.memory, Some(2048 * 1024 * 1024));
        let h = body(4, false).host_config.unwrap();
        assert_eq!(
            (h.privileged, h.pid_mode.as_deref()),
            (Some(false), Some("host"))
        );
        assert_eq!(h.network_mode.as_deref(), Some("host"));
        assert!(
            h.binds
                .unwrap()
                .contains(&"/var/run/docker.sock:/var/run/docker.sock".into())
        );
    }

    #[test]
    fn the_request_image_wins_over_the_default_and_the_command_is_left_alone() {
        let mut ws = Workspace::sample(None);
        assert_eq!(
            container_body(&ws, "ws-test", &settings(true), "v", HashMap::new())
                .image
                .unwrap(),
            "default:1"
        );
        ws.image = Some("mine:2".into());
        let b = container_body(&ws, "ws-test", &settings(true), "v", HashMap::new());
        assert_eq!(b.image.unwrap(), "mine:2");
        assert!(b.cmd.is_none() && b.entrypoint.is_none());
    }
}
