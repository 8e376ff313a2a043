//! The slices of the configuration each part of the server is built with.

use super::{Config, DEVELOPMENT_ORIGINS};

impl Config {
    /// What the Docker path needs to know of the containers it creates.
    pub fn container_settings(&self) -> crate::backend::docker::ContainerSettings {
        let limit = |tier| self.tier_limits(tier).unwrap_or_default();
        crate::backend::docker::ContainerSettings {
            default_image: self.workspace_image.clone(),
            privileged: self.workspace_privileged,
            limits: [limit(2), limit(3), limit(4)],
        }
    }

    /// How the EIC path reaches instances.
    pub fn eic(&self) -> crate::backend::eic::EicConfig {
        crate::backend::eic::EicConfig {
            aws: self.aws_cli.clone(),
            ssh: self.ssh_bin.clone(),
            region: self.aws_region.clone(),
            os_user: self.workspace_ec2_os_user.clone(),
            restart_command: self
                .workspace_ec2_restart_command
                .clone()
                .filter(|c| !c.trim().is_empty()),
        }
    }

    /// What plugin staging needs.
    pub fn plugin_staging(&self) -> crate::plugins::stage::StageSettings {
        crate::plugins::stage::StageSettings {
            plugins_dir: self.plugins_dir.clone(),
            github_base: self.plugin_github_url.clone(),
            fetch_timeout: self.plugin_install_fetch_timeout,
            max_dir_bytes: self.plugin_install_max_dir_bytes,
        }
    }

    /// What slow and idle clients may hold.
    pub fn connection_limits(&self) -> crate::app::serve::Limits {
        crate::app::serve::Limits {
            max_connections: self.max_connections.max(1),
            header_timeout: self.header_read_timeout,
            idle_timeout: self.keep_alive_timeout,
        }
    }

    /// Timings of terminal sessions.
    /// What resumable terminal sessions keep and for how long.
    pub fn terminal_sessions(&self) -> crate::terminal::SessionLimits {
        crate::terminal::SessionLimits {
            replay_bytes: self.terminal_replay_bytes.max(1024),
            detach_grace: self.terminal_detach_grace,
            per_workspace: self.terminal_sessions_max,
        }
    }

    pub fn terminal_bridge(&self) -> crate::terminal::BridgeConfig {
        crate::terminal::BridgeConfig {
            ping_every: std::time::Duration::from_secs(self.terminal_ping_secs.max(1)),
            idle_after: std::time::Duration::from_secs(self.terminal_idle_secs.max(1)),
        }
    }

    /// The Docker engine address, or `None` when the local path is turned off.
    pub fn docker_host(&self) -> Option<&str> {
        Some(self.docker_host.as_str()).filter(|h| !h.is_empty() && *h != "none")
    }

    /// The allowed CORS origins, trimmed, empty entries dropped; unset in development, the Go
    /// server's two local canvas origins.
    pub fn cors_origins(&self) -> Vec<String> {
        let configured: Vec<String> = self
            .cors_origins
            .as_deref()
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|o| !o.is_empty())
            .map(str::to_owned)
            .collect();
        if configured.is_empty() && self.cors_origins.is_none() && self.is_development() {
            return DEVELOPMENT_ORIGINS.map(str::to_owned).into();
        }
        configured
    }
}
