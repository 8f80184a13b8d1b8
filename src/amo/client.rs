//! [`AmoClient`]: the calls the worker and the admin commands make, with the tokens kept
//! fresh (refreshed ahead of expiry and once after a 401, always under the token lock).

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{Value, json};

use super::batch::{self, Outcome, Pending, Reply};
use super::entity::{Entity, EntityPatch, NewEntity};
use super::error::{AmoError, NEW_CODE_ACTION, OAuthRefusal};
use super::models::{CustomField, LinkRequest, Pipeline, User};
use super::note::{NewNote, Note};
use super::problem;
use super::rejection::Rejection;
use super::retry::RetryPauses;
use super::task::{NewTask, Task};
use super::tokens::{TokenFiles, TokenStatus, needs_refresh, now_unix};
use super::transport::{Answer, Method, Request, Transport};
use super::url;
use crate::config::AuthConfig;
use crate::paths::Paths;
use crate::secret::Secret;

/// amoCRM takes at most this many entities a request.
const MOST_PER_REQUEST: usize = 250;
/// Ids per `filter[id][]` request, to keep URLs short.
const IDS_PER_REQUEST: usize = 50;

#[derive(Debug, Clone, PartialEq)]
pub struct ClientOptions {
    /// Requests a second for every process of the module together; zero or less: no limit.
    pub rate_limit: f64,
    /// For one HTTP request, from connecting to the end of the answer.
    pub timeout: Duration,
    /// The pauses between attempts at a request that failed in passing (5xx, 429, no answer).
    pub retry: RetryPauses,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            rate_limit: 7.0,
            timeout: Duration::from_secs(30),
            retry: RetryPauses::default(),
        }
    }
}

/// A client of one amoCRM account.
pub struct AmoClient {
    transport: Transport,
    auth: AuthConfig,
    files: TokenFiles,
    /// The access token in use, once read or obtained.
    access: Option<Secret>,
}

/// Which grant a token request makes, for messages.
#[derive(Clone, Copy)]
enum Grant {
    Code,
    Refresh,
}

impl AmoClient {
    pub fn new(
        auth: &AuthConfig,
        opts: ClientOptions,
        paths: &Paths,
    ) -> Result<AmoClient, AmoError> {
        let base = url::check_account_url(&auth.url)
            .map_err(|e| AmoError::Local(format!("[auth] url: {e}")))?;
        // A last guard in the logs: these never get there on purpose.
        crate::log::register_secret(auth.client_secret.expose());
        if let Some(code) = &auth.code {
            crate::log::register_secret(code.expose());
        }
        let mut transport =
            Transport::new(base, opts.rate_limit, opts.timeout, paths.rate_budget());
        transport.set_pauses(opts.retry);
        Ok(AmoClient {
            transport,
            auth: auth.clone(),
            files: TokenFiles::new(paths),
            access: None,
        })
    }

    /// How many times one request is tried before the call fails (1 to the default 6):
    /// a screen the admin waits at gives up sooner than the worker.
    pub fn set_attempts(&mut self, attempts: u32) {
        self.transport.set_attempts(attempts);
    }

    /// Exchanges a one-time code for tokens and writes the token files.
    pub fn exchange_code(&mut self, code: &Secret) -> Result<TokenStatus, AmoError> {
        crate::log::register_secret(code.expose());
        let _lock = self.files.lock()?;
        self.exchange_locked(code)?;
        Ok(self.files.status())
    }

    /// Token files present / expiry, read from disk (no network).
    pub fn token_status(&self) -> TokenStatus {
        self.files.status()
    }

    /// Renews the tokens when the refresh token is a month old, even with nothing to send:
    /// an integration unused for three months loses its authorization. Whether it did.
    pub fn keep_alive(&mut self) -> Result<bool, AmoError> {
        if !self.files.status().wants_keep_alive(now_unix()) {
            return Ok(false);
        }
        let Some(token) = self.files.read_access()? else {
            return Ok(false);
        };
        log::info!("the amoCRM authorization was last renewed a month ago: renewing it now");
        // As a stale token: under the lock, a pair another process renewed meanwhile is
        // taken as it is.
        self.refresh(&token)?;
        Ok(true)
    }

    /// `GET /api/v4/account`.
    pub fn account(&mut self) -> Result<Value, AmoError> {
        self.get_json("/api/v4/account")?.ok_or_else(|| {
            AmoError::Protocol("GET /api/v4/account answered 204 (no content)".to_string())
        })
    }

    /// Every custom field of `entity` (`contacts`, `companies`, `leads`), all pages.
    pub fn custom_fields(&mut self, entity: &str) -> Result<Vec<CustomField>, AmoError> {
        check_entity(entity)?;
        let mut fields = Vec::new();
        let mut bad = None;
        self.pages(
            &format!("/api/v4/{entity}/custom_fields"),
            &[],
            "custom_fields",
            &mut |page| {
                for v in page {
                    match CustomField::from_json(&v) {
                        Ok(f) => fields.push(f),
                        // The first problem is enough to report.
                        Err(e) => {
                            bad.get_or_insert(e);
                        }
                    }
                }
            },
        )?;
        match bad {
            Some(e) => Err(AmoError::Protocol(format!(
                "GET /api/v4/{entity}/custom_fields: {e}"
            ))),
            None => Ok(fields),
        }
    }

    /// Every user of the account, all pages.
    pub fn users(&mut self) -> Result<Vec<User>, AmoError> {
        let mut users = Vec::new();
        let mut bad = None;
        self.pages("/api/v4/users", &[], "users", &mut |page| {
            for v in page {
                match User::from_json(&v) {
                    Ok(u) => users.push(u),
                    Err(e) => {
                        bad.get_or_insert(e);
                    }
                }
            }
        })?;
        match bad {
            Some(e) => Err(AmoError::Protocol(format!("GET /api/v4/users: {e}"))),
            None => Ok(users),
        }
    }

    /// The leads' pipelines with their statuses.
    pub fn pipelines(&mut self) -> Result<Vec<Pipeline>, AmoError> {
        let Some(body) = self.get_json("/api/v4/leads/pipelines")? else {
            return Ok(Vec::new());
        };
        embedded(&body, "pipelines", "GET /api/v4/leads/pipelines")?
            .iter()
            .map(Pipeline::from_json)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| AmoError::Protocol(format!("GET /api/v4/leads/pipelines: {e}")))
    }

    /// `POST /api/v4/{entity}`. The client sets each item's `request_id`; one result per
    /// item, in order: the new id, or why amoCRM refused that item.
    pub fn create(
        &mut self,
        entity: &str,
        items: &[NewEntity],
    ) -> Result<Vec<Result<i64, Rejection>>, AmoError> {
        let items: Vec<Value> = items.iter().map(NewEntity::to_create_json).collect();
        self.create_json(entity, &items)
    }

    fn create_json(
        &mut self,
        entity: &str,
        items: &[Value],
    ) -> Result<Vec<Result<i64, Rejection>>, AmoError> {
        check_entity(entity)?;
        self.create_at(&format!("/api/v4/{entity}"), entity, items)
    }

    /// `POST /api/v4/{entity}/notes`: plain notes; one result (the note's id) per note,
    /// in order. An answer lost after amoCRM made them is [`AmoError::MaybeApplied`].
    pub fn add_notes(
        &mut self,
        entity: &str,
        notes: &[NewNote],
    ) -> Result<Vec<Result<i64, Rejection>>, AmoError> {
        check_entity(entity)?;
        let items: Vec<Value> = notes.iter().map(NewNote::to_json).collect();
        self.create_at(&format!("/api/v4/{entity}/notes"), "notes", &items)
    }

    /// `POST /api/v4/tasks`; one result (the task's id) per task, in order.
    pub fn add_tasks(
        &mut self,
        tasks: &[NewTask],
    ) -> Result<Vec<Result<i64, Rejection>>, AmoError> {
        let items: Vec<Value> = tasks.iter().map(NewTask::to_json).collect();
        self.create_at("/api/v4/tasks", "tasks", &items)
    }

    /// The tasks on one entity, every page.
    pub fn tasks_of(&mut self, entity: &str, entity_id: i64) -> Result<Vec<Task>, AmoError> {
        check_entity(entity)?;
        let mut tasks = Vec::new();
        let id = entity_id.to_string();
        let filter = [
            ("filter[entity_type]", entity),
            ("filter[entity_id][]", id.as_str()),
        ];
        self.pages("/api/v4/tasks", &filter, "tasks", &mut |page| {
            tasks.extend(page.iter().filter_map(Task::from_json));
        })?;
        Ok(tasks)
    }

    /// The plain notes on one entity, every page.
    pub fn notes_of(&mut self, entity: &str, entity_id: i64) -> Result<Vec<Note>, AmoError> {
        check_entity(entity)?;
        let mut notes = Vec::new();
        let path = format!("/api/v4/{entity}/{entity_id}/notes");
        let filter = [("filter[note_type][]", "common")];
        self.pages(&path, &filter, "notes", &mut |page| {
            notes.extend(page.iter().filter_map(Note::from_json));
        })?;
        Ok(notes)
    }

    /// Creates at `path`, the answer's items under `_embedded.{key}`.
    fn create_at(
        &mut self,
        path: &str,
        entity: &str,
        items: &[Value],
    ) -> Result<Vec<Result<i64, Rejection>>, AmoError> {
        let path = path.to_string();
        let mut results: Vec<Result<i64, Rejection>> = Vec::with_capacity(items.len());
        for (chunk_no, chunk) in items.chunks(MOST_PER_REQUEST).enumerate() {
            let first = chunk_no * MOST_PER_REQUEST;
            let (pending, mut early) = prepare(chunk, first, |_| Ok(()));
            let out = self.drive(Method::Post, &path, entity, &pending, true)?;
            let mut created: HashMap<String, i64> = HashMap::new();
            for a in &out.answers {
                if let (Some(rid), Some(id)) =
                    (request_id_of(a), a.get("id").and_then(Value::as_i64))
                {
                    created.insert(rid, id);
                }
            }
            for (i, early) in early.iter_mut().enumerate() {
                let rid = (first + i).to_string();
                results.push(match early.take() {
                    Some(e) => Err(Rejection::Invalid(e)),
                    None => match (created.get(&rid), out.errors.get(&rid)) {
                        (Some(id), _) => Ok(*id),
                        (None, Some(e)) => Err(e.clone()),
                        (None, None) => Err(no_result()),
                    },
                });
            }
        }
        Ok(results)
    }

    /// `PATCH /api/v4/{entity}`; one result per item, in order. An item naming an entity
    /// amoCRM no longer has (a manager deleted it, or merged it into another) is
    /// [`Rejection::Gone`].
    pub fn update(
        &mut self,
        entity: &str,
        items: &[EntityPatch],
    ) -> Result<Vec<Result<(), Rejection>>, AmoError> {
        let items: Vec<Value> = items.iter().map(EntityPatch::to_json).collect();
        self.update_json(entity, &items)
    }

    fn update_json(
        &mut self,
        entity: &str,
        items: &[Value],
    ) -> Result<Vec<Result<(), Rejection>>, AmoError> {
        check_entity(entity)?;
        let path = format!("/api/v4/{entity}");
        let mut results: Vec<Result<(), Rejection>> = Vec::with_capacity(items.len());
        for (chunk_no, chunk) in items.chunks(MOST_PER_REQUEST).enumerate() {
            let first = chunk_no * MOST_PER_REQUEST;
            let (pending, mut early) = prepare(chunk, first, |item| {
                match item.get("id").and_then(Value::as_i64) {
                    Some(_) => Ok(()),
                    None => Err("the item has no numeric \"id\" to update".to_string()),
                }
            });
            let out = self.drive(Method::Patch, &path, entity, &pending, true)?;
            let updated: std::collections::HashSet<i64> = out
                .answers
                .iter()
                .filter_map(|a| a.get("id").and_then(Value::as_i64))
                .collect();
            for (i, early) in early.iter_mut().enumerate() {
                let rid = (first + i).to_string();
                let id = chunk[i].get("id").and_then(Value::as_i64);
                results.push(match early.take() {
                    Some(e) => Err(Rejection::Invalid(e)),
                    None => match out.errors.get(&rid) {
                        Some(e) => Err(e.clone()),
                        None if id.is_some_and(|id| updated.contains(&id)) => Ok(()),
                        None => Err(no_result()),
                    },
                });
            }
        }
        Ok(results)
    }

    /// `GET /api/v4/{entity}?filter[id][]=…&with=…` in chunks; unknown ids are missing.
    pub fn get_by_ids(
        &mut self,
        entity: &str,
        ids: &[i64],
        with: &str,
    ) -> Result<Vec<Entity>, AmoError> {
        check_entity(entity)?;
        let mut found = Vec::new();
        for chunk in ids.chunks(IDS_PER_REQUEST) {
            let limit = MOST_PER_REQUEST.to_string();
            let id_texts: Vec<String> = chunk.iter().map(i64::to_string).collect();
            let mut pairs: Vec<(&str, &str)> = vec![("limit", &limit)];
            pairs.extend(id_texts.iter().map(|id| ("filter[id][]", id.as_str())));
            if !with.is_empty() {
                pairs.push(("with", with));
            }
            let path = format!("/api/v4/{entity}?{}", url::query(&pairs));
            if let Some(body) = self.get_json(&path)? {
                found.extend(entities(&body, entity)?);
            }
        }
        Ok(found)
    }

    /// `GET /api/v4/{entity}?query=…`: the first page of up to 250.
    pub fn search(&mut self, entity: &str, query: &str) -> Result<Vec<Entity>, AmoError> {
        check_entity(entity)?;
        let limit = MOST_PER_REQUEST.to_string();
        let path = format!(
            "/api/v4/{entity}?{}",
            url::query(&[("limit", &limit), ("query", query)])
        );
        match self.get_json(&path)? {
            Some(body) => entities(&body, entity),
            None => Ok(Vec::new()),
        }
    }

    /// Every entity, page by page (250 a page), each page handed to `f`; stops on a short
    /// page or a 204.
    pub fn for_each_page(
        &mut self,
        entity: &str,
        with: &str,
        f: &mut dyn FnMut(Vec<Entity>),
    ) -> Result<(), AmoError> {
        check_entity(entity)?;
        let extra: Vec<(&str, &str)> = if with.is_empty() {
            Vec::new()
        } else {
            vec![("with", with)]
        };
        self.pages(&format!("/api/v4/{entity}"), &extra, entity, &mut |page| {
            f(page.iter().filter_map(Entity::from_json).collect())
        })
    }

    /// The newest entities first (`order[created_at]=desc`, 250 a page), each page handed
    /// to `f`, until a page reaches back before `since` (unix seconds), a short page or a
    /// 204: what a create whose answer was lost may have made is among them.
    pub fn newest_since(
        &mut self,
        entity: &str,
        with: &str,
        since: i64,
        f: &mut dyn FnMut(Vec<Entity>),
    ) -> Result<(), AmoError> {
        check_entity(entity)?;
        let limit = MOST_PER_REQUEST.to_string();
        let path = format!("/api/v4/{entity}");
        for page in 1.. {
            let page_text = page.to_string();
            let mut pairs: Vec<(&str, &str)> = vec![
                ("page", &page_text),
                ("limit", &limit),
                ("order[created_at]", "desc"),
            ];
            if !with.is_empty() {
                pairs.push(("with", with));
            }
            let Some(body) = self.get_json(&format!("{path}?{}", url::query(&pairs)))? else {
                break;
            };
            let raw = embedded(&body, entity, &format!("GET {path}"))?;
            let items: Vec<Entity> = raw.iter().filter_map(Entity::from_json).collect();
            let done = raw.len() < MOST_PER_REQUEST
                || items
                    .iter()
                    .any(|e| e.created_at.is_some_and(|t| t < since));
            f(items);
            if done {
                break;
            }
        }
        Ok(())
    }

    /// `POST /api/v4/{entity}/link`; one result per link, in order.
    pub fn link(
        &mut self,
        entity: &str,
        links: &[LinkRequest],
    ) -> Result<Vec<Result<(), String>>, AmoError> {
        check_entity(entity)?;
        let path = format!("/api/v4/{entity}/link");
        let mut results = Vec::with_capacity(links.len());
        for (chunk_no, chunk) in links.chunks(MOST_PER_REQUEST).enumerate() {
            let first = chunk_no * MOST_PER_REQUEST;
            let pending: Vec<Pending> = chunk
                .iter()
                .enumerate()
                .map(|(i, l)| Pending {
                    request_id: (first + i).to_string(),
                    body: l.to_json(),
                })
                .collect();
            let out = self.drive(Method::Post, &path, "links", &pending, false)?;
            for i in 0..chunk.len() {
                results.push(match out.errors.get(&(first + i).to_string()) {
                    Some(e) => Err(e.to_string()),
                    None => Ok(()),
                });
            }
        }
        Ok(results)
    }

    // ---- batches ----

    /// Sends a batch through [`batch::drive`]. Items carry their `request_id` in the body
    /// when `tagged`; otherwise amoCRM names them by their index in each request.
    fn drive(
        &mut self,
        method: Method,
        path: &str,
        key: &str,
        pending: &[Pending],
        tagged: bool,
    ) -> Result<Outcome, AmoError> {
        let mut out = Outcome::default();
        let mut send = |part: &[Pending]| self.send_batch(method, path, key, part, tagged);
        batch::drive(pending, &mut send, &mut out)?;
        Ok(out)
    }

    fn send_batch(
        &mut self,
        method: Method,
        path: &str,
        key: &str,
        part: &[Pending],
        tagged: bool,
    ) -> Result<Reply, AmoError> {
        let body = Value::Array(
            part.iter()
                .map(|p| {
                    let mut b = p.body.clone();
                    if tagged && let Some(obj) = b.as_object_mut() {
                        obj.insert(
                            "request_id".to_string(),
                            Value::String(p.request_id.clone()),
                        );
                    }
                    b
                })
                .collect(),
        )
        .to_string();
        // A link that already exists has been seen to answer 500: for links, a 500 is
        // narrowed down to the one link it concerns instead of retried.
        let pass: &[u16] = match (tagged, part.len() > 1) {
            (true, true) => &[504],
            (true, false) => &[],
            (false, true) => &[500, 504],
            (false, false) => &[500],
        };
        let what = format!("{} {}", method_name(method), path);
        let creates = tagged && method == Method::Post;
        let answer = self.api(method, path, Some(&body), pass, !creates)?;
        match answer.status {
            200..=299 if answer.body.trim().is_empty() => Ok(Reply::Accepted(Vec::new())),
            200..=299 => {
                let json = parse_json(&answer, &what)?;
                // Links need no answer items; entities must come back.
                match embedded(&json, key, &what) {
                    Ok(items) => Ok(Reply::Accepted(items)),
                    Err(_) if !tagged => Ok(Reply::Accepted(Vec::new())),
                    Err(e) => Err(e),
                }
            }
            500 if !tagged && part.len() == 1 => Ok(Reply::Rejected(vec![problem::ItemError {
                request_id: part[0].request_id.clone(),
                rejection: Rejection::Invalid(format!(
                    "amoCRM answered {} (it does so for a link that already exists)",
                    problem::describe(500, &answer.body)
                )),
            }])),
            500 | 504 => Ok(Reply::TooLarge),
            400 => match problem::item_errors(&answer.body) {
                Some(errors) if tagged => Ok(Reply::Rejected(errors)),
                // Untagged items are named by their index in this request.
                Some(errors) => Ok(Reply::Rejected(
                    errors
                        .into_iter()
                        .filter_map(|e| {
                            let p = part.get(e.request_id.parse::<usize>().ok()?)?;
                            Some(problem::ItemError {
                                request_id: p.request_id.clone(),
                                rejection: e.rejection,
                            })
                        })
                        .collect(),
                )),
                None => Err(AmoError::Protocol(format!(
                    "{what}: {}",
                    problem::describe(400, &answer.body)
                ))),
            },
            status => Err(AmoError::Protocol(format!(
                "{what}: {}",
                problem::describe(status, &answer.body)
            ))),
        }
    }

    // ---- reading ----

    /// Pages of `path` until a short page or a 204.
    fn pages(
        &mut self,
        path: &str,
        extra: &[(&str, &str)],
        key: &str,
        f: &mut dyn FnMut(Vec<Value>),
    ) -> Result<(), AmoError> {
        let limit = MOST_PER_REQUEST.to_string();
        for page in 1.. {
            let page_text = page.to_string();
            let mut pairs: Vec<(&str, &str)> = vec![("page", &page_text), ("limit", &limit)];
            pairs.extend_from_slice(extra);
            let Some(body) = self.get_json(&format!("{path}?{}", url::query(&pairs)))? else {
                break;
            };
            let items = embedded(&body, key, &format!("GET {path}"))?;
            let short = items.len() < MOST_PER_REQUEST;
            f(items);
            if short {
                break;
            }
        }
        Ok(())
    }

    /// A GET answered 200 with JSON (`Some`) or 204 (`None`); anything else is an error.
    pub(super) fn get_json(&mut self, path: &str) -> Result<Option<Value>, AmoError> {
        let what = format!("GET {}", path.split('?').next().unwrap_or(path));
        let answer = self.api(Method::Get, path, None, &[], true)?;
        match answer.status {
            204 => Ok(None),
            200..=299 if answer.body.trim().is_empty() => Ok(None),
            200..=299 => parse_json(&answer, &what).map(Some),
            status => Err(AmoError::Protocol(format!(
                "{what}: {}",
                problem::describe(status, &answer.body)
            ))),
        }
    }

    // ---- tokens ----

    /// One API request with a fresh token: refreshed once after a 401; 402 and 403 refuse.
    fn api(
        &mut self,
        method: Method,
        path: &str,
        body: Option<&str>,
        pass: &[u16],
        repeatable: bool,
    ) -> Result<Answer, AmoError> {
        let token = self.usable_token()?;
        let mut answer = self.transport.send(&Request {
            method,
            path,
            body,
            bearer: Some(&token),
            pass,
            repeatable,
        })?;
        if answer.status == 401 {
            log::info!(
                "amoCRM answered 401 to {} {}: refreshing the tokens",
                method_name(method),
                strip_query(path)
            );
            self.refresh(&token)?;
            let token = self.current_token()?;
            answer = self.transport.send(&Request {
                method,
                path,
                body,
                bearer: Some(&token),
                pass,
                repeatable,
            })?;
            if answer.status == 401 {
                return Err(AmoError::Refused {
                    status: 401,
                    oauth: None,
                    message: format!(
                        "amoCRM rejects even a fresh access token ({})",
                        problem::describe(401, &answer.body)
                    ),
                    action: format!(
                        "check that the integration is installed and active in amoCRM, then {NEW_CODE_ACTION}"
                    ),
                });
            }
        }
        match answer.status {
            402 => Err(AmoError::Refused {
                status: 402,
                oauth: None,
                message: "the amoCRM account is not paid for (402 Payment Required)".to_string(),
                action: "pay for the account in amoCRM; the queue waits and goes out once it is paid".to_string(),
            }),
            403 => Err(AmoError::Refused {
                status: 403,
                oauth: None,
                message: format!(
                    "amoCRM blocks this integration's requests ({}), possibly for exceeding its rate limit",
                    problem::describe(403, &answer.body)
                ),
                action: "wait until amoCRM lifts the block (usually within hours), lower [sync] rate_limit \
                         in amocrm.conf, and check the integration's access rights in amoCRM"
                    .to_string(),
            }),
            _ => Ok(answer),
        }
    }

    fn current_token(&self) -> Result<Secret, AmoError> {
        self.access
            .clone()
            .ok_or_else(|| no_tokens(self.files.access_path()))
    }

    /// The access token to send: read from disk, obtained with the configured code if there
    /// is none, or refreshed if it is about to expire.
    fn usable_token(&mut self) -> Result<Secret, AmoError> {
        if self.access.is_none() {
            self.access = self.files.read_access()?;
        }
        match self.access.clone() {
            None => {
                let Some(code) = self.auth.code.clone().filter(|c| !c.is_empty()) else {
                    return Err(no_tokens(self.files.access_path()));
                };
                let _lock = self.files.lock()?;
                // Another process may have exchanged it while this one waited for the lock.
                match self.files.read_access()? {
                    Some(t) => self.access = Some(t),
                    None => self.exchange_locked(&code)?,
                }
            }
            Some(token) if needs_refresh(&token, now_unix()) => self.refresh(&token)?,
            Some(_) => {}
        }
        self.current_token()
    }

    /// Replaces `stale` with a new pair, unless another process already did: under the
    /// lock the files are read again, and a different, fresh access token there is used as
    /// it is, so a rotated refresh token is never spent twice.
    fn refresh(&mut self, stale: &Secret) -> Result<(), AmoError> {
        let _lock = self.files.lock()?;
        if let Some(disk) = self.files.read_access()?
            && disk != *stale
            && !needs_refresh(&disk, now_unix())
        {
            log::info!("amoCRM tokens were refreshed by another process; using them");
            self.access = Some(disk);
            return Ok(());
        }
        let Some(refresh) = self.files.read_refresh()? else {
            return Err(AmoError::Refused {
                status: 401,
                oauth: None,
                message: format!(
                    "there is no refresh token in {}",
                    self.files.refresh_path().display()
                ),
                action: NEW_CODE_ACTION.to_string(),
            });
        };
        let body = self.grant_body("refresh_token", "refresh_token", &refresh);
        let (access, refresh) = self.token_request(&body, Grant::Refresh)?;
        self.files.write(&access, &refresh)?;
        log::info!("amoCRM tokens refreshed");
        self.access = Some(access);
        Ok(())
    }

    /// Exchanges `code`; the caller holds the lock.
    fn exchange_locked(&mut self, code: &Secret) -> Result<(), AmoError> {
        let body = self.grant_body("authorization_code", "code", code);
        let (access, refresh) = self.token_request(&body, Grant::Code)?;
        self.files.write(&access, &refresh)?;
        log::info!("amoCRM authorization code exchanged for tokens");
        self.access = Some(access);
        Ok(())
    }

    /// The body of a token request: the integration, the grant, and its secret.
    fn grant_body(&self, grant_type: &str, key: &str, secret: &Secret) -> Value {
        let mut body = json!({
            "client_id": self.auth.client_id,
            "client_secret": self.auth.client_secret.expose(),
            "grant_type": grant_type,
            "redirect_uri": self.auth.redirect_uri,
        });
        body[key] = json!(secret.expose());
        body
    }

    /// `POST /oauth2/access_token`. Its answers carry tokens: never quoted in errors.
    fn token_request(&self, body: &Value, grant: Grant) -> Result<(Secret, Secret), AmoError> {
        let what = match grant {
            Grant::Code => "the authorization code",
            Grant::Refresh => "the refresh token",
        };
        let text = body.to_string();
        let answer = self.transport.send(&Request {
            method: Method::Post,
            path: "/oauth2/access_token",
            body: Some(&text),
            bearer: None,
            pass: &[],
            // A lost token answer is safe to ask again: the old refresh token keeps working
            // until the new pair is first used.
            repeatable: true,
        })?;
        let reason = problem::oauth_reason(&answer.body);
        match answer.status {
            200 => {
                let json: Value = serde_json::from_str(&answer.body).map_err(|_| {
                    AmoError::Protocol(format!(
                        "the answer to {what} is not JSON ({} bytes)",
                        answer.body.len()
                    ))
                })?;
                let token = |k: &str| {
                    json.get(k)
                        .and_then(Value::as_str)
                        .map(str::trim)
                        .filter(|t| !t.is_empty())
                        .map(Secret::new)
                        .ok_or_else(|| {
                            AmoError::Protocol(format!("the answer to {what} has no {k}"))
                        })
                };
                Ok((token("access_token")?, token("refresh_token")?))
            }
            400 | 401 => Err(AmoError::Refused {
                status: answer.status,
                message: format!("amoCRM does not accept {what}: {reason}"),
                oauth: Some(OAuthRefusal::from_reason(&reason)),
                action: match grant {
                    Grant::Refresh => NEW_CODE_ACTION.to_string(),
                    Grant::Code => format!(
                        "check client_id, client_secret and redirect_uri in amocrm.conf against the \
                         integration in amoCRM, then {NEW_CODE_ACTION}"
                    ),
                },
            }),
            402 | 403 => Err(AmoError::Refused {
                status: answer.status,
                oauth: None,
                message: format!(
                    "amoCRM refused {what}: {}",
                    problem::describe(answer.status, &answer.body)
                ),
                action: "check the account's payment and the integration's state in amoCRM"
                    .to_string(),
            }),
            status => Err(AmoError::Protocol(format!(
                "POST /oauth2/access_token: {}",
                problem::describe(status, &answer.body)
            ))),
        }
    }
}

fn no_result() -> Rejection {
    Rejection::Invalid("amoCRM's answer has no result for this item".to_string())
}

fn no_tokens(access: &std::path::Path) -> AmoError {
    AmoError::Refused {
        status: 401,
        oauth: None,
        message: format!(
            "there are no tokens in {} and no code in [auth] of amocrm.conf",
            access.display()
        ),
        action: NEW_CODE_ACTION.to_string(),
    }
}

/// Entity names become path segments: only plain names pass.
fn check_entity(entity: &str) -> Result<(), AmoError> {
    let ok = !entity.is_empty() && entity.bytes().all(|b| b.is_ascii_lowercase() || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(AmoError::Local(format!(
            "{entity:?} is not an amoCRM entity name"
        )))
    }
}

/// Request ids for a chunk (its position in the whole call), and the items refused before
/// sending (`Some(message)` at their position).
fn prepare(
    chunk: &[Value],
    first: usize,
    check: impl Fn(&Value) -> Result<(), String>,
) -> (Vec<Pending>, Vec<Option<String>>) {
    let mut pending = Vec::new();
    let mut early = Vec::with_capacity(chunk.len());
    for (i, item) in chunk.iter().enumerate() {
        let verdict = if item.is_object() {
            check(item)
        } else {
            Err("the item is not a JSON object".to_string())
        };
        match verdict {
            Ok(()) => {
                pending.push(Pending {
                    request_id: (first + i).to_string(),
                    body: item.clone(),
                });
                early.push(None);
            }
            Err(e) => early.push(Some(e)),
        }
    }
    (pending, early)
}

fn request_id_of(v: &Value) -> Option<String> {
    match v.get("request_id")? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn parse_json(answer: &Answer, what: &str) -> Result<Value, AmoError> {
    serde_json::from_str(&answer.body).map_err(|_| {
        AmoError::Protocol(format!(
            "{what}: HTTP {} with a body that is not JSON: {}",
            answer.status,
            problem::excerpt(&answer.body)
        ))
    })
}

/// The entities of a list answer of `GET /api/v4/{entity}`.
fn entities(body: &Value, entity: &str) -> Result<Vec<Entity>, AmoError> {
    let items = embedded(body, entity, &format!("GET /api/v4/{entity}"))?;
    Ok(items.iter().filter_map(Entity::from_json).collect())
}

/// `_embedded.{key}` of a list answer.
pub(super) fn embedded(body: &Value, key: &str, what: &str) -> Result<Vec<Value>, AmoError> {
    match body.get("_embedded").and_then(|e| e.get(key)) {
        Some(Value::Array(items)) => Ok(items.clone()),
        _ => Err(AmoError::Protocol(format!(
            "{what}: the answer has no _embedded.{key} list: {}",
            problem::excerpt(&body.to_string())
        ))),
    }
}

fn method_name(m: Method) -> &'static str {
    match m {
        Method::Get => "GET",
        Method::Post => "POST",
        Method::Patch => "PATCH",
    }
}

fn strip_query(path: &str) -> &str {
    path.split('?').next().unwrap_or(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth(url: &str) -> AuthConfig {
        AuthConfig {
            url: url.to_string(),
            client_id: "id".into(),
            ..AuthConfig::default()
        }
    }

    #[test]
    fn new_refuses_plain_http_to_other_hosts() {
        let dir = tempfile::tempdir().expect("temp dir");
        let paths = Paths::new(dir.path());
        match AmoClient::new(
            &auth("http://example.amocrm.ru"),
            ClientOptions::default(),
            &paths,
        ) {
            Err(AmoError::Local(m)) => {
                assert!(m.contains("[auth] url") && m.contains("https://"), "{m}")
            }
            Err(e) => panic!("expected a local error, got {e:?}"),
            Ok(_) => panic!("plain http to a remote host was accepted"),
        }
        assert!(
            AmoClient::new(
                &auth("https://example.amocrm.ru/"),
                ClientOptions::default(),
                &paths
            )
            .is_ok()
        );
    }

    #[test]
    fn no_tokens_and_no_code_is_refused_without_a_request() {
        let dir = tempfile::tempdir().expect("temp dir");
        // Port 9 (discard) on loopback: nothing is sent, so nothing needs to listen.
        let mut c = AmoClient::new(
            &auth("http://127.0.0.1:9"),
            ClientOptions::default(),
            &Paths::new(dir.path()),
        )
        .expect("client");
        assert_eq!(c.token_status(), TokenStatus::default());
        match c.account() {
            Err(AmoError::Refused { action, .. }) => assert_eq!(action, NEW_CODE_ACTION),
            other => panic!("expected Refused, got {other:?}"),
        }
    }

    #[test]
    fn entity_names_are_checked() {
        assert!(check_entity("contacts").is_ok());
        assert!(check_entity("custom_fields").is_ok());
        for bad in ["", "../account", "contacts?x=1", "Leads"] {
            assert!(check_entity(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn prepare_numbers_items_by_their_place_in_the_call() {
        let items = [json!({"id": 1}), json!([1]), json!({"name": "x"})];
        let (pending, early) = prepare(&items, 250, |v| {
            v.get("id").map(|_| ()).ok_or_else(|| "no id".to_string())
        });
        assert_eq!(
            pending
                .iter()
                .map(|p| p.request_id.as_str())
                .collect::<Vec<_>>(),
            ["250"]
        );
        assert_eq!(
            early,
            [
                None,
                Some("the item is not a JSON object".to_string()),
                Some("no id".to_string())
            ]
        );
    }
}
