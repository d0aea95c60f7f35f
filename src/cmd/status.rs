//! `picsou-relay status`: asks a running relay (over its JSON-RPC server) for its status, peers,
//! readiness and newest transfers, and prints them on one screen — or, with `--json`, as one
//! JSON object on one line:
//! `{"rpc", "status": relay_status, "ready": GET /ready, "peers": relay_peers,
//! "recent_transfers": [newest first], "recent_complete": bool}`.
//!
//! `bridge_listTransfers` pages run oldest first with a forward cursor only, so the newest
//! transfers are found by paging forward (at most [`MAX_PAGES`] pages of [`rpc::MAX_PAGE`]);
//! when the relay holds more, `recent_complete` is `false` and the view says so.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use rpc::client::RelayClient;
use rpc::{
    MAX_PAGE, PeerView, Readiness, RelayStatusView, StreamView, TransferFilter, TransferStatus,
    TransferView,
};
use serde::Serialize;

/// How many recent transfers are shown.
const RECENT: usize = 10;
/// Most `bridge_listTransfers` pages read while looking for the newest transfers.
const MAX_PAGES: usize = 5;
/// Per-call timeout.
const TIMEOUT: Duration = Duration::from_secs(10);

/// Flags of `picsou-relay status`.
#[derive(Debug, Clone, clap::Args)]
pub struct StatusArgs {
    /// The relay's JSON-RPC URL.
    #[arg(long, value_name = "URL", default_value = "http://127.0.0.1:8545")]
    pub rpc: String,
    /// Print one JSON object instead of the readable view.
    #[arg(long)]
    pub json: bool,
}

/// Everything `status` shows.
#[derive(Debug, Clone, Serialize)]
struct Report {
    rpc: String,
    status: RelayStatusView,
    ready: Readiness,
    peers: Vec<PeerView>,
    /// Newest first.
    recent_transfers: Vec<TransferView>,
    /// Whether every transfer was looked at (otherwise the recent ones are the newest of the
    /// first pages only).
    recent_complete: bool,
}

/// Runs `picsou-relay status` on its own runtime.
pub fn run(args: StatusArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let report = runtime.block_on(fetch(&args.rpc))?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string(&report).context("cannot render the status as JSON")?
        );
    } else {
        print!("{}", render(&report, now_ms()));
    }
    Ok(())
}

async fn fetch(url: &str) -> anyhow::Result<Report> {
    let client = RelayClient::with_timeout(url, TIMEOUT)
        .with_context(|| format!("--rpc {url:?} is not a usable relay URL"))?;
    let status = client
        .status()
        .await
        .with_context(|| format!("no relay status from {url} (is the relay running there?)"))?;
    let peers = client
        .peers()
        .await
        .with_context(|| format!("no peer list from {url}"))?;
    let ready = client
        .ready()
        .await
        .with_context(|| format!("no readiness from {url}"))?;
    let mut recent: VecDeque<TransferView> = VecDeque::with_capacity(RECENT + MAX_PAGE);
    let mut cursor: Option<String> = None;
    let mut complete = false;
    for _ in 0..MAX_PAGES {
        let page = client
            .list_transfers(&TransferFilter::default(), cursor.as_deref(), MAX_PAGE)
            .await
            .with_context(|| format!("no transfer list from {url}"))?;
        recent.extend(page.transfers);
        while recent.len() > RECENT {
            recent.pop_front();
        }
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => {
                complete = true;
                break;
            }
        }
    }
    Ok(Report {
        rpc: url.to_owned(),
        status,
        ready,
        peers,
        recent_transfers: recent.into_iter().rev().collect(),
        recent_complete: complete,
    })
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// `1h02m`, `3m05s`, `12s`, `4d03h`.
fn human(ms: u64) -> String {
    let s = ms / 1000;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        3600..86_400 => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
        _ => format!("{}d{:02}h", s / 86_400, (s % 86_400) / 3600),
    }
}

fn yes_no(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

/// `0123abcd…89ef` for a 64-digit id.
fn short_id(id: &str) -> String {
    let n = id.chars().count();
    if n <= 16 {
        return id.to_owned();
    }
    let head: String = id.chars().take(8).collect();
    let tail: String = id.chars().skip(n - 4).collect();
    format!("{head}…{tail}")
}

fn stream_row(s: &StreamView) -> [String; 7] {
    let dir = s.direction.map_or("?", |d| d.name()).to_owned();
    let outbound = s.role == "outbound";
    let inbound = s.role == "inbound";
    let num = |show: bool, v: u64| if show { v.to_string() } else { "-".to_owned() };
    [
        dir,
        s.role.clone(),
        s.exported.to_string(),
        num(!inbound, s.quack),
        num(!inbound, s.exported.saturating_sub(s.quack)),
        num(!outbound, s.next_expected),
        num(!inbound, s.resends),
    ]
}

/// The readable view, as of `now_ms`.
fn render(r: &Report, now_ms: u64) -> String {
    let mut out = String::new();
    let s = &r.status;
    let _ = writeln!(
        out,
        "relay {} ({}) at {}   peer id {}",
        s.node, s.protocol, r.rpc, s.peer_id
    );
    let _ = writeln!(
        out,
        "chain {} at height {}   peer chain {}   up {}",
        s.chain,
        s.chain_height,
        s.peer_chain,
        human(s.uptime_ms)
    );
    let _ = writeln!(
        out,
        "ready: {}   (validator reachable: {}, storage open: {}, remote stake {} connected, {} needed)",
        yes_no(r.ready.ready),
        yes_no(r.ready.validator_reachable),
        yes_no(r.ready.storage_open),
        r.ready.remote_connected_stake,
        r.ready.remote_quorum_stake
    );

    let _ = writeln!(out);
    let header = [
        "stream",
        "role",
        "exported",
        "quack",
        "lag",
        "next expected",
        "resends",
    ]
    .map(str::to_owned);
    let rows: Vec<[String; 7]> = std::iter::once(header)
        .chain(s.streams.iter().map(stream_row))
        .collect();
    let mut widths = [0usize; 7];
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    if s.streams.is_empty() {
        let _ = writeln!(out, "streams: none yet");
    } else {
        for row in &rows {
            let mut line = String::new();
            for (i, (cell, w)) in row.iter().zip(widths).enumerate() {
                if i < 2 {
                    let _ = write!(line, "{cell:<w$}  ");
                } else {
                    let _ = write!(line, "{cell:>w$}  ");
                }
            }
            let _ = writeln!(out, "  {}", line.trim_end());
        }
    }

    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "peers: {}/{} connected",
        s.peers_connected, s.peers_configured
    );
    let name_w = r
        .peers
        .iter()
        .map(|p| p.node.chars().count())
        .max()
        .unwrap_or(0);
    for p in &r.peers {
        let _ = writeln!(
            out,
            "  {:<name_w$}  {:<12}  in {:>5}  out {:>5}  misbehaviour {:>3}  {}  {}",
            p.node,
            if p.connected {
                "connected"
            } else {
                "disconnected"
            },
            p.batches_in,
            p.batches_out,
            p.misbehaviour,
            p.addr,
            p.peer_id,
        );
    }

    let _ = writeln!(out);
    let mut counts: Vec<String> = TransferStatus::ALL
        .iter()
        .filter_map(|st| {
            s.transfers
                .get(st.name())
                .map(|n| format!("{} {n}", st.name()))
        })
        .collect();
    counts.extend(
        s.transfers
            .iter()
            .filter(|(k, _)| !TransferStatus::ALL.iter().any(|st| st.name() == k.as_str()))
            .map(|(k, n)| format!("{k} {n}")),
    );
    let total: u64 = s.transfers.values().sum();
    if counts.is_empty() {
        let _ = writeln!(out, "transfers: none");
    } else {
        let _ = writeln!(out, "transfers: {}   (total {total})", counts.join(", "));
    }
    if !r.recent_transfers.is_empty() {
        let scope = if r.recent_complete {
            "newest first"
        } else {
            "newest of the first pages only; the relay holds more"
        };
        let _ = writeln!(out, "recent transfers ({scope}):");
        for t in &r.recent_transfers {
            let mut line = format!(
                "  {}  {:<6}  {:<12}  amount {:>10}  updated {} ago",
                short_id(&t.id),
                t.direction.name(),
                t.status.name(),
                t.amount,
                human(now_ms.saturating_sub(t.updated_at)),
            );
            if let Some(e) = &t.error {
                let e: String = e.chars().take(60).collect();
                let _ = write!(line, "  error: {e}");
            }
            let _ = writeln!(out, "{line}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rpc::Direction;

    fn report() -> Report {
        let transfer = |b: u8, status| TransferView {
            id: format!("{b:02x}").repeat(32),
            direction: Direction::AToB,
            amount: 5,
            sender: "s".to_owned(),
            recipient: "r".to_owned(),
            status,
            source_tx: "00".repeat(32),
            source_height: None,
            stream_index: u64::from(b),
            quacked: false,
            dest_tx: None,
            dest_height: None,
            error: (status == TransferStatus::Rejected).then(|| "no funds".to_owned()),
            updated_at: 1_000,
        };
        Report {
            rpc: "http://127.0.0.1:8545".to_owned(),
            status: RelayStatusView {
                node: "A0".to_owned(),
                protocol: "picsou".to_owned(),
                peer_id: "12D3KooWx".to_owned(),
                chain: "algorand-devnet".to_owned(),
                peer_chain: "resdb-devnet".to_owned(),
                chain_height: 42,
                streams: vec![
                    StreamView {
                        direction: Some(Direction::AToB),
                        role: "outbound".to_owned(),
                        exported: 10,
                        next_expected: 0,
                        quack: 7,
                        resends: 2,
                    },
                    StreamView {
                        direction: Some(Direction::BToA),
                        role: "inbound".to_owned(),
                        exported: 4,
                        next_expected: 4,
                        quack: 0,
                        resends: 0,
                    },
                ],
                peers_connected: 1,
                peers_configured: 2,
                transfers: [("sent".to_owned(), 3), ("rejected".to_owned(), 1)]
                    .into_iter()
                    .collect(),
                uptime_ms: 3_723_000,
            },
            ready: Readiness::default(),
            peers: vec![PeerView {
                node: "B0".to_owned(),
                peer_id: "12D3KooWb".to_owned(),
                addr: "/ip4/127.0.0.1/tcp/1".to_owned(),
                connected: true,
                batches_in: 1,
                batches_out: 2,
                misbehaviour: 0,
            }],
            recent_transfers: vec![
                transfer(0xab, TransferStatus::Rejected),
                transfer(0x01, TransferStatus::Sent),
            ],
            recent_complete: true,
        }
    }

    #[test]
    fn renders_every_section() {
        let text = render(&report(), 61_000);
        for want in [
            "relay A0 (picsou)",
            "height 42",
            "up 1h02m",
            "ready: no",
            "outbound",
            "inbound",
            "peers: 1/2 connected",
            "B0",
            "connected",
            "sent 3, rejected 1",
            "total 4",
            "abababab…abab",
            "error: no funds",
            "updated 1m00s ago",
        ] {
            assert!(text.contains(want), "missing {want:?} in:\n{text}");
        }
        // Lag of the outbound stream: exported 10 - quack 7.
        let line = text
            .lines()
            .find(|l| l.contains("outbound"))
            .expect("outbound row");
        let cells: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(cells, ["a_to_b", "outbound", "10", "7", "3", "-", "2"]);
    }

    #[test]
    fn json_is_one_object() {
        let v = serde_json::to_value(report()).expect("serializes");
        assert_eq!(v["status"]["node"], "A0");
        assert_eq!(v["recent_transfers"].as_array().map(Vec::len), Some(2));
        assert!(
            !serde_json::to_string(&report())
                .expect("json")
                .contains('\n')
        );
    }

    #[test]
    fn human_durations() {
        assert_eq!(human(0), "0s");
        assert_eq!(human(59_999), "59s");
        assert_eq!(human(61_000), "1m01s");
        assert_eq!(human(3_600_000), "1h00m");
        assert_eq!(human(90_000_000), "1d01h");
    }

    #[test]
    fn unreachable_relay_names_the_url() {
        let addr = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port");
        let url = format!("http://{addr}");
        let e = run(StatusArgs {
            rpc: url.clone(),
            json: false,
        })
        .expect_err("nothing listens");
        assert!(format!("{e:#}").contains(&url), "{e:#}");
    }
}
