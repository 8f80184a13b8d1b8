//! `amocrm-sandbox load URL`: a small load generator for the benchmark, so the sandbox's
//! speed is measured over loopback from another process, the way the module meets it.

use std::time::Instant;

use serde_json::Value;

/// Authorizes with a fresh code, then sends `requests` GETs of the account and of a
/// contact list from `threads` keep-alive connections. Returns requests a second.
pub fn run(
    url: &str,
    client_id: &str,
    client_secret: &str,
    requests: usize,
    threads: usize,
) -> Result<f64, String> {
    let base = url.trim_end_matches('/').to_string();
    let setup = agent();
    let code: Value = read_json(setup.post(&format!("{base}/_sandbox/code")).send("{}"))?;
    let code = code["code"]
        .as_str()
        .ok_or("the sandbox gave no code")?
        .to_string();
    let grant = serde_json::json!({
        "client_id": client_id, "client_secret": client_secret, "grant_type": "authorization_code",
        "code": code, "redirect_uri": "https://billing.example.com/billmgr",
    });
    let tokens: Value = read_json(
        setup
            .post(&format!("{base}/oauth2/access_token"))
            .header("Content-Type", "application/json")
            .send(grant.to_string()),
    )?;
    let token = tokens["access_token"]
        .as_str()
        .ok_or_else(|| format!("no token: {tokens}"))?
        .to_string();
    let threads = threads.max(1);
    let started = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let (base, token) = (base.clone(), token.clone());
            let n = requests / threads + usize::from(t < requests % threads);
            std::thread::spawn(move || -> Result<(), String> {
                let agent = agent();
                let auth = format!("Bearer {token}");
                for i in 0..n {
                    let path = if i % 2 == 0 {
                        "/api/v4/account"
                    } else {
                        "/api/v4/contacts?limit=50"
                    };
                    let resp = agent
                        .get(&format!("{base}{path}"))
                        .header("Authorization", &auth)
                        .call()
                        .map_err(|e| e.to_string())?;
                    let status = resp.status().as_u16();
                    if status != 200 && status != 204 {
                        return Err(format!(
                            "{path} answered {status}: is the sandbox unlimited (--rate 0)?"
                        ));
                    }
                    let _ = resp.into_body().read_to_vec();
                }
                Ok(())
            })
        })
        .collect();
    for h in handles {
        h.join()
            .map_err(|_| "a load thread panicked".to_string())??;
    }
    Ok(requests as f64 / started.elapsed().as_secs_f64())
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}

fn read_json(resp: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Result<Value, String> {
    let mut resp = resp.map_err(|e| e.to_string())?;
    let text = resp
        .body_mut()
        .read_to_string()
        .map_err(|e| e.to_string())?;
    serde_json::from_str(&text).map_err(|e| format!("not JSON: {e}: {text}"))
}
