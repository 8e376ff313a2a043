//! Images on the Docker path: a workspace whose image the engine does not have gets it pulled.

use bollard::Docker;
use bollard::errors::Error as DockerError;
use bollard::query_parameters::CreateImageOptions;
use futures_util::StreamExt;

use crate::backend::BackendError;

/// The repository and tag to pull for `image`: its own tag, `latest` when it has none, and no
/// tag for a reference by digest (`repo@sha256:…`). Without a tag the engine would pull every
/// tag of the repository.
pub fn pull_reference(image: &str) -> (&str, Option<&str>) {
    if image.contains('@') {
        return (image, None);
    }
    let last = image.rsplit('/').next().unwrap_or(image);
    match last.rsplit_once(':') {
        Some((_, tag)) => (&image[..image.len() - tag.len() - 1], Some(tag)),
        None => (image, Some("latest")),
    }
}

/// Pulls `image` unless the engine has it; the engine's reason, naming the image, when the pull
/// fails.
pub async fn ensure(docker: &Docker, image: &str) -> Result<(), BackendError> {
    match docker.inspect_image(image).await {
        Ok(_) => return Ok(()),
        Err(DockerError::DockerResponseServerError {
            status_code: 404, ..
        }) => {}
        Err(e) => return Err(super::errors::engine_refused(e)),
    }
    tracing::info!(image, "pulling the workspace image");
    let (from_image, tag) = pull_reference(image);
    let options = CreateImageOptions {
        from_image: Some(from_image.to_owned()),
        tag: tag.map(str::to_owned),
        ..Default::default()
    };
    let mut progress = docker.create_image(Some(options), None, None);
    while let Some(step) = progress.next().await {
        step.map_err(|e| match super::errors::engine_refused(e) {
            BackendError::Invalid(reason) => {
                BackendError::Invalid(format!("pulling {image}: {reason}"))
            }
            other => other,
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pull_names_one_tag() {
        assert_eq!(pull_reference("busybox"), ("busybox", Some("latest")));
        assert_eq!(pull_reference("busybox:1.36"), ("busybox", Some("1.36")));
        assert_eq!(
            pull_reference("127.0.0.1:5000/team/img"),
            ("127.0.0.1:5000/team/img", Some("latest"))
        );
        assert_eq!(
            pull_reference("127.0.0.1:5000/team/img:v2"),
            ("127.0.0.1:5000/team/img", Some("v2"))
        );
        assert_eq!(pull_reference("img@sha256:abcd"), ("img@sha256:abcd", None));
    }
}
