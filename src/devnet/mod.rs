//! `picsou-relay devnet`: the whole system on one machine. It writes keys, specs and
//! configurations into a directory, starts the two chain processes (chain A Algorand-style,
//! chain B ResDB-style) and one relay process per validator, drives bridge transfers both ways,
//! shows progress, and at the end checks every transfer against both chains.
//!
//! On start it prints one JSON line: `{"dir", "chains": {"a": {chain, kind, endpoints}, "b":
//! …}, "rpc": [relay RPC URLs]}`. With `--transfers N` it stops once N transfers per direction
//! are committed (or nothing progressed for `--stall-timeout` seconds) and prints a summary
//! (`--json`: one JSON object); without it, it runs until Ctrl-C.
//!
//! With `--chaos` it runs load for `--duration` seconds while injecting a seeded schedule of
//! faults (relay kills, partitions between the clusters, validator outages), then drains and
//! checks every transfer against both chains: see [`chaos`].

mod chaos;
mod layout;
mod procs;
mod proxy;
pub mod traffic;

pub use layout::{Ports, RelayFiles, write_relays, write_specs};

use anyhow::Context as _;
use chains::engine::EngineConfig;
use chains::types::{ChainId, ChainKind};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use procs::Proc;
use serde::Serialize;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use traffic::{ChainSide, DirectionSummary};

/// Flags of `picsou-relay devnet`.
#[derive(Debug, Clone, clap::Args)]
pub struct DevnetArgs {
    /// Validators (and relays) of chain A, the Algorand-style chain.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub nodes_a: u16,
    /// Validators (and relays) of chain B, the ResDB-style chain (at least 4).
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(4..=64))]
    pub nodes_b: u16,
    /// Stop after this many transfers per direction are committed, and print a summary.
    #[arg(long)]
    pub transfers: Option<u64>,
    /// Transfers submitted per second, per direction.
    #[arg(long, default_value_t = 100.0)]
    pub rate: f64,
    /// Directory for keys, configs, databases and logs [default: a new temporary directory].
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Print the summary as one JSON object.
    #[arg(long)]
    pub json: bool,
    /// Time between blocks on both chains, in milliseconds.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u64).range(10..=10_000))]
    pub block_interval_ms: u64,
    /// Cross-cluster protocol the relays run.
    #[arg(long, default_value = "picsou", value_parser = ["picsou", "ost", "ata", "ll", "otu"])]
    pub protocol: String,
    /// Kill (SIGKILL) one relay per side this many seconds into the run, and restart it 3 s
    /// later.
    #[arg(long, value_name = "SECS")]
    pub kill_relays_at: Option<f64>,
    /// Give up when no transfer was committed for this many seconds.
    #[arg(long, default_value_t = 60)]
    pub stall_timeout: u64,
    /// Chaos run: keep load running for --duration seconds while injecting a seeded schedule
    /// of faults (SIGKILL and restart of relays, all links between the clusters cut, a relay's
    /// validator unreachable; never more than u relays per side at once), then heal, drain and
    /// check every transfer against both chains. Fails if anything was lost, duplicated or
    /// forged, or balances do not add up.
    #[arg(long, conflicts_with_all = ["transfers", "kill_relays_at"])]
    pub chaos: bool,
    /// Seconds of load (with faults) in a chaos run.
    #[arg(long, default_value_t = 120, value_parser = clap::value_parser!(u64).range(10..=86_400))]
    pub duration: u64,
    /// Seed of the chaos schedule (printed at start; the same seed replays the same schedule)
    /// [default: random].
    #[arg(long, value_name = "SEED")]
    pub chaos_seed: Option<u64>,
    /// Fault kinds a chaos run injects, comma-separated: relay_kill, partition,
    /// validator_offline [default: all three].
    #[arg(long, value_delimiter = ',', value_name = "KINDS")]
    pub chaos_faults: Vec<String>,
    /// Longest wait, after a chaos run's load stops, for every transfer to be committed and
    /// every relay to be ready again, in seconds.
    #[arg(long, default_value_t = 120, value_parser = clap::value_parser!(u64).range(1..=3_600))]
    pub drain_timeout: u64,
}

#[derive(Debug, Serialize)]
struct Summary {
    dir: String,
    protocol: String,
    nodes_a: u16,
    nodes_b: u16,
    submitted: u64,
    committed: u64,
    lost: u64,
    duplicated: u64,
    latency_ms_p50: u64,
    latency_ms_p99: u64,
    transfers_per_s: f64,
    balances_conserved: bool,
    relays_killed: u32,
    a_to_b: DirectionSummary,
    b_to_a: DirectionSummary,
    rpc: Vec<String>,
    elapsed_s: f64,
}

/// Runs the devnet.
pub fn run(args: DevnetArgs) -> anyhow::Result<()> {
    if !(args.rate > 0.0 && args.rate <= 100_000.0) {
        anyhow::bail!("--rate must be in (0, 100000], got {}", args.rate);
    }
    if args.chaos {
        chaos::wanted_kinds(&args.chaos_faults)?;
    } else {
        for (given, flag) in [
            (args.chaos_seed.is_some(), "--chaos-seed"),
            (args.duration != 120, "--duration"),
            (args.drain_timeout != 120, "--drain-timeout"),
            (!args.chaos_faults.is_empty(), "--chaos-faults"),
        ] {
            if given {
                anyhow::bail!("{flag} only applies to a chaos run: add --chaos");
            }
        }
    }
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?
        .block_on(run_async(args))
}

async fn run_async(args: DevnetArgs) -> anyhow::Result<()> {
    let (dir, _tmp) = match &args.dir {
        Some(d) => (d.clone(), None),
        None => {
            let t = tempfile::Builder::new()
                .prefix("picsou-devnet-")
                .tempdir()?;
            (t.path().to_owned(), Some(t))
        }
    };
    if dir.join("a0.toml").exists() {
        anyhow::bail!(
            "{} already holds a devnet; give a fresh --dir (or remove it)",
            dir.display()
        );
    }
    std::fs::create_dir_all(dir.join("logs"))
        .with_context(|| format!("cannot create {}", dir.display()))?;
    let (n_a, n_b) = (usize::from(args.nodes_a), usize::from(args.nodes_b));
    write_specs(&dir, n_a, n_b)?;

    let chain_args = |kind: &str, own: usize, peer: usize, sub: &str| -> Vec<String> {
        vec![
            "chain".into(),
            "--kind".into(),
            kind.into(),
            "--validators".into(),
            own.to_string(),
            "--peer-validators".into(),
            peer.to_string(),
            "--listen".into(),
            "127.0.0.1:0".into(),
            "--block-interval-ms".into(),
            args.block_interval_ms.to_string(),
            "--dir".into(),
            dir.join(sub).display().to_string(),
        ]
    };
    let (mut chain_a, ann_a) = Proc::start_chain(
        "chain a",
        chain_args("algorand", n_a, n_b, "chain-a"),
        dir.join("logs/chain-a.log"),
    )
    .await?;
    let (mut chain_b, ann_b) = Proc::start_chain(
        "chain b",
        chain_args("resdb", n_b, n_a, "chain-b"),
        dir.join("logs/chain-b.log"),
    )
    .await?;
    // A chaos run puts cutting proxies in front of every relay's libp2p port (for the other
    // cluster) and every validator endpoint (for its relay).
    let (mut chaos_net, seed) = if args.chaos {
        let seed = args.chaos_seed.unwrap_or_else(rand::random);
        (
            Some(chaos::ChaosNet::bind(&ann_a.endpoints, &ann_b.endpoints).await?),
            Some(seed),
        )
    } else {
        (None, None)
    };
    let relays = match &chaos_net {
        None => layout::write_relays(
            &dir,
            &ann_a.endpoints,
            &ann_b.endpoints,
            &args.protocol,
            layout::Ports::Free,
        )?,
        Some(net) => {
            let (ea, eb) = net.relay_endpoints();
            layout::write_relays_with(
                &dir,
                ea,
                eb,
                &args.protocol,
                layout::Ports::Free,
                Some(&net.p2p_addrs()),
            )?
        }
    };
    if let Some(net) = &mut chaos_net {
        net.start_p2p(&relays)?;
    }
    let mut procs = Vec::new();
    for r in &relays {
        procs.push(Proc::start(
            &format!("relay {}", r.name),
            vec![
                "start".into(),
                "--config".into(),
                r.config.display().to_string(),
            ],
            dir.join(format!("logs/{}.log", r.name)),
        )?);
    }
    let rpc_urls: Vec<String> = relays.iter().map(RelayFiles::rpc_url).collect();
    let mut announce = serde_json::json!({
        "dir": dir.display().to_string(),
        "chains": { "a": ann_a, "b": ann_b },
        "rpc": rpc_urls,
    });
    if let Some(seed) = seed {
        announce["chaos_seed"] = seed.into();
    }
    println!("{announce}");

    let result = match (&chaos_net, seed) {
        (Some(net), Some(seed)) => {
            chaos::drive(
                &args,
                &dir,
                &relays,
                &mut procs,
                (&ann_a.endpoints, &ann_b.endpoints),
                net,
                seed,
            )
            .await
        }
        _ => {
            drive(
                &args,
                &dir,
                &relays,
                &mut procs,
                &ann_a.endpoints,
                &ann_b.endpoints,
            )
            .await
        }
    };

    for p in procs.iter_mut() {
        if let Some(s) = p.stop().await
            && !s.success()
        {
            eprintln!("{} exited with {s}", p.name);
        }
    }
    chain_a.stop().await;
    chain_b.stop().await;
    if let Some(t) = _tmp
        && result.is_err()
    {
        // Keep the logs of a failed run.
        let kept = t.keep();
        eprintln!("logs kept in {}", kept.display());
    }
    result
}

async fn wait_ready(relays: &[RelayFiles], deadline: Duration) -> anyhow::Result<()> {
    let start = Instant::now();
    for r in relays {
        let client = rpc::client::RelayClient::new(&r.rpc_url())?;
        loop {
            if let Ok(ready) = client.ready().await
                && ready.ready
            {
                break;
            }
            if start.elapsed() > deadline {
                anyhow::bail!(
                    "relay {} not ready after {deadline:?}; see its log in logs/{}.log",
                    r.name,
                    r.name
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    Ok(())
}

/// The devnet's load: a follower of each chain and a `BridgeOut` generator per direction, all
/// recording into one ledger.
#[derive(Debug)]
struct Traffic {
    ledger: traffic::Shared,
    side_a: ChainSide,
    side_b: ChainSide,
    followers: tokio::task::JoinSet<()>,
    load: tokio::task::JoinSet<()>,
}

impl Traffic {
    /// Starts following both chains (through `endpoints_*[0]`) and submitting at `--rate`,
    /// up to `limit` transfers per direction.
    fn start(
        args: &DevnetArgs,
        endpoints_a: &[String],
        endpoints_b: &[String],
        limit: Option<u64>,
    ) -> anyhow::Result<Traffic> {
        let (n_a, n_b) = (usize::from(args.nodes_a), usize::from(args.nodes_b));
        let ca = layout::chain_config(ChainKind::Algorand, n_a, n_b);
        let cb = layout::chain_config(ChainKind::Resdb, n_b, n_a);
        let engine = |c: &chains::devnet::DevnetConfig, n: usize| -> anyhow::Result<EngineConfig> {
            Ok(EngineConfig::devnet(
                c.kind,
                ChainId::new(c.chain_id())?,
                &c.seed,
                n as u64,
                c.accounts,
            ))
        };
        let side_a = ChainSide {
            engine: engine(&ca, n_a)?,
            endpoints: endpoints_a.to_vec(),
        };
        let side_b = ChainSide {
            engine: engine(&cb, n_b)?,
            endpoints: endpoints_b.to_vec(),
        };
        let ledger = traffic::Shared::default();
        let mut followers = tokio::task::JoinSet::new();
        followers.spawn(traffic::follow(
            endpoints_a[0].clone(),
            ChainKind::Algorand,
            side_a.engine.chain_id.clone(),
            0,
            1,
            ledger.clone(),
        ));
        followers.spawn(traffic::follow(
            endpoints_b[0].clone(),
            ChainKind::Resdb,
            side_b.engine.chain_id.clone(),
            1,
            0,
            ledger.clone(),
        ));
        let mut load = tokio::task::JoinSet::new();
        load.spawn(traffic::drive(
            0,
            side_a.clone(),
            side_b.clone(),
            args.rate,
            limit,
            ledger.clone(),
        ));
        load.spawn(traffic::drive(
            1,
            side_b.clone(),
            side_a.clone(),
            args.rate,
            limit,
            ledger.clone(),
        ));
        Ok(Traffic {
            ledger,
            side_a,
            side_b,
            followers,
            load,
        })
    }

    /// Stops submitting; the followers keep recording commits.
    fn stop_load(&mut self) {
        self.load.abort_all();
    }

    /// Stops everything.
    fn stop(&mut self) {
        self.load.abort_all();
        self.followers.abort_all();
    }
}

async fn drive(
    args: &DevnetArgs,
    dir: &std::path::Path,
    relays: &[RelayFiles],
    procs: &mut [Proc],
    endpoints_a: &[String],
    endpoints_b: &[String],
) -> anyhow::Result<()> {
    wait_ready(relays, Duration::from_secs(60)).await?;
    let mut traffic = Traffic::start(args, endpoints_a, endpoints_b, args.transfers)?;
    let ledger = traffic.ledger.clone();

    let multi = MultiProgress::new();
    if args.json {
        multi.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let style =
        ProgressStyle::with_template("{prefix:>6} [{elapsed_precise}] {bar:30} {pos}/{len} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar());
    let bars: Vec<ProgressBar> = ["A→B", "B→A"]
        .iter()
        .map(|name| {
            let b = multi.add(ProgressBar::new(args.transfers.unwrap_or(0)));
            b.set_style(style.clone());
            b.set_prefix(*name);
            b
        })
        .collect();

    let start = Instant::now();
    let mut killed = 0u32;
    let mut kill_state = args
        .kill_relays_at
        .map(|s| (Duration::from_secs_f64(s), false, false));
    let mut last_progress = Instant::now();
    let mut last_committed = 0u64;
    let stall = Duration::from_secs(args.stall_timeout);
    let mut ctrl_c = std::pin::pin!(crate::cmd::start::shutdown_signal());
    loop {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(200)) => {}
            _ = &mut ctrl_c => break,
        }
        let (s0, s1) = {
            let l = traffic::lock(&ledger);
            (l.summary(0), l.summary(1))
        };
        for (b, s) in bars.iter().zip([&s0, &s1]) {
            if args.transfers.is_none() {
                b.set_length(s.submitted);
            }
            b.set_position(s.committed);
            b.set_message(format!(
                "submitted {} · {:.0}/s · p50 {} ms · p99 {} ms",
                s.submitted, s.transfers_per_s, s.latency_ms_p50, s.latency_ms_p99
            ));
        }
        let committed = s0.committed + s1.committed;
        if committed > last_committed {
            last_committed = committed;
            last_progress = Instant::now();
        }
        if let Some(n) = args.transfers {
            // With a kill planned, the run also waits for the killed relays to be back and
            // ready, so their restart is part of what the summary checks.
            let restarted = match kill_state {
                None => true,
                Some((_, _, false)) => false,
                Some((_, _, true)) => wait_ready(&killed_relays(relays), Duration::ZERO)
                    .await
                    .is_ok(),
            };
            if s0.committed >= n && s1.committed >= n && restarted {
                break;
            }
            if last_progress.elapsed() > stall {
                multi
                    .println(format!("no progress for {stall:?}; stopping"))
                    .ok();
                break;
            }
        }
        if let Some((at, done_kill, done_restart)) = &mut kill_state {
            let t = start.elapsed();
            if !*done_kill && t >= *at {
                for victim in killed_relays(relays) {
                    if let Some(i) = relays.iter().position(|r| r.name == victim.name) {
                        procs[i].kill().await;
                        killed += 1;
                        multi
                            .println(format!("killed relay {} (SIGKILL)", relays[i].name))
                            .ok();
                    }
                }
                *done_kill = true;
            } else if *done_kill && !*done_restart && t >= *at + Duration::from_secs(3) {
                for victim in killed_relays(relays) {
                    if let Some(i) = relays.iter().position(|r| r.name == victim.name) {
                        procs[i].restart()?;
                        multi
                            .println(format!("restarted relay {}", relays[i].name))
                            .ok();
                    }
                }
                *done_restart = true;
            }
        }
        for (p, r) in procs.iter_mut().zip(relays) {
            if let Some(s) = p.exited() {
                let restarting = kill_state.is_some_and(|(_, k, r)| k && !r);
                if !restarting {
                    anyhow::bail!(
                        "relay {} exited ({s}); see {}",
                        r.name,
                        dir.join(format!("logs/{}.log", r.name)).display()
                    );
                }
            }
        }
    }
    traffic.stop();
    for b in &bars {
        b.finish();
    }
    let (s0, s1) = {
        let l = traffic::lock(&ledger);
        (l.summary(0), l.summary(1))
    };
    let balances_conserved = balances_conserved(&endpoints_a[0], &endpoints_b[0]).await;
    let mut lat: Vec<u64> = vec![s0.latency_ms_p50, s1.latency_ms_p50];
    lat.sort_unstable();
    let summary = Summary {
        dir: dir.display().to_string(),
        protocol: args.protocol.clone(),
        nodes_a: args.nodes_a,
        nodes_b: args.nodes_b,
        submitted: s0.submitted + s1.submitted,
        committed: s0.committed + s1.committed,
        lost: s0.lost + s1.lost,
        duplicated: s0.duplicated + s1.duplicated,
        latency_ms_p50: s0.latency_ms_p50.max(s1.latency_ms_p50),
        latency_ms_p99: s0.latency_ms_p99.max(s1.latency_ms_p99),
        transfers_per_s: s0.transfers_per_s + s1.transfers_per_s,
        balances_conserved,
        relays_killed: killed,
        a_to_b: s0,
        b_to_a: s1,
        rpc: relays.iter().map(RelayFiles::rpc_url).collect(),
        elapsed_s: start.elapsed().as_secs_f64(),
    };
    if args.json {
        println!("{}", serde_json::to_string(&summary)?);
    } else {
        for (name, s) in [("A→B", &summary.a_to_b), ("B→A", &summary.b_to_a)] {
            println!(
                "{name}: submitted {} committed {} lost {} duplicated {} · {:.1} transfers/s · latency p50 {} ms p99 {} ms max {} ms",
                s.submitted,
                s.committed,
                s.lost,
                s.duplicated,
                s.transfers_per_s,
                s.latency_ms_p50,
                s.latency_ms_p99,
                s.latency_ms_max
            );
        }
        println!(
            "balances conserved: {} · relays killed and restarted: {} · files in {}",
            summary.balances_conserved, summary.relays_killed, summary.dir
        );
    }
    Ok(())
}

/// The relays `--kill-relays-at` kills: index 1 of each side.
fn killed_relays(relays: &[RelayFiles]) -> Vec<RelayFiles> {
    relays.iter().filter(|r| r.index == 1).cloned().collect()
}

/// Escrowed on each chain towards the other equals minted there from it.
async fn balances_conserved(a: &str, b: &str) -> bool {
    let (Ok(ca), Ok(cb)) = (
        chains::devnet::client::DevnetClient::new(a),
        chains::devnet::client::DevnetClient::new(b),
    ) else {
        return false;
    };
    // Wait a couple of blocks so both chains have applied what they will.
    for _ in 0..20 {
        if let (Ok(sa), Ok(sb)) = (ca.status().await, cb.status().await)
            && sa.escrowed == sb.minted
            && sb.escrowed == sa.minted
        {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    false
}
