//! Operating relays the way `docs/OPERATING.md` describes, with the real binary: devnet chain
//! processes, relay processes written by `picsou-relay init`, real libp2p, real sled files.
//!
//! - `/metrics` parses as strict OpenMetrics, counters end in `_total`, histograms are
//!   cumulative, and the numbers agree with what the relays did (delivered entries, QUACK,
//!   transfers by status, misbehaviour blamed on the relay that signs with a stale key);
//! - the Grafana dashboard and the alert rules query only metrics a running relay exports, and
//!   the dashboard has a panel for every one of them;
//! - `/ready` turns 503 (saying why) when every relay of the other cluster is killed, and 200
//!   again when they come back;
//! - SIGTERM exits 0 and leaves a database that reopens with every entry the relay acknowledged
//!   and its QUACK; the restarted relay reports the same transfers, resubmits nothing, and no
//!   transfer is applied twice on either chain;
//! - `PICSOU_<SECTION>__<FIELD>` overrides the file, and a bad override is one error naming the
//!   variable.

mod common;

use chains::devnet::Announcement;
use chains::devnet::api::ChainStatus;
use chains::devnet::client::DevnetClient;
use chains::tx::BridgeTransfer;
use chains::types::{Hash32, TransferId};
use common::{
    BIN, RelayFiles, Running, edit_config, free_ports, http_get, init_relays, run, sigterm,
    start_chain, start_relay, wait_for, wait_until,
};
use openmetrics_parser::{MetricsExposition, OpenMetricsType, OpenMetricsValue};
use rpc::client::RelayClient;
use rpc::{Direction, TransferFilter, TransferStatus};
use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;
use std::time::Duration;

/// Transfers each way in the tests that move funds.
const N: u64 = 5;
/// Generous limits: the machine is shared and slow.
const READY: Duration = Duration::from_secs(40);
const SETTLE: Duration = Duration::from_secs(40);

type Exposition = MetricsExposition<OpenMetricsType, OpenMetricsValue>;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
}

/// Both devnet chains (4 validators each, free ports) and a relay set for them.
struct Devnet {
    dir: tempfile::TempDir,
    _chains: [Running; 2],
    a: Announcement,
    b: Announcement,
    relays: Vec<RelayFiles>,
}

impl Devnet {
    fn new() -> Devnet {
        let dir = tempfile::tempdir().expect("a temp dir");
        let (chain_a, a) = start_chain(&[
            "--kind",
            "algorand",
            "--validators",
            "4",
            "--listen",
            "127.0.0.1:0",
        ]);
        let (chain_b, b) = start_chain(&[
            "--kind",
            "resdb",
            "--validators",
            "4",
            "--listen",
            "127.0.0.1:0",
        ]);
        let relays = init_relays(dir.path(), &a.endpoints, &b.endpoints);
        Devnet {
            dir,
            _chains: [chain_a, chain_b],
            a,
            b,
            relays,
        }
    }

    fn relay(&self, name: &str) -> &RelayFiles {
        self.relays
            .iter()
            .find(|r| r.name == name)
            .expect("a relay of the set")
    }

    /// The tail of a relay's log, for failure messages.
    fn log(&self, relay: &RelayFiles) -> String {
        let text = std::fs::read_to_string(relay.config.with_extension("log")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }
}

/// Each transfer's status by id.
fn statuses_of(page: &rpc::TransferPage) -> BTreeMap<String, TransferStatus> {
    page.transfers
        .iter()
        .map(|t| (t.id.clone(), t.status))
        .collect()
}

/// `picsou-relay transfer` from `account` of the chain at `chain`; returns the transfer id.
fn transfer(chain: &str, account: u64, amount: u64) -> String {
    let out = run(&[
        "transfer",
        "--chain",
        chain,
        "--account",
        &account.to_string(),
        "--amount",
        &amount.to_string(),
    ]);
    assert!(
        out.status.success(),
        "transfer: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let id = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert_eq!(id.len(), 64, "a transfer id, got {id:?}");
    id
}

/// `N` transfers each way from accounts `first..first + N` (distinct accounts, so their nonces
/// do not collide); returns (A → B ids, B → A ids) and the amount sent each way.
fn transfers_both_ways(net: &Devnet, first: u64) -> (Vec<String>, Vec<String>, u64) {
    let mut a_to_b = Vec::new();
    let mut b_to_a = Vec::new();
    let mut amount = 0;
    for i in first..first + N {
        a_to_b.push(transfer(&net.a.endpoints[0], i, 10 + i));
        b_to_a.push(transfer(&net.b.endpoints[0], i, 10 + i));
        amount += 10 + i;
    }
    (a_to_b, b_to_a, amount)
}

fn transfer_id(hex: &str) -> TransferId {
    TransferId(Hash32::from_hex(hex).expect("a transfer id"))
}

fn chain_status(rt: &tokio::runtime::Runtime, endpoint: &str) -> ChainStatus {
    let c = DevnetClient::new(endpoint).expect("a chain client");
    rt.block_on(c.status()).expect("chain_status")
}

/// Waits until the chain at `endpoint` has applied every transfer in `ids`.
fn wait_applied(rt: &tokio::runtime::Runtime, endpoint: &str, ids: &[String]) {
    let c = DevnetClient::new(endpoint).expect("a chain client");
    wait_for(
        SETTLE,
        "every transfer applied on its destination chain",
        || {
            ids.iter()
                .all(|id| matches!(rt.block_on(c.transfer_applied(&transfer_id(id))), Ok(true)))
                .then_some(())
        },
    );
}

/// Waits until `GET /ready` on `relay` answers `want`; returns the body.
fn wait_ready_status(relay: &RelayFiles, want: u16, limit: Duration) -> serde_json::Value {
    wait_for(
        limit,
        &format!("{} /ready to answer {want}", relay.name),
        || match http_get(relay.rpc, "/ready") {
            Ok((status, body)) if status == want => {
                Some(serde_json::from_str(&body).expect("/ready answers JSON"))
            }
            _ => None,
        },
    )
}

fn scrape_text(rt: &tokio::runtime::Runtime, relay: &RelayFiles) -> Option<String> {
    let client = RelayClient::new(&relay.url()).ok()?;
    rt.block_on(client.metrics()).ok()
}

/// Parses a scrape strictly; panics with the text when it is not valid OpenMetrics.
fn parse(text: &str) -> Exposition {
    openmetrics_parser::openmetrics::parse_openmetrics(text)
        .unwrap_or_else(|e| panic!("/metrics is not valid OpenMetrics: {e}\n{text}"))
}

/// Sum of a gauge's or counter's samples (0 when the family has none).
fn value(expo: &Exposition, family: &str) -> f64 {
    expo.families.get(family).map_or(0.0, |f| {
        f.iter_samples()
            .map(|s| match &s.value {
                OpenMetricsValue::Gauge(n) => n.as_f64(),
                OpenMetricsValue::Counter(c) => c.value.as_f64(),
                other => panic!("{family} is not a gauge or counter: {other:?}"),
            })
            .sum()
    })
}

/// The value of the one sample of `family` whose label `label` is `want`.
fn labelled(expo: &Exposition, family: &str, label: &str, want: &str) -> Option<f64> {
    let f = expo.families.get(family)?;
    f.iter_samples().find_map(|s| {
        let labels = s.get_labelset().ok()?;
        (labels.get_label_value(label) == Some(want)).then(|| match &s.value {
            OpenMetricsValue::Gauge(n) => n.as_f64(),
            OpenMetricsValue::Counter(c) => c.value.as_f64(),
            other => panic!("{family} is not a gauge or counter: {other:?}"),
        })
    })
}

/// Checks the sample names of the text exposition against the declared types: a counter's
/// samples are all `<name>_total`, a gauge's `<name>`, a histogram's `<name>_bucket`, `_sum` and
/// `_count`. Returns every family with its type.
fn check_names(text: &str) -> BTreeMap<String, String> {
    let mut families = BTreeMap::new();
    let mut current: Option<(String, String)> = None;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("# TYPE name type");
            families.insert(name.to_owned(), kind.to_owned());
            current = Some((name.to_owned(), kind.to_owned()));
            continue;
        }
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        let sample = line
            .split(['{', ' '])
            .next()
            .expect("a sample line starts with its name");
        let (family, kind) = current
            .as_ref()
            .unwrap_or_else(|| panic!("sample before any # TYPE: {line}"));
        assert!(
            family.starts_with("picsou_"),
            "{family}: every metric is prefixed picsou_"
        );
        let allowed: Vec<String> = match kind.as_str() {
            "counter" => vec![format!("{family}_total")],
            "gauge" => vec![family.clone()],
            "histogram" => ["_bucket", "_sum", "_count"]
                .iter()
                .map(|s| format!("{family}{s}"))
                .collect(),
            other => panic!("{family}: unexpected type {other}"),
        };
        assert!(
            allowed.iter().any(|a| a == sample),
            "{family} ({kind}): sample {sample} is not one of {allowed:?}"
        );
    }
    families
}

/// Every histogram: bucket bounds increase, counts never decrease, the last bucket is `+Inf` and
/// holds `_count`. Returns each histogram's count.
fn check_histograms(expo: &Exposition) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    for (name, f) in &expo.families {
        if f.family_type != OpenMetricsType::Histogram {
            continue;
        }
        for s in f.iter_samples() {
            let OpenMetricsValue::Histogram(h) = &s.value else {
                panic!("{name}: a histogram family with a non-histogram sample");
            };
            let mut last = (f64::NEG_INFINITY, 0.0);
            for b in &h.buckets {
                assert!(
                    b.upper_bound > last.0,
                    "{name}: bucket bounds must increase"
                );
                assert!(
                    b.count.as_f64() >= last.1,
                    "{name}: bucket le={} holds {} < {} below it: not cumulative",
                    b.upper_bound,
                    b.count.as_f64(),
                    last.1
                );
                last = (b.upper_bound, b.count.as_f64());
            }
            let count = h.count.expect("a histogram has _count");
            assert_eq!(last.0, f64::INFINITY, "{name}: the last bucket is +Inf");
            assert_eq!(
                last.1, count as f64,
                "{name}: the +Inf bucket equals _count"
            );
            *counts.entry(name.clone()).or_default() += count;
        }
    }
    counts
}

/// Every `picsou_…` name in `text`.
fn metric_names(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = text;
    while let Some(at) = rest.find("picsou_") {
        let tail = &rest[at..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        names.insert(tail[..end].to_owned());
        rest = &tail[end..];
    }
    names
}

/// The exported family a query name refers to (`x_total` → counter `x`, `x_bucket` → histogram
/// `x`, …), or `None` when no running relay exports it.
fn family_of(name: &str, families: &BTreeMap<String, String>) -> Option<String> {
    if families.get(name).map(String::as_str) == Some("gauge") {
        return Some(name.to_owned());
    }
    for (suffix, kind) in [
        ("_total", "counter"),
        ("_bucket", "histogram"),
        ("_sum", "histogram"),
        ("_count", "histogram"),
    ] {
        if let Some(stem) = name.strip_suffix(suffix)
            && families.get(stem).map(String::as_str) == Some(kind)
        {
            return Some(stem.to_owned());
        }
    }
    None
}

/// Every `expr` of every panel (rows included) of a Grafana dashboard.
fn panel_exprs(dashboard: &serde_json::Value) -> Vec<String> {
    fn walk(panels: &serde_json::Value, out: &mut Vec<String>) {
        for p in panels.as_array().into_iter().flatten() {
            for t in p["targets"].as_array().into_iter().flatten() {
                if let Some(e) = t["expr"].as_str() {
                    out.push(e.to_owned());
                }
            }
            walk(&p["panels"], out);
        }
    }
    let mut out = Vec::new();
    walk(&dashboard["panels"], &mut out);
    out
}

fn dashboard() -> serde_json::Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/docs/grafana/picsou-relay.json"
    );
    let text = std::fs::read_to_string(path).expect("the dashboard file reads");
    serde_json::from_str(&text).expect("the dashboard is JSON")
}

fn alert_rules() -> String {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/docs/alerts/picsou-relay.rules.yml"
    );
    std::fs::read_to_string(path).expect("the alert rules read")
}

#[test]
fn the_dashboard_imports_with_a_prometheus_input_and_filters_every_query_by_instance() {
    let d = dashboard();
    let inputs = d["__inputs"].as_array().expect("__inputs");
    assert!(
        inputs.iter().any(|i| i["name"] == "DS_PROMETHEUS"
            && i["type"] == "datasource"
            && i["pluginId"] == "prometheus"),
        "a DS_PROMETHEUS datasource input: {inputs:?}"
    );
    let vars = d["templating"]["list"].as_array().expect("templating");
    let instance = vars
        .iter()
        .find(|v| v["name"] == "instance")
        .expect("an instance variable");
    assert_eq!(instance["datasource"]["uid"], "${DS_PROMETHEUS}");
    let mut ids = BTreeSet::new();
    let mut panels = 0;
    for p in d["panels"].as_array().expect("panels") {
        assert!(
            ids.insert(p["id"].as_u64().expect("a panel id")),
            "ids are unique"
        );
        if p["type"] == "row" {
            continue;
        }
        panels += 1;
        let title = p["title"].as_str().expect("a title");
        assert_eq!(p["datasource"]["uid"], "${DS_PROMETHEUS}", "{title}");
        let targets = p["targets"].as_array().expect("targets");
        assert!(!targets.is_empty(), "{title}: no query");
        for t in targets {
            let expr = t["expr"].as_str().expect("an expr");
            assert_eq!(t["datasource"]["uid"], "${DS_PROMETHEUS}", "{title}");
            // Every selector of a relay metric is filtered by the instance variable.
            for (at, _) in expr.match_indices("picsou_") {
                let tail = &expr[at..];
                let selector = tail
                    .split_once('{')
                    .and_then(|(name, rest)| {
                        (!name.contains(|c: char| !(c.is_ascii_alphanumeric() || c == '_')))
                            .then_some(rest)
                    })
                    .and_then(|rest| rest.split_once('}'))
                    .map(|(labels, _)| labels);
                assert!(
                    selector.is_some_and(|l| l.contains("instance=~\"$instance\"")),
                    "{title}: {expr}: selector without instance=~\"$instance\""
                );
            }
        }
    }
    assert!(panels >= 18, "a panel per metric, found {panels}");
}

#[test]
fn metrics_are_strict_openmetrics_agree_with_the_relays_and_cover_the_dashboard() {
    let rt = runtime();
    let net = Devnet::new();
    // B0 signs with a key nobody else lists: every batch it sends is refused as bad_signature,
    // which others must resend. So every metric family, the labelled ones included, has samples.
    let b0 = net.relay("b0");
    let stale = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
    let key_file = net.dir.path().join("keys/b0.batch");
    std::fs::remove_file(&key_file).expect("b0's key is removed");
    std::fs::write(&key_file, format!("{}\n", hex::encode(stale.to_bytes()))).expect("writes");
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600))
            .expect("chmod 600");
    }
    edit_config(&b0.config, |t| {
        for r in t["relays"].as_array_mut().expect("[[relays]]") {
            if r["side"].as_str() == Some("b") && r["index"].as_integer() == Some(0) {
                r["batch_key"] = hex::encode(stale.verifying_key().as_bytes()).into();
            }
        }
    });

    let _running: Vec<Running> = net.relays.iter().map(|r| start_relay(r, &[])).collect();
    for r in &net.relays {
        wait_ready_status(r, 200, READY);
    }
    let (a_to_b, b_to_a, _) = transfers_both_ways(&net, 1);
    wait_applied(&rt, &net.b.endpoints[0], &a_to_b);
    wait_applied(&rt, &net.a.endpoints[0], &b_to_a);

    // Every relay: N entries delivered, its own N entries QUACKed, every inbound transfer seen
    // committed, every outbound one acknowledged.
    for r in &net.relays {
        let client = RelayClient::new(&r.url()).expect("a client");
        let inbound = if r.name.starts_with('a') {
            Direction::BToA
        } else {
            Direction::AToB
        };
        let want: BTreeSet<&String> = if inbound == Direction::BToA {
            b_to_a.iter().collect()
        } else {
            a_to_b.iter().collect()
        };
        wait_until(SETTLE, &format!("{} to settle", r.name), || {
            let text = scrape_text(&rt, r).ok_or("no scrape")?;
            let m = parse(&text);
            let page = rt
                .block_on(client.list_transfers(
                    &TransferFilter {
                        status: None,
                        direction: Some(inbound),
                    },
                    None,
                    1000,
                ))
                .map_err(|e| e.to_string())?;
            let seen = (
                value(&m, "picsou_delivered"),
                value(&m, "picsou_stream_quack"),
                value(&m, "picsou_stream_next_expected"),
            );
            let statuses: Vec<&str> = page.transfers.iter().map(|t| t.status.name()).collect();
            let settled = seen == (N as f64, N as f64, N as f64)
                && page.transfers.len() == want.len()
                && page
                    .transfers
                    .iter()
                    .all(|t| t.status == TransferStatus::Committed && want.contains(&t.id));
            if settled {
                Ok(())
            } else {
                Err(format!(
                    "(delivered, quack, next_expected) = {seen:?}, inbound transfers {statuses:?}\n{}",
                    net.log(r)
                ))
            }
        });
    }
    wait_until(SETTLE, "a resend and a misbehaviour report", || {
        let all: Vec<(String, f64, f64)> = net
            .relays
            .iter()
            .filter_map(|r| {
                let m = parse(&scrape_text(&rt, r)?);
                Some((
                    r.name.clone(),
                    value(&m, "picsou_resends"),
                    value(&m, "picsou_misbehaviour"),
                ))
            })
            .collect();
        if all.iter().any(|r| r.1 > 0.0) && all.iter().any(|r| r.2 > 0.0) {
            Ok(())
        } else {
            Err(format!("(relay, resends, misbehaviour): {all:?}"))
        }
    });

    // The transfer and readiness gauges refresh on their own (at most once a second), without
    // anyone asking relay_status; every inbound commit was seen live, so it has a latency.
    for r in &net.relays {
        wait_until(SETTLE, &format!("{}'s transfer gauges", r.name), || {
            let m = parse(&scrape_text(&rt, r).ok_or("no scrape")?);
            let seen = (
                labelled(&m, "picsou_transfers", "status", "committed"),
                labelled(&m, "picsou_transfers", "status", "acknowledged"),
                value(&m, "picsou_ready"),
            );
            if seen == (Some(N as f64), Some(N as f64), 1.0) {
                Ok(())
            } else {
                Err(format!("(committed, acknowledged, ready) = {seen:?}"))
            }
        });
    }
    let key: [(&str, &str); 20] = [
        ("picsou_stream_exported", "gauge"),
        ("picsou_stream_quack", "gauge"),
        ("picsou_stream_lag", "gauge"),
        ("picsou_stream_next_expected", "gauge"),
        ("picsou_delivered", "counter"),
        ("picsou_batches_in", "counter"),
        ("picsou_batches_out", "counter"),
        ("picsou_bytes_in", "counter"),
        ("picsou_bytes_out", "counter"),
        ("picsou_transfers", "gauge"),
        ("picsou_transfer_latency_seconds", "histogram"),
        ("picsou_chain_errors", "counter"),
        ("picsou_chain_height", "gauge"),
        ("picsou_submissions", "counter"),
        ("picsou_storage_flush_seconds", "histogram"),
        ("picsou_peers_connected", "gauge"),
        ("picsou_refused_connections", "counter"),
        ("picsou_remote_connected_stake", "gauge"),
        ("picsou_remote_quorum_stake", "gauge"),
        ("picsou_ready", "gauge"),
    ];
    let mut exported: BTreeMap<String, String> = BTreeMap::new();
    let mut blamed = 0.0;
    let mut submitted: BTreeMap<u8, f64> = BTreeMap::new();
    for r in &net.relays {
        let text = scrape_text(&rt, r).expect("a scrape");
        let m = parse(&text);
        let families = check_names(&text);
        for (name, kind) in key {
            assert_eq!(
                families.get(name).map(String::as_str),
                Some(kind),
                "{}: {name} ({kind}) is exported\n{text}",
                r.name
            );
        }
        let exported_n = value(&m, "picsou_stream_exported");
        let quack = value(&m, "picsou_stream_quack");
        assert!(quack <= exported_n, "{}: QUACK above exported", r.name);
        assert_eq!(exported_n, N as f64, "{}: own stream", r.name);
        assert_eq!(
            value(&m, "picsou_stream_lag"),
            exported_n - quack,
            "{}: lag = exported - quack",
            r.name
        );
        assert_eq!(value(&m, "picsou_delivered"), N as f64, "{}", r.name);
        assert_eq!(
            labelled(&m, "picsou_transfers", "status", "committed"),
            Some(N as f64),
            "{}: inbound transfers committed",
            r.name
        );
        assert_eq!(
            labelled(&m, "picsou_transfers", "status", "acknowledged"),
            Some(N as f64),
            "{}: outbound transfers QUACKed",
            r.name
        );
        assert_eq!(value(&m, "picsou_peers_connected"), 7.0, "{}", r.name);
        assert_eq!(
            value(&m, "picsou_remote_connected_stake"),
            4.0,
            "{}: every relay of the other cluster",
            r.name
        );
        assert_eq!(
            value(&m, "picsou_remote_quorum_stake"),
            2.0,
            "{}: u + 1",
            r.name
        );
        assert!(value(&m, "picsou_chain_height") > 0.0, "{}", r.name);
        // A relay submits what it delivers unless its chain already applied it.
        assert!(value(&m, "picsou_submissions") <= N as f64, "{}", r.name);
        *submitted.entry(r.name.as_bytes()[0]).or_default() += value(&m, "picsou_submissions");
        assert_eq!(value(&m, "picsou_refused_connections"), 0.0, "{}", r.name);
        let histograms = check_histograms(&m);
        assert!(
            histograms["picsou_storage_flush_seconds"] > 0,
            "{}: delivering entries flushed the database",
            r.name
        );
        assert_eq!(
            histograms["picsou_transfer_latency_seconds"], N,
            "{}: one latency per inbound transfer committed",
            r.name
        );
        let latency_sum: f64 = m.families["picsou_transfer_latency_seconds"]
            .iter_samples()
            .filter_map(|s| match &s.value {
                OpenMetricsValue::Histogram(h) => h.sum.as_ref().map(|v| v.as_f64()),
                _ => None,
            })
            .sum();
        assert!(
            latency_sum > 0.0,
            "{}: source finality precedes destination commit",
            r.name
        );
        // Misbehaviour is blamed on B0, for its signatures, and on nobody else.
        if let Some(f) = m.families.get("picsou_misbehaviour") {
            for s in f.iter_samples() {
                let labels = s.get_labelset().expect("labels");
                assert_eq!(labels.get_label_value("peer"), Some("B0"), "{}", r.name);
                assert_eq!(
                    labels.get_label_value("kind"),
                    Some("bad_signature"),
                    "{}",
                    r.name
                );
            }
            blamed += value(&m, "picsou_misbehaviour");
        }
        for (name, kind) in families {
            exported.insert(name, kind);
        }
        assert!(
            r.name != "b0" || value(&m, "picsou_misbehaviour") == 0.0,
            "b0 itself sees nothing wrong"
        );
    }
    assert!(blamed >= 1.0, "B0's stale key was noticed");
    for (side, n) in submitted {
        assert!(
            n >= N as f64,
            "cluster {}: every applied transfer was submitted by one of its relays",
            side as char
        );
    }

    // The dashboard queries only exported metrics and shows every one of them.
    let mut shown = BTreeSet::new();
    for expr in panel_exprs(&dashboard()) {
        for name in metric_names(&expr) {
            let family = family_of(&name, &exported).unwrap_or_else(|| {
                panic!("the dashboard queries {name} ({expr}), which no relay exports")
            });
            shown.insert(family);
        }
    }
    let missing: Vec<&String> = exported.keys().filter(|f| !shown.contains(*f)).collect();
    assert!(missing.is_empty(), "no dashboard panel for {missing:?}");
    // So do the alert rules.
    for name in metric_names(&alert_rules()) {
        assert!(
            family_of(&name, &exported).is_some(),
            "the alert rules use {name}, which no relay exports"
        );
    }
}

#[test]
fn ready_turns_503_when_the_other_cluster_is_killed_and_200_when_it_returns() {
    let net = Devnet::new();
    let a0 = net.relay("a0");
    let _a0 = start_relay(a0, &[]);
    let b_relays: Vec<&RelayFiles> = net
        .relays
        .iter()
        .filter(|r| r.name.starts_with('b'))
        .collect();
    let mut bs: Vec<Running> = b_relays.iter().map(|r| start_relay(r, &[])).collect();
    let ready = wait_ready_status(a0, 200, READY);
    assert_eq!(ready["ready"], true, "{ready}");
    assert!(
        ready["remote_connected_stake"].as_u64() >= ready["remote_quorum_stake"].as_u64(),
        "{ready}"
    );

    for b in &mut bs {
        b.0.kill().expect("SIGKILL");
        b.0.wait().expect("reaped");
    }
    // 503 as soon as less than a quorum of B is connected; then every B relay is seen gone.
    let t = std::time::Instant::now();
    let body = wait_for(
        Duration::from_secs(15),
        "a0 /ready to answer 503 with no B relay connected",
        || {
            let (status, body) = http_get(a0.rpc, "/ready").ok()?;
            let body: serde_json::Value = serde_json::from_str(&body).expect("JSON");
            let short =
                body["remote_connected_stake"].as_u64() < body["remote_quorum_stake"].as_u64();
            assert!(
                !short || status == 503,
                "short of a quorum but {status}: {body}"
            );
            (body["remote_connected_stake"] == 0).then_some(body)
        },
    );
    eprintln!(
        "a0 saw cluster B gone {:?} after the kill: {body}",
        t.elapsed()
    );
    assert_eq!(body["ready"], false, "{body}");
    assert_eq!(
        body["remote_connected_stake"], 0,
        "no relay of cluster B is connected: {body}"
    );
    // The metrics say the same.
    let (_, text) = http_get(a0.rpc, "/metrics").expect("a scrape");
    let m = parse(&text);
    assert_eq!(value(&m, "picsou_ready"), 0.0, "{text}");
    assert_eq!(value(&m, "picsou_remote_connected_stake"), 0.0, "{text}");
    assert_eq!(body["remote_quorum_stake"], 2, "u + 1 of 4: {body}");
    assert_eq!(
        body["validator_reachable"], true,
        "the chain is fine: {body}"
    );
    assert_eq!(body["storage_open"], true, "{body}");

    let _back: Vec<Running> = b_relays.iter().map(|r| start_relay(r, &[])).collect();
    let body = wait_ready_status(a0, 200, READY);
    assert_eq!(body["ready"], true, "{body}");
}

#[test]
fn sigterm_exits_zero_and_the_database_reopens_with_everything_acknowledged() {
    let rt = runtime();
    let net = Devnet::new();
    let mut running: BTreeMap<String, Running> = net
        .relays
        .iter()
        .map(|r| (r.name.clone(), start_relay(r, &[])))
        .collect();
    for r in &net.relays {
        wait_ready_status(r, 200, READY);
    }
    let (a_to_b, b_to_a, amount) = transfers_both_ways(&net, 1);
    wait_applied(&rt, &net.b.endpoints[0], &a_to_b);
    wait_applied(&rt, &net.a.endpoints[0], &b_to_a);

    // a1 settles: all N inbound entries received, its own N QUACKed, every transfer final.
    let a1 = net.relay("a1");
    let client = RelayClient::new(&a1.url()).expect("a client");
    let all_final = |page: &rpc::TransferPage| {
        page.transfers.len() == 2 * N as usize
            && page.transfers.iter().all(|t| match t.direction {
                Direction::AToB => t.status == TransferStatus::Acknowledged,
                Direction::BToA => t.status == TransferStatus::Committed,
            })
    };
    let (before, page) = wait_until(SETTLE, "a1 to settle", || {
        let s = rt.block_on(client.status()).map_err(|e| e.to_string())?;
        let page = rt
            .block_on(client.list_transfers(&TransferFilter::default(), None, 1000))
            .map_err(|e| e.to_string())?;
        let (out, inb) = (&s.streams[0], &s.streams[1]);
        if out.quack == N && inb.next_expected == N && all_final(&page) {
            Ok((s, page))
        } else {
            Err(format!("{s:?}\n{:?}", statuses_of(&page)))
        }
    });
    let before_transfers = statuses_of(&page);
    let chain_a_before = chain_status(&rt, &net.a.endpoints[0]);
    let chain_b_before = chain_status(&rt, &net.b.endpoints[0]);
    assert_eq!(chain_a_before.applied_transfers, N, "{chain_a_before:?}");
    assert_eq!(chain_b_before.applied_transfers, N, "{chain_b_before:?}");

    let mut a1_proc = running.remove("a1").expect("a1 runs");
    let status = sigterm(&mut a1_proc.0, Duration::from_secs(10));
    assert!(status.success(), "SIGTERM exit: {status}\n{}", net.log(a1));

    // The database, opened the way the relay opens it: every inbound entry, in order, each a
    // B → A transfer we sent, and the QUACK the relay reported.
    {
        let mut store = storage::SledStore::open(&a1.data_dir).expect("the database opens");
        let owner = format!("A1@{}/{}", net.a.chain, net.b.chain);
        let loaded = relayer::node::durable::open(&mut store, &owner).expect("it is A1's");
        let ks: Vec<u64> = loaded.received.iter().map(|e| e.k.0).collect();
        assert_eq!(ks, (0..N).collect::<Vec<_>>(), "every inbound entry");
        for e in &loaded.received {
            let t = BridgeTransfer::from_bytes(&e.payload).expect("a transfer payload");
            assert!(b_to_a.contains(&t.id().0.to_hex()), "{t:?} is one we sent");
        }
        let quack = loaded.quack.expect("a persisted QUACK").0;
        assert!(quack >= before.streams[0].quack, "QUACK {quack} persisted");
    }

    let _a1 = start_relay(a1, &[]);
    wait_ready_status(a1, 200, READY);
    let after_page = wait_for(SETTLE, "a1 to report the same transfers", || {
        let page = rt
            .block_on(client.list_transfers(&TransferFilter::default(), None, 1000))
            .ok()?;
        (statuses_of(&page) == before_transfers).then_some(page)
    });
    assert!(all_final(&after_page));
    let after = rt.block_on(client.status()).expect("relay_status");
    assert_eq!(after.node, before.node);
    assert_eq!(after.streams[0].exported, before.streams[0].exported);
    assert!(after.streams[0].quack >= before.streams[0].quack);
    assert_eq!(
        after.streams[1].next_expected,
        before.streams[1].next_expected
    );

    // One more each way: the restarted relay delivers and submits only the new one.
    let new_a_to_b = transfer(&net.a.endpoints[0], 40, 3);
    let new_b_to_a = transfer(&net.b.endpoints[0], 40, 4);
    wait_applied(&rt, &net.b.endpoints[0], std::slice::from_ref(&new_a_to_b));
    wait_applied(&rt, &net.a.endpoints[0], std::slice::from_ref(&new_b_to_a));
    wait_for(SETTLE, "a1 to see the new transfers final", || {
        let page = rt
            .block_on(client.list_transfers(&TransferFilter::default(), None, 1000))
            .ok()?;
        (page.transfers.len() == 2 * N as usize + 2
            && page.transfers.iter().all(|t| match t.direction {
                Direction::AToB => t.status == TransferStatus::Acknowledged,
                Direction::BToA => t.status == TransferStatus::Committed,
            }))
        .then_some(())
    });
    let m = parse(&scrape_text(&rt, a1).expect("a scrape"));
    assert_eq!(
        value(&m, "picsou_submissions"),
        1.0,
        "after the restart a1 submitted the new inbound transfer only"
    );
    assert_eq!(value(&m, "picsou_delivered"), 1.0);

    // Nothing applied twice: each chain applied exactly the transfers sent to it.
    let chain_a = chain_status(&rt, &net.a.endpoints[0]);
    let chain_b = chain_status(&rt, &net.b.endpoints[0]);
    assert_eq!(chain_a.applied_transfers, N + 1, "{chain_a:?}");
    assert_eq!(chain_b.applied_transfers, N + 1, "{chain_b:?}");
    assert_eq!(chain_a.minted, amount + 4, "{chain_a:?}");
    assert_eq!(chain_b.minted, amount + 3, "{chain_b:?}");
    assert_eq!(
        chain_a.minted, chain_b.escrowed,
        "what B escrowed, A minted"
    );
    assert_eq!(
        chain_b.minted, chain_a.escrowed,
        "what A escrowed, B minted"
    );
}

#[test]
fn environment_overrides_take_effect_and_a_bad_one_names_its_variable() {
    let dir = tempfile::tempdir().expect("a temp dir");
    // No chain runs: a relay serves its RPC port without its validator (it is just not ready).
    let nowhere: Vec<String> = free_ports(4)
        .into_iter()
        .map(|p| format!("http://127.0.0.1:{p}"))
        .collect();
    let relays = init_relays(dir.path(), &nowhere[..1], &nowhere);
    let a0 = &relays[0];
    let port = free_ports(1)[0];
    let listen = format!("127.0.0.1:{port}");

    let validate = |env: &[(&str, &str)]| {
        Command::new(BIN)
            .args(["config", "validate", "--config"])
            .arg(&a0.config)
            .envs(env.iter().copied())
            .output()
            .expect("the binary runs")
    };
    let out = validate(&[("PICSOU_RPC__LISTEN", &listen)]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let _relay = start_relay(a0, &[("PICSOU_RPC__LISTEN", &listen)]);
    let moved = RelayFiles {
        rpc: listen.parse().expect("an address"),
        ..a0.clone()
    };
    let (status, body) = wait_for(READY, "the relay to serve on the overridden port", || {
        http_get(moved.rpc, "/health").ok()
    });
    assert_eq!((status, body.as_str()), (200, r#"{"status":"ok"}"#));
    let rt = runtime();
    let s = rt
        .block_on(RelayClient::new(&moved.url()).expect("a client").status())
        .expect("relay_status on the overridden port");
    assert_eq!(s.node, "A0");
    // The relay has one RPC listener, so serving on the overridden port is the proof. (Checking
    // that nothing listens on the file's port raced with every other process on this machine:
    // the port was free when the test picked it, and a clean-clone run saw it taken.)

    for (var, value, field) in [
        ("PICSOU_RPC__LISTEN", "nowhere", "rpc.listen"),
        ("PICSOU_RELAY__INDEX", "abc", "relay"),
        // An unknown section: the problem is filed under the variable itself.
        ("PICSOU_RCP__LISTEN", "127.0.0.1:1", "PICSOU_RCP__LISTEN"),
    ] {
        let out = Command::new(BIN)
            .args(["start", "--config"])
            .arg(&a0.config)
            .env(var, value)
            .output()
            .expect("the binary runs");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{var}={value} must be refused");
        assert!(err.contains("1 problem"), "{var}={value}: {err}");
        let naming: Vec<&str> = err.lines().filter(|l| l.contains(var)).collect();
        assert_eq!(naming.len(), 1, "{var}={value}: one line names it: {err}");
        assert!(
            naming[0].contains(&format!(": {field}")),
            "{var}={value}: the line names {field}: {err}"
        );
        let again = validate(&[(var, value)]);
        assert!(!again.status.success(), "config validate agrees: {var}");
    }
}
