//! The rules screens as the panel calls them: the list of every rule of amocrm.conf, the
//! form of one rule with its choices from the presets and amoCRM's names (the sandbox),
//! saving checked by the module's own parser, renames and deletes that keep the admin's
//! comments, and the cache that spares amoCRM a request on every form.

mod support;

use std::time::{Duration, Instant};

use billmgr_amocrm::model::EntityKind;
use billmgr_amocrm::paths::Paths;
use support::ui::Answer;
use support::{Panel, Sandbox};

const CONF: &str = "etc/amocrm/amocrm.conf";

fn panel(url: &str) -> Panel {
    let p = Panel::new();
    p.write_conf(url, Panel::sqlite(), "enabled = no");
    p
}

/// (section, key, value) of every rule line of the shipped sample, counted from the file
/// itself: lines of the rule sections that are not comments.
fn sample_rules() -> Vec<(String, String, String)> {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/etc/amocrm.conf"))
        .expect("sample");
    let mut section = String::new();
    let mut out = Vec::new();
    for raw in text.lines() {
        let line = raw.trim();
        if let Some(name) = line.strip_prefix('[') {
            section = name[..name.find(']').expect("header")].to_string();
            continue;
        }
        if line.is_empty() || line.starts_with(';') || line.starts_with('#') {
            continue;
        }
        let rules = ["conditions", "pipelines", "tasks", "responsible", "notes"]
            .contains(&section.as_str())
            || section.starts_with("tags.")
            || section.starts_with("fields.");
        if !rules {
            continue;
        }
        // The sample's rule comments follow `;` outside quotes, and no rule quotes a `;`.
        let body = line.split(';').next().unwrap_or("").trim();
        let (k, v) = body.split_once('=').expect("key = value");
        out.push((section.clone(), k.trim().to_string(), v.trim().to_string()));
    }
    out
}

/// The row of the list with this id.
fn row<'a>(a: &'a Answer, id: &str) -> &'a std::collections::BTreeMap<String, String> {
    a.elems
        .iter()
        .find(|e| e["id"] == id)
        .unwrap_or_else(|| panic!("no row {id}:\n{}", a.raw))
}

fn keys(a: &Answer, slist: &str) -> Vec<String> {
    a.slists[slist].iter().map(|(k, _)| k.clone()).collect()
}

fn label<'a>(a: &'a Answer, slist: &str, key: &str) -> &'a str {
    a.slists[slist]
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, l)| l.as_str())
        .unwrap_or_else(|| panic!("{slist} has no {key}: {:?}", a.slists[slist]))
}

fn open(p: &Panel, elid: &str) -> Answer {
    let a = p.call("amocrm.rules.edit", 29, &[("elid", elid)]);
    a.assert_complete("amocrm.rules.edit");
    a
}

fn submit(p: &Panel, params: &[(&str, &str)]) -> Answer {
    let mut all = vec![("sok", "ok"), ("clicked_button", "ok")];
    all.extend_from_slice(params);
    p.call("amocrm.rules.edit", 29, &all)
}

fn check_passes(p: &Panel) {
    let out = p.amocrm(&["check"]);
    assert!(
        out.status.success(),
        "amocrm check: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        p.read(CONF)
    );
}

/// The comment lines of the file, in order.
fn comments(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| l.starts_with(';'))
        .map(str::to_string)
        .collect()
}

/// The API calls the sandbox has answered (its control endpoint aside).
fn api_calls(sb: &Sandbox) -> Vec<String> {
    sb.get_json("/_sandbox/requests")
        .as_array()
        .expect("request log")
        .iter()
        .map(|r| {
            format!(
                "{} {}",
                r["method"].as_str().unwrap_or(""),
                r["path"].as_str().unwrap_or("")
            )
        })
        .filter(|r| !r.contains("/_sandbox/"))
        .collect()
}

/// The presets of the panel, read by the module's own code.
fn vocabulary(p: &Panel) -> billmgr_amocrm::rules::Vocabulary {
    let paths = Paths::new(p.root());
    let mut problems = Vec::new();
    let vocab = billmgr_amocrm::config::Sources::read(&paths).vocabulary(&mut problems);
    assert!(problems.is_empty(), "{problems:?}");
    vocab
}

/// The parser's own message for `src` as a condition of a service (lead).
fn parser_message(p: &Panel, src: &str) -> String {
    billmgr_amocrm::rules::parse_condition(src, &vocabulary(p), EntityKind::Item)
        .expect_err("the condition is invalid")
        .message
}

#[test]
fn the_list_shows_every_rule_of_the_sample_in_file_order_in_both_languages() {
    let p = panel("http://127.0.0.1:9");
    let want = sample_rules();
    assert_eq!(want.len(), 26, "the sample's rules: {want:#?}");
    for lang in ["ru", "en"] {
        let a = p.call_as("amocrm.rules", "admin", 29, lang, &[]);
        a.assert_complete("amocrm.rules");
        assert_eq!(a.p_elems, Some(want.len()));
        let got: Vec<(String, String)> = a
            .elems
            .iter()
            .map(|e| (e["name"].clone(), e["rule"].clone()))
            .collect();
        let expect: Vec<(String, String)> = want
            .iter()
            .map(|(_, k, v)| (k.clone(), v.clone()))
            .collect();
        assert_eq!(got, expect, "{lang}");
        for e in &a.elems {
            assert!(!e["id"].contains(", ") && !e["id"].contains(' '), "{e:?}");
            for col in ["type", "entity", "name", "rule"] {
                if col != "rule" {
                    assert!(!e[col].is_empty(), "{col} of {e:?}");
                }
            }
        }
    }
    let a = p.call("amocrm.rules", 29, &[]);
    let eu = row(&a, "tags.contact/HostCom%20EU");
    assert_eq!(
        (
            eu["type"].as_str(),
            eu["entity"].as_str(),
            eu["name"].as_str(),
            eu["rule"].as_str()
        ),
        (
            "tag",
            "contact",
            "HostCom EU",
            "project.name = \"HostCom EU\""
        )
    );
    let cond = row(&a, "conditions/profile");
    assert_eq!(
        (cond["type"].as_str(), cond["entity"].as_str()),
        ("condition", "company")
    );
    assert_eq!(cond["rule"], "profile.profiletype in (2, 3)");
    let field = row(&a, "fields.contact/812345");
    assert_eq!(
        (field["type"].as_str(), field["entity"].as_str()),
        ("field", "contact")
    );
    assert_eq!(field["rule"], "account.id");
    let inn = row(&a, "fields.company/815001");
    assert_eq!(inn["entity"], "company");
    let default = row(&a, "pipelines/default");
    assert_eq!(
        (
            default["type"].as_str(),
            default["entity"].as_str(),
            default["rule"].as_str()
        ),
        ("pipeline", "lead", "7000001:7000100")
    );
    assert_eq!(row(&a, "tags.lead/trial")["entity"], "lead");

    // Pages.
    let page = p.call("amocrm.rules", 29, &[("p_num", "3"), ("p_cnt", "10")]);
    assert_eq!(page.p_elems, Some(26));
    assert_eq!(page.elems.len(), 6);
    assert_eq!(page.elems[4]["name"], "default");
    assert_eq!(
        (page.elems[5]["id"].as_str(), page.elems[5]["type"].as_str()),
        ("notes/payments", "notes")
    );
}

#[test]
fn forms_of_existing_rules_are_filled_with_names_from_amocrm() {
    let sb = Sandbox::start(&[]);
    let p = panel(&sb.url);

    // A tag of one test: value, validator and argument.
    let a = open(&p, "tags.lead/vds");
    let v = &a.values;
    assert_eq!(
        [
            &v["type"],
            &v["entity"],
            &v["name"],
            &v["value"],
            &v["validator"],
            &v["argument"],
            &v["condition"]
        ],
        ["tag", "lead", "vds", "item.itemtype", "=", "vds", ""]
    );
    assert!(
        v["names"].starts_with("Names read from amoCRM"),
        "{}",
        v["names"]
    );
    // The presets' values usable for a lead, with their labels; not a payer's.
    assert_eq!(
        label(&a, "value", "item.pricelist"),
        "item.pricelist — Tariff"
    );
    assert!(keys(&a, "value").contains(&"account.id".to_string()));
    assert!(!keys(&a, "value").contains(&"profile.inn".to_string()));
    assert_eq!(
        label(&a, "validator", "contains_nocase"),
        "contains_nocase — contains, ignoring case"
    );
    assert_eq!(label(&a, "validator", ">="), ">= — greater than or equal");
    let presets = vocabulary(&p);
    assert_eq!(
        keys(&a, "validator"),
        presets.validators.keys().cloned().collect::<Vec<_>>()
    );
    let for_leads: Vec<String> = presets
        .values
        .iter()
        .filter(|(_, v)| v.spec.kinds().contains(&EntityKind::Item))
        .map(|(k, _)| k.clone())
        .collect();
    assert_eq!(keys(&a, "value"), for_leads);
    // amoCRM's names: the lead's fields, the pipelines, the main pipeline's stages.
    assert_eq!(label(&a, "field", "816001"), "Тариф (816001)");
    assert_eq!(label(&a, "pipeline", "7000001"), "Хостинг");
    assert_eq!(label(&a, "pipeline", "7000002"), "Домены");
    assert_eq!(v["pipeline"], "7000001");
    assert_eq!(v["status"], "7000100");
    assert_eq!(label(&a, "status", "7000102"), "Приостановлена");
    let types = &a.slists["type"];
    assert_eq!(types.len(), 7);
    assert_eq!(label(&a, "type", "pipeline"), "Pipeline and stage");

    // A tag of two tests: the whole condition.
    let a = open(&p, "tags.lead/trial");
    assert_eq!(
        a.values["condition"],
        "item.period = -100 or item.pricelist contains_nocase trial"
    );
    assert_eq!(a.values["value"], "");

    // A field: amoCRM's field by name, EMAIL and PHONE, the panel value.
    let a = open(&p, "fields.contact/812345");
    assert_eq!(
        [
            &a.values["type"],
            &a.values["entity"],
            &a.values["field"],
            &a.values["value"]
        ],
        ["field", "contact", "812345", "account.id"]
    );
    assert_eq!(
        label(&a, "field", "812345"),
        "ID клиента в BILLmanager (812345)"
    );
    assert_eq!(label(&a, "field", "EMAIL"), "Email (EMAIL)");
    assert_eq!(label(&a, "field", "PHONE"), "Телефон (PHONE)");
    assert!(
        !keys(&a, "field").contains(&"816001".to_string()),
        "a lead's field on a contact"
    );
    assert!(!keys(&a, "value").contains(&"item.status".to_string()));

    // Pipelines: a condition, the pipeline and its stages by name.
    let a = open(&p, "pipelines/closed_domain");
    assert_eq!(
        a.values["condition"],
        "item.status = 4 and item.itemtype = domain"
    );
    assert_eq!(
        (a.values["pipeline"].as_str(), a.values["status"].as_str()),
        ("7000002", "143")
    );
    assert_eq!(keys(&a, "status"), ["7000200", "142", "143"]);
    assert_eq!(label(&a, "status", "143"), "Закрыто и не реализовано");
    let a = open(&p, "pipelines/suspended");
    assert_eq!(
        [
            &a.values["name"],
            &a.values["value"],
            &a.values["validator"],
            &a.values["argument"]
        ],
        ["suspended", "item.status", "=", "3"]
    );
    assert_eq!(
        (a.values["pipeline"].as_str(), a.values["status"].as_str()),
        ("7000001", "7000102")
    );
    let a = open(&p, "pipelines/default");
    assert_eq!(
        [
            &a.values["name"],
            &a.values["condition"],
            &a.values["value"],
            &a.values["pipeline"],
            &a.values["status"]
        ],
        ["default", "", "", "7000001", "7000100"]
    );

    // A sync condition: the payer's values.
    let a = open(&p, "conditions/profile");
    assert_eq!(
        [
            &a.values["type"],
            &a.values["entity"],
            &a.values["value"],
            &a.values["validator"],
            &a.values["argument"]
        ],
        [
            "condition",
            "company",
            "profile.profiletype",
            "in",
            "(2, 3)"
        ]
    );
    assert!(keys(&a, "value").contains(&"profile.inn".to_string()));
    assert!(!keys(&a, "value").contains(&"item.status".to_string()));

    // Another pipeline chosen: the form comes back with that pipeline's stages.
    let a = p.call(
        "amocrm.rules.edit",
        29,
        &[
            ("sv_field", "pipeline"),
            ("type", "pipeline"),
            ("name", "domains_new"),
            ("value", "item.itemtype"),
            ("validator", "="),
            ("argument", "domain"),
            ("pipeline", "7000002"),
            ("status", "7000101"),
        ],
    );
    a.assert_complete("amocrm.rules.edit");
    assert_eq!(keys(&a, "status"), ["7000200", "142", "143"]);
    assert_eq!(a.values["status"], "7000200");
    assert_eq!(a.values["argument"], "domain");
    assert_eq!(a.values["name"], "domains_new");

    // Another entity chosen: its values and fields.
    let a = p.call(
        "amocrm.rules.edit",
        29,
        &[
            ("sv_field", "entity"),
            ("type", "field"),
            ("entity", "company"),
        ],
    );
    a.assert_complete("amocrm.rules.edit");
    assert_eq!(label(&a, "field", "815001"), "ИНН (815001)");
    assert!(keys(&a, "value").contains(&"profile.kpp".to_string()));

    // A new rule: a tag of a lead by default, every choice there.
    let a = p.call("amocrm.rules.edit", 29, &[]);
    a.assert_complete("amocrm.rules.edit");
    assert_eq!(
        (a.values["type"].as_str(), a.values["entity"].as_str()),
        ("tag", "lead")
    );

    // In Russian.
    let ru = p.call_as(
        "amocrm.rules.edit",
        "admin",
        29,
        "ru",
        &[("elid", "tags.lead/vds")],
    );
    ru.assert_complete("amocrm.rules.edit");
    assert_eq!(label(&ru, "type", "tag"), "Тег");
    assert!(ru.values["names"].starts_with("Названия прочитаны из amoCRM"));

    // Unknown rows are refused.
    for bad in ["tags.lead/nothing", "auth/url", "junk"] {
        let a = p.call("amocrm.rules.edit", 29, &[("elid", bad)]);
        assert!(
            a.error
                .as_deref()
                .unwrap_or("")
                .starts_with("Nothing selected"),
            "{bad}: {}",
            a.raw
        );
    }
}

#[test]
fn with_amocrm_down_the_form_opens_at_once_with_ids() {
    let url = {
        let sb = Sandbox::start(&[]);
        sb.url.clone()
    };
    // The sandbox is gone: its port refuses connections.
    let p = panel(&url);
    let started = Instant::now();
    let a = open(&p, "fields.contact/812345");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(a.values["field"], "812345");
    assert_eq!(label(&a, "field", "812345"), "field 812345");
    assert_eq!(label(&a, "field", "EMAIL"), "EMAIL");
    assert!(
        a.values["names"]
            .starts_with("The names could not be read from amoCRM (cannot connect to 127.0.0.1:"),
        "{}",
        a.values["names"]
    );
    let a = open(&p, "pipelines/closed_domain");
    assert_eq!(label(&a, "pipeline", "7000002"), "pipeline 7000002");
    assert_eq!(label(&a, "pipeline", "7000001"), "pipeline 7000001");
    // The stages amocrm.conf uses with that pipeline, in the file's order.
    assert_eq!(keys(&a, "status"), ["143", "7000200"]);
    assert_eq!(label(&a, "status", "143"), "stage 143");
    // A new rule starts in the default stage.
    let a = p.call("amocrm.rules.edit", 29, &[]);
    a.assert_complete("amocrm.rules.edit");
    assert_eq!(
        (a.values["pipeline"].as_str(), a.values["status"].as_str()),
        ("7000001", "7000100")
    );
    // And a rule still saves.
    let a = submit(
        &p,
        &[
            ("type", "tag"),
            ("entity", "lead"),
            ("name", "vhost"),
            ("value", "item.itemtype"),
            ("validator", "="),
            ("argument", "vhost"),
        ],
    );
    assert!(a.ok.is_some(), "{}", a.raw);
    assert!(p.read(CONF).contains("\nvhost = item.itemtype = vhost\n"));
}

#[test]
fn a_new_tag_is_appended_to_its_section_and_passes_check() {
    let p = panel("http://127.0.0.1:9");
    let before = p.read(CONF);
    let a = submit(
        &p,
        &[
            ("type", "tag"),
            ("entity", "lead"),
            ("name", "big VDS, EU"),
            ("value", "item.cost"),
            ("validator", ">="),
            ("argument", "1000"),
        ],
    );
    assert!(a.ok.is_some(), "{}", a.raw);
    let after = p.read(CONF);
    assert!(
        after.contains("vds = item.itemtype = vds\nbig VDS, EU = item.cost >= 1000\n"),
        "{after}"
    );
    assert_eq!(comments(&before), comments(&after));
    check_passes(&p);
    let list = p.call("amocrm.rules", 29, &[]);
    assert_eq!(list.p_elems, Some(sample_rules().len() + 1));
    assert_eq!(
        row(&list, "tags.lead/big%20VDS%2C%20EU")["rule"],
        "item.cost >= 1000"
    );

    // A whole condition with quotes and a comment character inside them, written as is.
    let a = submit(
        &p,
        &[
            ("type", "tag"),
            ("entity", "contact"),
            ("name", "ХостКом"),
            ("value", "item.cost"),
            (
                "condition",
                "project.name = \"ХостКом; RU\" or\n  account.country = 182",
            ),
        ],
    );
    assert!(a.ok.is_some(), "{}", a.raw);
    assert!(
        p.read(CONF)
            .contains("\nХостКом = project.name = \"ХостКом; RU\" or account.country = 182\n"),
        "{}",
        p.read(CONF)
    );
    check_passes(&p);

    // A field and a sync condition.
    let a = submit(
        &p,
        &[
            ("type", "field"),
            ("entity", "company"),
            ("field", "810101"),
            ("value", "profile.phone"),
        ],
    );
    assert!(a.ok.is_some(), "{}", a.raw);
    let a = submit(
        &p,
        &[
            ("type", "condition"),
            ("entity", "lead"),
            ("value", "item.status"),
            ("validator", "!="),
            ("argument", "5"),
        ],
    );
    assert!(a.ok.is_some(), "{}", a.raw);
    let conf = p.read(CONF);
    assert!(
        conf.contains(
            "815003 = profile.id         ; \"payer id\" (numeric)\n810101 = profile.phone\n"
        ),
        "{conf}"
    );
    assert!(conf.contains("profile = profile.profiletype in (2, 3)            ; payers (companies): legal entities and sole proprietors\nitem = item.status != 5\n"), "{conf}");
    check_passes(&p);

    let log = p.read("var/amocrm_action.log");
    assert!(
        log.contains("amocrm.rules.edit: added [tags.lead] big VDS, EU = item.cost >= 1000 by admin (level 29)"),
        "{log}"
    );
}

#[test]
fn pipeline_rules_are_edited_and_tags_renamed_in_place() {
    let p = panel("http://127.0.0.1:9");
    let before = p.read(CONF);
    let a = submit(
        &p,
        &[
            ("elid", "pipelines/suspended"),
            ("type", "pipeline"),
            ("name", "suspended"),
            ("value", "item.status"),
            ("validator", "="),
            ("argument", "3"),
            ("pipeline", "7000002"),
            ("status", "7000200"),
        ],
    );
    assert!(a.ok.is_some(), "{}", a.raw);
    let conf = p.read(CONF);
    assert!(
        conf.contains("closed = item.status = 4 -> 7000001:143                     ; deleted: closed, lost\nsuspended = item.status = 3 -> 7000002:7000200\n; vds reads"),
        "{conf}"
    );

    // The default stage.
    let a = submit(
        &p,
        &[
            ("elid", "pipelines/default"),
            ("type", "pipeline"),
            ("name", "default"),
            ("pipeline", "7000002"),
            ("status", "7000200"),
        ],
    );
    assert!(a.ok.is_some(), "{}", a.raw);
    assert!(p.read(CONF).contains(
        "\ndefault = 7000002:7000200                                   ; \"new service\"\n"
    ));

    // Renamed: the same place in the file, the old name gone.
    let a = submit(
        &p,
        &[
            ("elid", "tags.lead/trial"),
            ("type", "tag"),
            ("entity", "lead"),
            ("name", "trial period"),
            ("condition", "item.period = -100"),
        ],
    );
    assert!(a.ok.is_some(), "{}", a.raw);
    let conf = p.read(CONF);
    assert!(
        conf.contains(
            "[tags.lead]\ntrial period = item.period = -100\nvds = item.itemtype = vds\n"
        ),
        "{conf}"
    );
    assert!(!conf.contains("\ntrial ="));
    // Moved to another section: out of the old one, into the new one.
    let a = submit(
        &p,
        &[
            ("elid", "tags.lead/vds"),
            ("type", "tag"),
            ("entity", "contact"),
            ("name", "vds client"),
            ("value", "account.id"),
            ("validator", ">"),
            ("argument", "0"),
        ],
    );
    assert!(a.ok.is_some(), "{}", a.raw);
    let conf = p.read(CONF);
    assert!(
        conf.contains("HostCom EU = project.name = \"HostCom EU\"\nvds client = account.id > 0\n"),
        "{conf}"
    );
    assert!(!conf.contains("\nvds = item.itemtype = vds\n"));
    assert_eq!(comments(&before), comments(&conf));
    check_passes(&p);
    let log = p.read("var/amocrm_action.log");
    assert!(log.contains("amocrm.rules.edit: replaced [tags.lead] trial with [tags.lead] trial period = item.period = -100 by admin (level 29)"), "{log}");
    assert!(
        log.contains(
            "amocrm.rules.edit: changed [pipelines] suspended = item.status = 3 -> 7000002:7000200"
        ),
        "{log}"
    );
}

#[test]
fn chosen_rules_are_deleted_and_comments_stay() {
    let p = panel("http://127.0.0.1:9");
    let before = p.read(CONF);
    let a = p.call_as(
        "amocrm.rules.delete",
        "manager",
        29,
        "en",
        &[("elid", "tags.contact/HostCom%20EU, pipelines/closed")],
    );
    assert!(a.ok.is_some(), "{}", a.raw);
    let after = p.read(CONF);
    assert!(!after.contains("HostCom EU ="));
    assert!(!after.contains("\nclosed ="));
    assert!(after.contains("\nclosed_domain = "));
    assert_eq!(comments(&before), comments(&after));
    assert_eq!(before.lines().count() - 2, after.lines().count());
    check_passes(&p);
    let list = p.call("amocrm.rules", 29, &[]);
    assert_eq!(list.p_elems, Some(sample_rules().len() - 2));
    let log = p.read("var/amocrm_action.log");
    assert!(
        log.contains("amocrm.rules.delete: removed [tags.contact] HostCom EU, [pipelines] closed by manager (level 29)"),
        "{log}"
    );

    // Rows that are not there (any more) change nothing.
    for bad in ["", "pipelines/closed", "tags.lead/vds, nothing/x"] {
        let a = p.call("amocrm.rules.delete", 29, &[("elid", bad)]);
        assert!(
            a.error
                .as_deref()
                .unwrap_or("")
                .starts_with("Nothing selected"),
            "{bad}: {}",
            a.raw
        );
    }
    assert_eq!(p.read(CONF), after);
}

#[test]
fn invalid_rules_are_refused_with_the_parsers_message_and_nothing_written() {
    let p = panel("http://127.0.0.1:9");
    let before = p.read(CONF);
    let tag_named = |name: &str, extra: &[(&str, &str)]| {
        let mut params = vec![("type", "tag"), ("entity", "lead"), ("name", name)];
        params.extend_from_slice(extra);
        submit(&p, &params)
    };
    let tag = |extra: &[(&str, &str)]| tag_named("broken", extra);
    let cases: [(&[(&str, &str)], &str); 5] = [
        (&[("condition", "item.sttus = 4")], "item.sttus = 4"),
        (
            &[("condition", "item.status contains 4")],
            "item.status contains 4",
        ),
        (
            &[("condition", "(item.status = 4 or item.status = 3")],
            "(item.status = 4 or item.status = 3",
        ),
        (
            &[
                ("value", "item.status"),
                ("validator", "=~="),
                ("argument", "4"),
            ],
            "item.status =~= 4",
        ),
        (
            &[
                ("value", "profile.inn"),
                ("validator", "="),
                ("argument", "1"),
            ],
            "profile.inn = 1",
        ),
    ];
    for (params, src) in cases {
        let a = tag(params);
        let error = a
            .error
            .unwrap_or_else(|| panic!("{src} was accepted:\n{}", a.raw));
        let message = parser_message(&p, src);
        assert!(
            error.starts_with("The rule was not saved: [tags.lead] broken: column "),
            "{error}"
        );
        assert!(error.contains(&message), "{src}: {error} lacks {message}");
        assert!(
            error.ends_with(&format!("(the line: broken = {src})")),
            "{error}"
        );
        assert_eq!(p.read(CONF), before, "{src}");
    }

    // A pipeline rule with a broken condition, a missing stage, a bad field.
    let a = submit(
        &p,
        &[
            ("type", "pipeline"),
            ("name", "x"),
            ("condition", "item.status = = 4"),
            ("pipeline", "7000001"),
            ("status", "143"),
        ],
    );
    assert!(
        a.error
            .unwrap()
            .contains(&parser_message(&p, "item.status = = 4"))
    );
    let a = submit(
        &p,
        &[
            ("type", "pipeline"),
            ("name", "x"),
            ("condition", "item.status = 4"),
        ],
    );
    assert_eq!(
        a.error.as_deref(),
        Some("Choose the pipeline and its stage.")
    );
    let a = submit(
        &p,
        &[
            ("type", "field"),
            ("entity", "lead"),
            ("field", "816009"),
            ("value", "item.nothing"),
        ],
    );
    assert!(a.error.unwrap().contains("unknown value 'item.nothing'"));
    let a = submit(
        &p,
        &[
            ("type", "field"),
            ("entity", "lead"),
            ("field", "E-MAIL"),
            ("value", "item.id"),
        ],
    );
    assert!(a.error.unwrap().contains("'E-MAIL' is not an amoCRM field"));
    // Names that cannot be keys.
    for name in ["a=b", "two\nlines", "x;y", "[x]", "a:b"] {
        let a = tag_named(name, &[("condition", "item.status = 4")]);
        let error = a.error.unwrap_or_else(|| panic!("{name:?} was accepted"));
        assert!(
            error.contains("cannot be a rule's name"),
            "{name:?}: {error}"
        );
    }
    // Nothing chosen; a name taken; an unknown kind.
    let a = tag(&[]);
    assert_eq!(
        a.error.as_deref(),
        Some("Choose a value and a check, or write the whole condition.")
    );
    let a = submit(
        &p,
        &[
            ("type", "tag"),
            ("entity", "lead"),
            ("name", "vds"),
            ("condition", "item.status = 4"),
        ],
    );
    assert_eq!(
        a.error.as_deref(),
        Some("The rule [tags.lead] vds already exists: edit it instead.")
    );
    let a = submit(&p, &[("type", "macro"), ("name", "x")]);
    assert!(a.error.is_some(), "{}", a.raw);
    let a = submit(
        &p,
        &[
            ("type", "tag"),
            ("entity", "deal"),
            ("name", "x"),
            ("condition", "item.status = 4"),
        ],
    );
    assert!(a.error.is_some(), "{}", a.raw);
    assert_eq!(p.read(CONF), before);
    // In Russian the frame is Russian, the parser's message as it is.
    let a = p.call_as(
        "amocrm.rules.edit",
        "admin",
        29,
        "ru",
        &[
            ("sok", "ok"),
            ("type", "tag"),
            ("entity", "lead"),
            ("name", "b"),
            ("condition", "item.sttus = 4"),
        ],
    );
    let error = a.error.unwrap();
    assert!(error.starts_with("Правило не сохранено: "), "{error}");
    assert!(error.contains("unknown value 'item.sttus'"), "{error}");
    assert_eq!(p.read(CONF), before);
}

#[test]
fn problems_elsewhere_in_the_file_do_not_block_a_good_edit() {
    let p = panel("http://127.0.0.1:9");
    let conf = p
        .read(CONF)
        .replace("vds = item.itemtype = vds", "vds = item.itemtyp = vds");
    p.write(CONF, &conf);
    let a = submit(
        &p,
        &[
            ("type", "tag"),
            ("entity", "lead"),
            ("name", "paid"),
            ("value", "item.expiredate"),
            ("validator", "not_empty"),
        ],
    );
    assert!(a.ok.is_some(), "{}", a.raw);
    assert!(
        p.read(CONF)
            .contains("\npaid = item.expiredate not_empty\n")
    );
    // But saving the broken rule as it is still fails.
    let a = submit(
        &p,
        &[
            ("elid", "tags.lead/vds"),
            ("type", "tag"),
            ("entity", "lead"),
            ("name", "vds"),
            ("condition", "item.itemtyp = vds"),
        ],
    );
    assert!(a.error.unwrap().contains("unknown value 'item.itemtyp'"));
    // The form shows it in the whole-condition field.
    let a = open(&p, "tags.lead/vds");
    assert_eq!(a.values["condition"], "item.itemtyp = vds");
}

#[test]
fn amocrm_names_are_read_once_and_cached_for_five_minutes() {
    let sb = Sandbox::start(&[]);
    let p = panel(&sb.url);
    open(&p, "fields.lead/816001");
    let first = api_calls(&sb);
    for path in [
        "GET /api/v4/contacts/custom_fields",
        "GET /api/v4/companies/custom_fields",
        "GET /api/v4/leads/custom_fields",
        "GET /api/v4/leads/pipelines",
        "GET /api/v4/users",
    ] {
        assert!(first.iter().any(|c| c == path), "{path} not in {first:?}");
    }
    assert!(p.path("var/amocrm_meta.json").exists());

    // Within five minutes: no request at all, same names.
    let a = open(&p, "pipelines/vds");
    assert_eq!(label(&a, "status", "7000101"), "VDS");
    p.call(
        "amocrm.rules.edit",
        29,
        &[
            ("sv_field", "pipeline"),
            ("type", "pipeline"),
            ("pipeline", "7000002"),
        ],
    );
    assert_eq!(api_calls(&sb), first);
    // The list labels fields with the names read, and never asks amoCRM itself.
    let list = p.call("amocrm.rules", 29, &[]);
    assert_eq!(
        row(&list, "fields.contact/812345")["name"],
        "ID клиента в BILLmanager (812345)"
    );
    assert_eq!(row(&list, "fields.contact/EMAIL")["name"], "Email (EMAIL)");
    assert_eq!(row(&list, "fields.lead/816001")["name"], "Тариф (816001)");
    assert_eq!(api_calls(&sb), first);

    // Older than five minutes: read again.
    let path = p.path("var/amocrm_meta.json");
    let mut cache: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    cache["fetched_at"] = serde_json::json!(cache["fetched_at"].as_i64().unwrap() - 301);
    std::fs::write(&path, cache.to_string()).unwrap();
    open(&p, "fields.lead/816001");
    let again = api_calls(&sb);
    assert!(again.len() > first.len(), "{again:?}");
    assert_eq!(
        again
            .iter()
            .filter(|c| c.ends_with("/leads/pipelines"))
            .count(),
        2
    );

    // amoCRM gone and the names old: the old names, and the form says why.
    let mut sb = sb;
    sb.child.kill().expect("stop the sandbox");
    sb.child.wait().expect("sandbox stopped");
    let mut cache: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    cache["fetched_at"] = serde_json::json!(cache["fetched_at"].as_i64().unwrap() - 301);
    std::fs::write(&path, cache.to_string()).unwrap();
    let a = open(&p, "fields.lead/816001");
    assert_eq!(label(&a, "field", "816001"), "Тариф (816001)");
    assert!(
        a.values["names"].starts_with("amoCRM cannot be read now (cannot connect to"),
        "{}",
        a.values["names"]
    );
}

/// The row of the list for `id`, or none.
fn has_row(a: &Answer, id: &str) -> bool {
    a.elems.iter().any(|e| e["id"] == id)
}

#[test]
fn tasks_responsible_managers_and_the_notes_switch_are_listed_edited_and_saved() {
    let sb = Sandbox::start(&[]);
    let p = panel(&sb.url);

    // A new rule's form offers the new kinds and amoCRM's active users by name.
    let a = p.call("amocrm.rules.edit", 29, &[]);
    a.assert_complete("amocrm.rules.edit");
    assert_eq!(label(&a, "type", "task"), "Task for a manager");
    assert_eq!(label(&a, "type", "responsible"), "Responsible manager");
    assert_eq!(
        label(&a, "user", "504142"),
        "Менеджер 1 <manager1@example.com>"
    );
    assert!(
        !keys(&a, "user").contains(&"504144".to_string()),
        "deactivated offered"
    );
    assert_eq!(keys(&a, "enabled"), ["yes", "no"]);

    // A task: its line under [tasks], as the parser reads it.
    let task = [
        ("type", "task"),
        ("name", "renew"),
        ("condition", "item.status = 2 and\nitem.expiredate within 7"),
        ("due", "item.expiredate-1"),
        (
            "text",
            "Позвонить: продление {item.name}; срок {item.expiredate}",
        ),
    ];
    let a = submit(&p, &task);
    assert!(a.ok.is_some(), "{}", a.raw);
    let conf = p.read(CONF);
    assert!(
        conf.contains("\nrenew = item.status = 2 and item.expiredate within 7 -> item.expiredate-1 \"Позвонить: продление {item.name}; срок {item.expiredate}\"\n"),
        "{conf}"
    );
    check_passes(&p);
    let list = p.call("amocrm.rules", 29, &[]);
    let row_of = row(&list, "tasks/renew");
    assert_eq!(
        (row_of["type"].as_str(), row_of["entity"].as_str()),
        ("task", "lead")
    );
    let a = open(&p, "tasks/renew");
    assert_eq!(
        (a.values["type"].as_str(), a.values["due"].as_str()),
        ("task", "item.expiredate-1")
    );
    assert_eq!(
        a.values["text"],
        "Позвонить: продление {item.name}; срок {item.expiredate}"
    );
    assert_eq!(
        a.values["condition"],
        "item.status = 2 and item.expiredate within 7"
    );

    // A task the parser refuses, or a text that cannot be quoted: nothing written.
    let before = p.read(CONF);
    for (param, bad, why) in [
        ("due", "item.name-1", "'item.name' is not a date"),
        ("due", "+99999", "'99999' is not a number of days"),
        (
            "text",
            "hello {item.nme}",
            "{item.nme} in the text: unknown value",
        ),
        ("text", "say \"hi\"", "cannot hold double quotes"),
        ("due", "", "Enter the task's due"),
    ] {
        let mut params: Vec<(&str, &str)> = task.to_vec();
        params.retain(|(k, _)| *k != param && *k != "name");
        params.extend([(param, bad), ("name", "other")]);
        let a = submit(&p, &params);
        let error = a.error.clone().unwrap_or_default();
        assert!(error.contains(why), "{bad}: {}", a.raw);
        assert_eq!(p.read(CONF), before);
    }

    // Responsible managers: chosen from the list, or written in; a user amoCRM lacks or
    // has deactivated is refused.
    let owner = |name: &'static str, user: &'static str, other: &'static str| {
        let mut params = vec![
            ("type", "responsible"),
            ("name", name),
            ("value", "item.itemtype"),
            ("validator", "="),
            ("argument", "vds"),
            ("user", user),
        ];
        params.push(("user_other", other));
        submit(&p, &params)
    };
    let a = owner("vds", "504142", "");
    assert!(a.ok.is_some(), "{}", a.raw);
    let a = owner("default", "504142", "Manager2@Example.com");
    assert!(a.ok.is_some(), "{}", a.raw);
    for (user, why) in [
        ("999", "amoCRM has no user 999"),
        ("former@example.com", "is deactivated"),
        ("no one", "cannot be a user"),
    ] {
        let a = owner("x", "", user);
        let error = a.error.clone().unwrap_or_default();
        assert!(error.contains(why), "{user}: {}", a.raw);
    }
    let conf = p.read(CONF);
    assert!(
        conf.contains("\nvds = item.itemtype = vds -> 504142\n"),
        "{conf}"
    );
    assert!(
        conf.contains("\ndefault = Manager2@Example.com\n"),
        "{conf}"
    );
    assert!(!conf.contains("\nx = "), "{conf}");
    check_passes(&p);
    let a = open(&p, "responsible/vds");
    assert_eq!(
        (
            a.values["value"].as_str(),
            a.values["argument"].as_str(),
            a.values["user"].as_str()
        ),
        ("item.itemtype", "vds", "504142")
    );
    let a = open(&p, "responsible/default");
    assert_eq!(
        label(&a, "user", "Manager2@Example.com"),
        "Менеджер 2 <manager2@example.com>"
    );
    let list = p.call("amocrm.rules", 29, &[]);
    assert_eq!(row(&list, "responsible/vds")["entity"], "any");

    // The notes' switch, in place of the sample's line.
    let a = open(&p, "notes/payments");
    assert_eq!(a.values["enabled"], "yes");
    let a = p.call(
        "amocrm.rules.edit",
        29,
        &[
            ("sok", "ok"),
            ("elid", "notes/payments"),
            ("type", "notes"),
            ("enabled", "no"),
        ],
    );
    assert!(a.ok.is_some(), "{}", a.raw);
    let a = submit(&p, &[("type", "notes"), ("enabled", "maybe")]);
    assert!(a.error.is_some(), "{}", a.raw);
    let conf = p.read(CONF);
    assert!(conf.contains("[notes]\npayments = no\n"), "{conf}");
    check_passes(&p);

    // Deleted like any rule; the log says what changed.
    let a = p.call(
        "amocrm.rules.delete",
        29,
        &[("elid", "tasks/renew, responsible/vds")],
    );
    assert!(a.ok.is_some(), "{}", a.raw);
    let list = p.call("amocrm.rules", 29, &[]);
    assert!(!has_row(&list, "tasks/renew") && !has_row(&list, "responsible/vds"));
    assert!(has_row(&list, "responsible/default"));
    let log = p.read("var/amocrm_action.log");
    assert!(log.contains("changed [notes] payments = no"), "{log}");
    check_passes(&p);
}
