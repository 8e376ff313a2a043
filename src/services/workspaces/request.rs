//! The bodies of `POST /workspaces` and `PATCH /workspaces/{id}`, and their checks: each field
//! is validated once, here, before anything is stored.

use serde::de::IgnoredAny;
use serde::{Deserialize, Deserializer};

use crate::services::ServiceError;
use crate::store::WorkspaceFields;
use crate::workspace::{self, DEFAULT_RUNTIME, DEFAULT_TIER, WorkspaceId};

/// The create body. Besides its own fields it takes the Go server's (SPEC §11): `role` and
/// `model` are validated as Go did; the rest are accepted and not acted on (docs/api.md).
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateBody {
    name: String,
    runtime: Option<String>,
    tier: Option<i32>,
    image: Option<String>,
    pub(super) parent_id: Option<WorkspaceId>,
    instance_id: Option<String>,
    role: Option<String>,
    model: Option<String>,
    #[serde(rename = "template")]
    #[schema(value_type = Option<Object>)]
    _template: Option<IgnoredAny>,
    #[serde(rename = "external")]
    #[schema(value_type = Option<Object>)]
    _external: Option<IgnoredAny>,
    #[serde(rename = "url")]
    #[schema(value_type = Option<Object>)]
    _url: Option<IgnoredAny>,
    #[serde(rename = "workspace_dir")]
    #[schema(value_type = Option<Object>)]
    _workspace_dir: Option<IgnoredAny>,
    #[serde(rename = "workspace_access")]
    #[schema(value_type = Option<Object>)]
    _workspace_access: Option<IgnoredAny>,
    #[serde(rename = "budget_limit")]
    #[schema(value_type = Option<Object>)]
    _budget_limit: Option<IgnoredAny>,
    #[serde(rename = "secrets")]
    #[schema(value_type = Option<Object>)]
    _secrets: Option<IgnoredAny>,
    #[serde(rename = "max_concurrent_tasks")]
    #[schema(value_type = Option<Object>)]
    _max_concurrent_tasks: Option<IgnoredAny>,
    #[serde(rename = "canvas")]
    #[schema(value_type = Option<Object>)]
    _canvas: Option<IgnoredAny>,
    #[serde(rename = "initial_memories")]
    #[schema(value_type = Option<Object>)]
    _initial_memories: Option<IgnoredAny>,
}

/// A create body's fields, checked.
pub struct NewWorkspace {
    pub name: String,
    pub runtime: String,
    pub tier: i32,
    pub image: Option<String>,
    pub instance_id: Option<String>,
    pub parent_id: Option<WorkspaceId>,
}

impl CreateBody {
    pub fn check(self) -> Result<NewWorkspace, ServiceError> {
        workspace::check_go_create_fields(
            &self.name,
            self.role.as_deref(),
            self.model.as_deref(),
            self.runtime.as_deref(),
        )
        .map_err(ServiceError::invalid)?;
        let name = label("name", &self.name)?;
        let runtime = match self.runtime.as_deref() {
            Some(r) => label("runtime", r)?,
            None => DEFAULT_RUNTIME.to_owned(),
        };
        Ok(NewWorkspace {
            name,
            runtime,
            // Tier 0 is the Go clients' "unset".
            tier: tier(self.tier.filter(|t| *t != 0).unwrap_or(DEFAULT_TIER))?,
            image: image(self.image.as_deref())?,
            instance_id: instance_id(self.instance_id.as_deref())?,
            parent_id: self.parent_id,
        })
    }
}

/// Distinguishes an absent field (`None`) from an explicit `null` (`Some(None)`).
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchBody {
    name: Option<String>,
    runtime: Option<String>,
    tier: Option<i32>,
    #[serde(default, deserialize_with = "present")]
    pub(super) parent_id: Option<Option<WorkspaceId>>,
    #[serde(default, deserialize_with = "present")]
    instance_id: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    image: Option<Option<String>>,
}

impl PatchBody {
    /// Whether the patch changes what only an admin may change.
    pub fn touches_sensitive_fields(&self) -> bool {
        self.runtime.is_some()
            || self.tier.is_some()
            || self.parent_id.is_some()
            || self.instance_id.is_some()
            || self.image.is_some()
    }

    /// Applies every field but `parent_id` (which needs the store) to `f`, checked.
    pub fn apply(&self, f: &mut WorkspaceFields) -> Result<(), ServiceError> {
        if let Some(name) = &self.name {
            f.name = label("name", name)?;
        }
        if let Some(runtime) = &self.runtime {
            f.runtime = label("runtime", runtime)?;
        }
        if let Some(t) = self.tier {
            f.tier = tier(t)?;
        }
        if let Some(i) = &self.image {
            f.image = image(i.as_deref())?;
        }
        if let Some(i) = &self.instance_id {
            f.instance_id = instance_id(i.as_deref())?;
        }
        Ok(())
    }
}

fn label(field: &str, value: &str) -> Result<String, ServiceError> {
    workspace::validate_label(field, value).map_err(ServiceError::Invalid)
}

fn tier(tier: i32) -> Result<i32, ServiceError> {
    workspace::validate_tier(tier).map_err(ServiceError::Invalid)
}

fn image(image: Option<&str>) -> Result<Option<String>, ServiceError> {
    image
        .map(workspace::validate_image)
        .transpose()
        .map_err(ServiceError::Invalid)
}

/// An empty instance id is the Go clients' "none".
fn instance_id(id: Option<&str>) -> Result<Option<String>, ServiceError> {
    id.filter(|i| !i.is_empty())
        .map(workspace::validate_instance_id)
        .transpose()
        .map_err(ServiceError::Invalid)
}
