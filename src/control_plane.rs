//! The control plane that provisions EC2 workspaces (SPEC §2, §5.2): asked to provision on create
//! and to terminate on delete.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::workspace::{Workspace, WorkspaceId};

/// The body of a provisioning request.
#[derive(Serialize)]
struct ProvisionRequest<'a> {
    org_id: Option<&'a str>,
    workspace_id: WorkspaceId,
    runtime: &'a str,
    tier: i32,
}

/// How long a control-plane call may take.
const CP_TIMEOUT: Duration = Duration::from_secs(60);

/// What can go wrong talking to the control plane; details are logged, not shown.
#[derive(Debug, thiserror::Error)]
pub enum CpError {
    #[error("control plane unreachable: {0}")]
    Unreachable(String),
    #[error("control plane answered {status}")]
    Refused { status: u16 },
    #[error("control plane answered without an instance id")]
    BadAnswer,
}

/// A client for `CP_PROVISION_URL`.
pub struct ControlPlane {
    base: String,
    secret: Option<String>,
    admin_token: Option<String>,
    org_id: Option<String>,
    http: reqwest::Client,
}

#[derive(Deserialize)]
struct Provisioned {
    instance_id: String,
}

impl ControlPlane {
    pub fn new(
        base: &str,
        secret: Option<String>,
        admin_token: Option<String>,
        org_id: Option<String>,
    ) -> Self {
        Self {
            base: base.trim_end_matches('/').to_owned(),
            secret,
            admin_token,
            org_id,
            http: reqwest::Client::builder()
                .timeout(CP_TIMEOUT)
                .build()
                .unwrap_or_default(),
        }
    }

    fn authed(&self, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        let req = match &self.secret {
            Some(s) => req.bearer_auth(s),
            None => req,
        };
        match &self.admin_token {
            Some(t) => req.header("X-Molecule-Admin-Token", t),
            None => req,
        }
    }

    /// `POST {cp}/cp/workspaces/provision`; 201 `{instance_id}` expected.
    pub async fn provision(&self, ws: &Workspace) -> Result<String, CpError> {
        let body = ProvisionRequest {
            org_id: self.org_id.as_deref(),
            workspace_id: ws.id,
            runtime: &ws.runtime,
            tier: ws.tier,
        };
        let url = format!("{}/cp/workspaces/provision", self.base);
        let res = self
            .authed(self.http.post(url).json(&body))
            .send()
            .await
            .map_err(|e| CpError::Unreachable(e.to_string()))?;
        if res.status().as_u16() != 201 {
            return Err(CpError::Refused {
                status: res.status().as_u16(),
            });
        }
        let answer: Provisioned = res.json().await.map_err(|_| CpError::BadAnswer)?;
        crate::workspace::validate_instance_id(&answer.instance_id).map_err(|_| CpError::BadAnswer)
    }

    /// `DELETE {cp}/cp/workspaces/{id}?instance_id=…`; a 2xx or 404 (already gone) is success.
    pub async fn terminate(&self, ws: &Workspace) -> Result<(), CpError> {
        let url = format!("{}/cp/workspaces/{}", self.base, ws.id);
        let instance = ws.instance_id.clone().unwrap_or_default();
        let res = self
            .authed(self.http.delete(url).query(&[("instance_id", instance)]))
            .send()
            .await
            .map_err(|e| CpError::Unreachable(e.to_string()))?;
        match res.status().as_u16() {
            200..=299 | 404 => Ok(()),
            status => Err(CpError::Refused { status }),
        }
    }
}
