//! The HTTP side of the command-line client: the server's address and token, errors as the
//! server words them, and workspaces named by id or by unique name.

use anyhow::{Context, anyhow, bail};
use reqwest::{Method, RequestBuilder, Response};
use serde_json::Value;

/// A server and the token to use with it.
pub struct Client {
    pub base: String,
    token: Option<String>,
    http: reqwest::Client,
}

impl Client {
    pub fn new(url: &str, token: Option<&str>) -> anyhow::Result<Self> {
        let base = url.trim_end_matches('/').to_owned();
        if !base.starts_with("http://") && !base.starts_with("https://") {
            bail!("--url must start with http:// or https://, not {url:?}");
        }
        Ok(Self {
            base,
            token: token.filter(|t| !t.is_empty()).map(str::to_owned),
            http: reqwest::Client::new(),
        })
    }

    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let req = self.http.request(method, format!("{}{path}", self.base));
        match &self.token {
            Some(token) => req.bearer_auth(token),
            None => req,
        }
    }

    /// The WebSocket address of `path`, and the `Authorization` value for its upgrade.
    pub fn socket(&self, path: &str) -> (String, Option<String>) {
        let ws = self.base.replacen("http", "ws", 1);
        (
            format!("{ws}{path}"),
            self.token.as_ref().map(|t| format!("Bearer {t}")),
        )
    }

    /// Sends `req`; a non-2xx answer becomes an error carrying the server's `error` text.
    pub async fn send(&self, req: RequestBuilder) -> anyhow::Result<Response> {
        let res = req
            .send()
            .await
            .with_context(|| format!("cannot reach {}", self.base))?;
        self.checked(res).await
    }

    /// `res` when it is a 2xx; else an error carrying the server's `error` text.
    pub async fn checked(&self, res: Response) -> anyhow::Result<Response> {
        if res.status().is_success() {
            return Ok(res);
        }
        let status = res.status();
        let body: Value = res.json().await.unwrap_or(Value::Null);
        let said = body["error"]
            .as_str()
            .unwrap_or("no reason given")
            .to_owned();
        Err(anyhow!("the server answered {status}: {said}"))
    }

    pub async fn json(&self, req: RequestBuilder) -> anyhow::Result<Value> {
        Ok(self.send(req).await?.json().await?)
    }

    /// The id of the workspace `name`: an id is taken as it is; a name must match exactly one
    /// workspace the token can list.
    pub async fn workspace_id(&self, name: &str) -> anyhow::Result<String> {
        if uuid::Uuid::parse_str(name).is_ok() {
            return Ok(name.to_owned());
        }
        let listed = self.json(self.request(Method::GET, "/workspaces")).await?;
        let ids: Vec<&str> = listed
            .as_array()
            .into_iter()
            .flatten()
            .filter(|w| w["name"] == name)
            .filter_map(|w| w["id"].as_str())
            .collect();
        match ids.as_slice() {
            [id] => Ok((*id).to_owned()),
            [] => bail!("no workspace is named {name:?}"),
            _ => bail!("{} workspaces are named {name:?}: give an id", ids.len()),
        }
    }

    /// `workspaces`: a table, or the JSON the server answered.
    pub async fn print_workspaces(&self, json: bool) -> anyhow::Result<()> {
        let listed = self.json(self.request(Method::GET, "/workspaces")).await?;
        if json {
            println!("{}", serde_json::to_string_pretty(&listed)?);
            return Ok(());
        }
        let text = |v: &Value| v.as_str().map_or("-".to_owned(), str::to_owned);
        println!(
            "{:<36}  {:<24}  {:<12}  {:<4}  WHERE",
            "ID", "NAME", "STATUS", "TIER"
        );
        for w in listed.as_array().into_iter().flatten() {
            let place = w["instance_id"].as_str().unwrap_or("docker");
            println!(
                "{:<36}  {:<24}  {:<12}  {:<4}  {place}",
                text(&w["id"]),
                text(&w["name"]),
                text(&w["status"]),
                w["tier"]
            );
        }
        Ok(())
    }
}
