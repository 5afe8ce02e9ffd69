//! An OpenAPI document mapped onto the endpoint catalogue, the way the ancestor discovered its endpoints:
//! a catalogue endpoint is served when the document's `paths` hold its path template with its method. Path
//! parameters match whatever they are called (`{id}` serves `{item_id}`). What the document lacks is said
//! per endpoint, so those cells are absent with a reason rather than measured as zero.

use serde_json::Value;
use shared::api::EndpointInfo;
use shared::{CATALOGUE, Endpoint};

/// What an arm's catalogue covers of the workspace's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Coverage {
    /// The catalogue endpoints it serves, as the contract describes them.
    pub served: Vec<EndpointInfo>,
    /// Catalogue endpoint name -> why it is not served.
    pub lacking: Vec<(String, String)>,
}

/// Maps an OpenAPI document (its JSON) onto the catalogue; `source` names the document in reasons.
pub fn map_openapi(document: &Value, source: &str) -> Result<Coverage, String> {
    let paths = document
        .get("paths")
        .and_then(Value::as_object)
        .ok_or_else(|| format!("{source} has no `paths` object: it is not an OpenAPI document"))?;
    let mut coverage = Coverage { served: Vec::new(), lacking: Vec::new() };
    for endpoint in CATALOGUE {
        let wanted = normalized(endpoint.path);
        let operations = paths.iter().find(|(path, _)| normalized(path) == wanted).map(|(_, ops)| ops);
        let method = endpoint.method.as_str().to_ascii_lowercase();
        match operations {
            Some(ops) if ops.get(&method).is_some() => coverage.served.push(EndpointInfo::from(endpoint)),
            Some(_) => coverage.lacking.push(lack(
                endpoint,
                format!("{source} has {} but not for {}", endpoint.path, endpoint.method.as_str()),
            )),
            None => coverage.lacking.push(lack(endpoint, format!("{source} has no path {}", endpoint.path))),
        }
    }
    Ok(coverage)
}

/// What a `/api/endpoints` answer covers: the entries that match the catalogue by name, method and path.
pub fn map_contract(served: &[EndpointInfo], source: &str) -> Coverage {
    let mut coverage = Coverage { served: Vec::new(), lacking: Vec::new() };
    for endpoint in CATALOGUE {
        let same =
            served.iter().any(|e| e.name == endpoint.name && e.method == endpoint.method && e.path == endpoint.path);
        if same {
            coverage.served.push(EndpointInfo::from(endpoint));
        } else {
            let why = format!("{source} lists no {} {} ({})", endpoint.method.as_str(), endpoint.path, endpoint.name);
            coverage.lacking.push(lack(endpoint, why));
        }
    }
    coverage
}

/// Endpoints that need a database lack one when the arm cannot be given one per test (`takes_db` false) or
/// cannot be seeded (no seed route): their figures would not be comparable, so they are absent instead.
pub fn without_unseedable(mut coverage: Coverage, takes_db: bool) -> Coverage {
    let seed = shared::catalogue::seed_endpoint();
    let seeds = coverage.served.iter().any(|e| e.name == seed.name);
    let reason = match (takes_db, seeds) {
        (true, true) => return coverage,
        (false, _) => {
            "its start command takes no {db}, so a test can neither give it a fresh database nor audit its writes"
                .to_owned()
        }
        (true, false) => {
            format!("it serves no seed route ({} {}), so a test cannot reset its data", seed.method.as_str(), seed.path)
        }
    };
    let (db, rest): (Vec<EndpointInfo>, Vec<EndpointInfo>) =
        coverage.served.into_iter().partition(|e| e.group == shared::Group::Db && e.benchmarked);
    coverage.served = rest;
    coverage.lacking.extend(db.into_iter().map(|e| (e.name, reason.clone())));
    coverage
}

fn lack(endpoint: &Endpoint, why: String) -> (String, String) {
    (endpoint.name.to_owned(), why)
}

/// A path template with every `{parameter}` written as `{}`.
fn normalized(template: &str) -> String {
    let mut out = String::with_capacity(template.len());
    let mut inside = false;
    for c in template.chars() {
        match c {
            '{' => {
                inside = true;
                out.push('{');
            }
            '}' => {
                inside = false;
                out.push('}');
            }
            _ if inside => {}
            _ => out.push(c),
        }
    }
    out.trim_end_matches('/').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn names(infos: &[EndpointInfo]) -> Vec<&str> {
        infos.iter().map(|e| e.name.as_str()).collect()
    }

    #[test]
    fn paths_map_by_template_and_method_whatever_the_parameter_is_called() {
        let document = json!({"openapi": "3.1.0", "paths": {
            "/api/simple/noop/{item_id}": {"get": {}},
            "/api/simple/async/{id}": {"get": {}},
            "/api/db/async/write/{item_id}": {"get": {}},
            "/api/db/seed": {"post": {}},
            "/docs": {"get": {}}
        }});
        let coverage = map_openapi(&document, "/openapi.json").expect("an OpenAPI document");
        assert_eq!(names(&coverage.served), ["simple_noop", "simple_async", "seed"]);
        let write = coverage.lacking.iter().find(|(name, _)| name == "update_item_async_write").expect("lacking");
        assert!(write.1.contains("not for POST"), "{}", write.1);
        let read = coverage.lacking.iter().find(|(name, _)| name == "get_item_async_read").expect("lacking");
        assert_eq!(read.1, "/openapi.json has no path /api/db/async/read/{item_id}");
        assert_eq!(coverage.served.len() + coverage.lacking.len(), CATALOGUE.len());
    }

    #[test]
    fn a_document_without_paths_is_refused() {
        let error = map_openapi(&json!({"detail": "Not Found"}), "/openapi.json").expect_err("no paths");
        assert!(error.contains("not an OpenAPI document"), "{error}");
    }

    #[test]
    fn a_contract_catalogue_covers_what_it_lists_exactly() {
        let mut listed = shared::api::catalogue_info();
        listed.retain(|e| e.name != "simple_async");
        listed.iter_mut().filter(|e| e.name == "simple_noop").for_each(|e| e.path = "/noop/{item_id}".to_owned());
        let coverage = map_contract(&listed, "/api/endpoints");
        let lacking: Vec<&str> = coverage.lacking.iter().map(|(name, _)| name.as_str()).collect();
        assert_eq!(lacking, ["simple_noop", "simple_async"]);
    }

    #[test]
    fn database_endpoints_lack_without_a_database_or_a_seed_route() {
        let full = map_contract(&shared::api::catalogue_info(), "/api/endpoints");
        assert_eq!(without_unseedable(full.clone(), true), full);
        let no_db = without_unseedable(full.clone(), false);
        assert!(no_db.served.iter().all(|e| e.group == shared::Group::Simple || !e.benchmarked));
        assert!(no_db.lacking.iter().any(|(name, why)| name == "get_item_async_read" && why.contains("{db}")));
        let mut unseeded = full;
        unseeded.served.retain(|e| e.name != "seed");
        let unseeded = without_unseedable(unseeded, true);
        assert!(unseeded.lacking.iter().any(|(name, why)| name == "update_item_async_write" && why.contains("seed")));
        assert!(unseeded.served.iter().any(|e| e.name == "simple_noop"));
    }
}
