//! The real-transport benchmark behind `picsou-relay bench`: every relay of both clusters in this
//! process, each with its own libp2p swarm on loopback, its own keys and its own protocol
//! instance, fed by a synthetic certified source, for each configuration of a [`Plan`].
//!
//! # One run
//!
//! 1. The fault spec is checked against each cluster's bounds (the simulator's grammar and
//!    placement: `relayer::sim::SimConfig::validate`). Relays crashed from the start are never
//!    started; `crash:N@T` stops them at `T`; Byzantine and omission kinds wrap the protocol in
//!    `relayer::sim::faults::Faulty`. `restart` is refused: the bench keeps no store.
//! 2. Relays start (highest node id first, so that every dialer knows its target's address) and
//!    the run waits until every live pair is connected.
//! 3. The two sources ([`source`]) release certified entries as fast as the relays take them,
//!    within a window past the delivery front ([`completion`]); the relay tasks ([`relay`]) run
//!    the protocol. After `warmup`, a snapshot; after `duration` more, another: the difference is
//!    the run's [`report::Measured`] figures.
//! 4. The sources stop and the run waits (up to `drain_timeout`) until every released entry
//!    reached every correct receiver; then every relay stops and reports its status.
//!
//! Before the first run of each message size, [`capacity`] measures one stream's capacity with
//! frames of that size's batches: the reference limit, in the same process and the same
//! invocation.
//!
//! All relays share this machine's cores, so the CPU, not a NIC, is the bottleneck: see the
//! project's benchmark notes for how that changes the comparison with the paper.

pub mod capacity;
pub mod completion;
pub mod cputime;
pub mod plot;
pub mod relay;
pub mod report;
pub mod source;

use anyhow::{Context as _, bail};
use completion::Completion;
use ed25519_dalek::SigningKey;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use libp2p::Multiaddr;
use libp2p::identity::Keypair;
use relay::{Relay, RelayCounters};
use relayer::net::{self, Net, NetConfig, PeerConfig};
use relayer::protocol::{ClusterConfig, Params, ProtocolKind, Recovered, Setup, StreamStatus};
use relayer::sim::faults::{Faulty, FaultyCtx, NodeFault};
use relayer::sim::{FaultKind, FaultSpec, Placement, SimConfig};
use relayer::types::{NodeId, Side};
use report::{Bounds, Measured, Report, RunResult, WindowDelta};
use source::{Doorbell, Feed, SourceChain, SourceThread, Window};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How long relays may take to connect to each other.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// How often the run loop samples progress.
const TICK: Duration = Duration::from_millis(200);
/// Per-peer outbound queue cap of the bench relays (the source window keeps queues far below).
const QUEUE_BYTES: usize = 128 << 20;

/// One configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunSpec {
    /// Protocol every relay runs.
    pub protocol: ProtocolKind,
    /// Relays per cluster.
    pub nodes: usize,
    /// Payload bytes per message.
    pub size: usize,
    /// Planted faults.
    pub faults: FaultSpec,
}

/// Everything an invocation runs.
#[derive(Clone, Debug)]
pub struct Plan {
    /// The configurations, in order.
    pub runs: Vec<RunSpec>,
    /// Warm-up before the measurement window.
    pub warmup: Duration,
    /// Length of the measurement window.
    pub duration: Duration,
    /// Length of each capacity measurement.
    pub capacity_time: Duration,
    /// Longest wait for the last entries after the sources stop.
    pub drain_timeout: Duration,
    /// Source window, payload bytes past the delivery front.
    pub window_bytes: usize,
    /// Source window, entries past the delivery front.
    pub window_entries: u64,
    /// Where faulty relays go.
    pub placement: Placement,
    /// Protocol tuning.
    pub params: Params,
    /// Bounds to check.
    pub bounds: Bounds,
}

/// Live progress on stderr: one bar over all runs and a line for the current one.
#[derive(Debug)]
pub struct ProgressView {
    overall: ProgressBar,
    current: ProgressBar,
    _multi: MultiProgress,
}

impl ProgressView {
    /// Progress for `total` runs; hidden when `hidden`.
    pub fn new(total: usize, hidden: bool) -> Self {
        let multi = MultiProgress::new();
        if hidden {
            multi.set_draw_target(indicatif::ProgressDrawTarget::hidden());
        }
        let overall = multi.add(ProgressBar::new(total as u64));
        overall.set_style(
            ProgressStyle::with_template("bench [{elapsed_precise}] {bar:30} {pos}/{len} runs")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        let current = multi.add(ProgressBar::new_spinner());
        current.set_style(
            ProgressStyle::with_template("{spinner} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        ProgressView {
            overall,
            current,
            _multi: multi,
        }
    }

    fn say(&self, msg: String) {
        self.current.set_message(msg);
        self.current.tick();
    }

    fn run_done(&self) {
        self.overall.inc(1);
    }

    /// Clears the bars.
    pub fn finish(&self) {
        self.current.finish_and_clear();
        self.overall.finish_and_clear();
    }
}

/// Runs every configuration of `plan` and assembles the report.
pub async fn execute(plan: &Plan, command: String, view: &ProgressView) -> anyhow::Result<Report> {
    let started_unix_s = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut capacities: Vec<capacity::CapacityResult> = Vec::new();
    let mut runs = Vec::new();
    for spec in &plan.runs {
        if !capacities.iter().any(|c| c.size == spec.size) {
            view.say(format!(
                "capacity of one libp2p stream, {} B messages ({:.0} s × 2)",
                spec.size,
                plan.capacity_time.as_secs_f64()
            ));
            let c = capacity::measure(spec.size, &plan.params, plan.capacity_time).await?;
            capacities.push(c);
        }
        let r = run_one(plan, spec, view).await.with_context(|| {
            format!(
                "{} with {} relays per cluster, {} B messages, faults {}",
                spec.protocol.name(),
                spec.nodes,
                spec.size,
                spec.faults
            )
        })?;
        view.run_done();
        runs.push(r);
    }
    Ok(Report::new(
        command,
        started_unix_s,
        cores,
        plan.params.max_message_delay,
        capacities,
        runs,
        plan.bounds.clone(),
    ))
}

fn side_idx(side: Side) -> usize {
    match side {
        Side::A => 0,
        Side::B => 1,
    }
}

/// A relay of the run, started or not.
struct Slot {
    id: NodeId,
    fault: Option<NodeFault>,
    identity: Keypair,
    batch_key: SigningKey,
    net: Option<Net>,
    counters: Arc<RelayCounters>,
    stop: Option<watch::Sender<bool>>,
    task: Option<JoinHandle<StreamStatus>>,
}

impl Slot {
    fn correct(&self) -> bool {
        self.fault.is_none()
    }

    fn crashed_from_start(&self) -> bool {
        self.fault
            .is_some_and(|f| f.kind == FaultKind::Crash && f.at.is_zero())
    }
}

/// Entries `completed` (delivered to every correct receiver), capped by the mean of `taken`
/// (entries each correct relay of the sending cluster took from the source): see
/// [`Run::snapshot`].
fn paid_for(completed: u64, taken: &[u64]) -> u64 {
    match u64::try_from(taken.len()) {
        Ok(n) if n > 0 => completed.min(taken.iter().sum::<u64>() / n),
        _ => completed,
    }
}

/// Counters at one instant.
#[derive(Clone, Debug, Default)]
struct Snapshot {
    /// Per stream: entries delivered to every correct receiver, but no more than the correct
    /// relays of the sending cluster took from the source on average.
    completed: [u64; 2],
    cross_bytes: u64,
    internal_bytes: u64,
    frames: u64,
    cpu_ns: u64,
    source_cpu_ns: u64,
    quack_updates: Vec<u64>,
    quacks: Vec<u64>,
}

struct Run<'a> {
    plan: &'a Plan,
    spec: &'a RunSpec,
    clusters: [ClusterConfig; 2],
    bells: [Arc<Doorbell>; 2],
    slots: Vec<Slot>,
    feeds: [Arc<Feed>; 2],
    completions: [Arc<Completion>; 2],
    sources: Vec<SourceThread>,
}

impl Run<'_> {
    fn snapshot(&self) -> Snapshot {
        let mut s = Snapshot {
            cpu_ns: cputime::process_ns(),
            source_cpu_ns: self.sources.iter().map(SourceThread::cpu_ns).sum(),
            ..Snapshot::default()
        };
        for (i, c) in self.completions.iter().enumerate() {
            // Capped by what the correct relays of the sending cluster took from the source,
            // on average: ATA's receivers deliver the first of four copies, so its fastest
            // sender could run the source window ahead of the slowest, whose copies, sent
            // later, were not paid for in a short window (one `bench --quick` read ATA at
            // 13.8 MB on the wire per message). The slowest relay alone would read low instead
            // (18.6 MB): while it falls behind, the others do more than their share. On shared
            // cores the mean is what the work done so far pays for.
            let taken: Vec<u64> = self
                .slots
                .iter()
                .filter(|slot| side_idx(slot.id.side) == i && slot.correct())
                .filter_map(|slot| self.feeds[i].taken(slot.id.index.0))
                .collect();
            s.completed[i] = paid_for(c.snapshot().completed(), &taken);
        }
        for slot in &self.slots {
            if let Some(net) = &slot.net {
                for (peer, st) in net.stats() {
                    if peer.side == slot.id.side {
                        s.internal_bytes += st.bytes_out;
                    } else {
                        s.cross_bytes += st.bytes_out;
                    }
                    s.frames += st.frames_out;
                }
            }
            s.quack_updates
                .push(slot.counters.quack_updates.load(Ordering::Relaxed));
            s.quacks.push(slot.counters.quack.load(Ordering::Relaxed));
        }
        s
    }

    fn delta(&self, a: &Snapshot, b: &Snapshot, secs: f64) -> WindowDelta {
        let mut d = WindowDelta {
            secs,
            delivered: (b.completed[0] - a.completed[0]) + (b.completed[1] - a.completed[1]),
            cross_bytes: b.cross_bytes - a.cross_bytes,
            internal_bytes: b.internal_bytes - a.internal_bytes,
            frames: b.frames - a.frames,
            cpu_ns: b.cpu_ns.saturating_sub(a.cpu_ns),
            source_cpu_ns: b.source_cpu_ns.saturating_sub(a.source_cpu_ns),
            ..WindowDelta::default()
        };
        // QUACKs: correct relays that reported any by the end of the window.
        for side in [Side::A, Side::B] {
            let mut advance = 0u64;
            let mut relays = 0u64;
            for (i, slot) in self.slots.iter().enumerate() {
                if slot.id.side != side || !slot.correct() || b.quack_updates[i] == 0 {
                    continue;
                }
                relays += 1;
                advance += b.quacks[i] - a.quacks[i];
                d.quack_updates += b.quack_updates[i] - a.quack_updates[i];
            }
            if relays > 0 {
                d.quack_relays += relays;
                d.quack_advance += advance as f64 / relays as f64;
            }
        }
        d
    }

    fn all_complete(&self) -> bool {
        (0..2).all(|i| self.completions[i].snapshot().completed() >= self.feeds[i].released())
    }

    fn total(&self, f: impl Fn(&RelayCounters) -> u64) -> u64 {
        self.slots.iter().map(|s| f(&s.counters)).sum()
    }
}

/// Runs one configuration.
async fn run_one(plan: &Plan, spec: &RunSpec, view: &ProgressView) -> anyhow::Result<RunResult> {
    let label = format!(
        "{} n={} {} B{}",
        spec.protocol.name(),
        spec.nodes,
        spec.size,
        if spec.faults.is_empty() {
            String::new()
        } else {
            format!(" faults={}", spec.faults)
        }
    );
    let wall = Instant::now();
    let mut cfg = SimConfig::new(spec.protocol, spec.nodes, spec.nodes);
    cfg.faults = spec.faults.clone();
    cfg.placement = plan.placement;
    let faults = cfg.validate()?;
    if faults
        .iter()
        .flatten()
        .any(|f| f.kind == FaultKind::Restart)
    {
        bail!("restart faults need a store; the bench keeps none (use crash, omission or byz-*)");
    }
    let clusters = [cfg.cluster_a.clone(), cfg.cluster_b.clone()];
    let n = spec.nodes;

    let mut slots: Vec<Slot> = faults
        .into_iter()
        .enumerate()
        .map(|(i, fault)| {
            let id = if i < n {
                NodeId::new(Side::A, i as u32)
            } else {
                NodeId::new(Side::B, (i - n) as u32)
            };
            Slot {
                id,
                fault,
                identity: Keypair::generate_ed25519(),
                batch_key: relayer::wire::key_from_seed(format!("picsou-bench-{id}").as_bytes()),
                net: None,
                counters: Arc::new(RelayCounters::default()),
                stop: None,
                task: None,
            }
        })
        .collect();

    // Streams: A's feeds B's receivers and the other way round.
    let bells = [Arc::new(Doorbell::default()), Arc::new(Doorbell::default())];
    let chains = [SourceChain::new(Side::A), SourceChain::new(Side::B)];
    let feeds = [
        Arc::new(Feed::new(bells[0].clone())),
        Arc::new(Feed::new(bells[1].clone())),
    ];
    let target = |receivers: Side| -> u32 {
        if spec.protocol == ProtocolKind::Ost {
            return 1;
        }
        slots
            .iter()
            .filter(|s| s.id.side == receivers && s.correct())
            .count() as u32
    };
    let completions = [
        Arc::new(Completion::new(target(Side::B), bells[0].clone())),
        Arc::new(Completion::new(target(Side::A), bells[1].clone())),
    ];

    // Networks, highest node id first: a relay dials only relays above it, already listening.
    view.say(format!("{label}: starting {} relays", 2 * n));
    let placeholder: Multiaddr = "/ip4/127.0.0.1/tcp/1".parse()?;
    let any_port: Multiaddr = "/ip4/127.0.0.1/tcp/0".parse()?;
    let mut addrs: BTreeMap<NodeId, Multiaddr> = BTreeMap::new();
    let mut receivers = BTreeMap::new();
    for i in (0..slots.len()).rev() {
        if slots[i].crashed_from_start() {
            continue;
        }
        let me = slots[i].id;
        let peers = slots
            .iter()
            .filter(|s| s.id != me)
            .map(|s| PeerConfig {
                node: s.id,
                peer_id: s.identity.public().to_peer_id(),
                addr: addrs.get(&s.id).cloned().unwrap_or(placeholder.clone()),
            })
            .collect();
        let mut ncfg = NetConfig::new(me, slots[i].identity.clone(), vec![any_port.clone()], peers);
        ncfg.queue_bytes = QUEUE_BYTES;
        let (net, rx) = net::start(ncfg)
            .await
            .with_context(|| format!("starting relay {me}'s network"))?;
        let addr = net
            .listen_addrs()
            .await
            .into_iter()
            .next()
            .with_context(|| format!("relay {me} reported no listen address"))?;
        addrs.insert(me, addr);
        slots[i].net = Some(net);
        receivers.insert(me, rx);
    }
    let mut run = Run {
        plan,
        spec,
        clusters,
        bells,
        slots,
        feeds,
        completions,
        sources: Vec::new(),
    };
    let result = drive(&mut run, &chains, receivers, &label, view, wall).await;
    // Whatever happened, stop everything that still runs.
    for s in run.sources.drain(..) {
        let _ = tokio::task::spawn_blocking(move || s.stop()).await;
    }
    for slot in &mut run.slots {
        if let Some(stop) = slot.stop.take() {
            let _ = stop.send(true);
        }
        if let Some(task) = slot.task.take() {
            let _ = task.await;
        } else if let Some(net) = slot.net.take() {
            net.shutdown().await;
        }
    }
    result
}

async fn drive(
    run: &mut Run<'_>,
    chains: &[SourceChain; 2],
    mut receivers: BTreeMap<NodeId, tokio::sync::mpsc::Receiver<net::NetEvent>>,
    label: &str,
    view: &ProgressView,
    wall: Instant,
) -> anyhow::Result<RunResult> {
    let plan = run.plan;
    let spec = run.spec;
    let live: Vec<usize> = (0..run.slots.len())
        .filter(|&i| run.slots[i].net.is_some())
        .collect();
    view.say(format!("{label}: connecting"));
    let deadline = Instant::now() + CONNECT_TIMEOUT;
    loop {
        let missing = live.iter().find_map(|&i| {
            let net = run.slots[i].net.as_ref()?;
            let connected = net.connected();
            live.iter()
                .find(|&&j| j != i && !connected.contains(&run.slots[j].id))
                .map(|&j| (run.slots[i].id, run.slots[j].id))
        });
        let Some((a, b)) = missing else { break };
        if Instant::now() > deadline {
            bail!("relay {a} did not connect to {b} within {CONNECT_TIMEOUT:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // The stand-in chains' first window, certified before the relays start (see
    // `source::prefill`); every relay that will take entries is registered first, since the
    // feed drops what no registered relay needs.
    for &i in &live {
        let id = run.slots[i].id;
        run.feeds[side_idx(id.side)].register(id.index.0);
    }
    view.say(format!("{label}: certifying the first window"));
    let window = Window::new(spec.size, plan.window_bytes, plan.window_entries);
    let next = {
        let (chains, feeds, size) = (chains.clone(), run.feeds.clone(), spec.size);
        tokio::task::spawn_blocking(move || {
            std::thread::scope(|s| {
                let fill = |i: usize| {
                    let (chain, feed) = (&chains[i], &feeds[i]);
                    s.spawn(move || source::prefill(chain, size, feed, window))
                };
                let handles = [fill(0), fill(1)];
                handles.map(|h| h.join().ok())
            })
        })
        .await
        .context("certifying the first window")?
    };
    let [Some(next_a), Some(next_b)] = next else {
        bail!("a source thread panicked while certifying the first window");
    };
    let next = [next_a, next_b];

    // Relay tasks.
    let origin = Instant::now();
    let keys: BTreeMap<NodeId, _> = run
        .slots
        .iter()
        .map(|s| (s.id, s.batch_key.verifying_key()))
        .collect();
    let mut crash_at: Vec<(Duration, usize)> = Vec::new();
    for &i in &live {
        let slot = &run.slots[i];
        let me = slot.id;
        let local = &run.clusters[side_idx(me.side)];
        let remote = &run.clusters[side_idx(me.side.other())];
        let setup = Setup {
            me,
            local: local.clone(),
            remote: remote.clone(),
            epoch: 0,
            params: plan.params.clone(),
        };
        let verifier = chains[side_idx(me.side.other())].verifier();
        let inner = relayer::build(
            spec.protocol,
            setup,
            Box::new(verifier),
            Recovered::default(),
        );
        let proto = match slot.fault {
            Some(f) if f.kind == FaultKind::Crash => {
                crash_at.push((f.at, i));
                inner
            }
            Some(f) => {
                let ctx = FaultyCtx {
                    me,
                    remote_n: remote.n() as u32,
                    phi: plan.params.phi,
                    recv_window: plan.params.recv_window,
                    remote_committed: run.feeds[side_idx(me.side.other())].committed_counter(),
                    spam_every: plan.params.noop_delay,
                    seed: 0x5eed ^ u64::from(me.index.0) ^ ((side_idx(me.side) as u64) << 32),
                };
                Box::new(Faulty::new(inner, f, ctx))
            }
            None => inner,
        };
        let Some(net) = slot.net.clone() else {
            continue;
        };
        let Some(rx) = receivers.remove(&me) else {
            run.feeds[side_idx(me.side)].unregister(me.index.0);
            continue;
        };
        let relay = Relay {
            me,
            proto,
            net,
            batch_key: slot.batch_key.clone(),
            keys: keys
                .iter()
                .filter(|(k, _)| **k != me)
                .map(|(k, v)| (*k, *v))
                .collect(),
            feed: run.feeds[side_idx(me.side)].clone(),
            sink: run.completions[side_idx(me.side.other())].clone(),
            correct: slot.correct(),
            counters: slot.counters.clone(),
            origin,
        };
        let (stop_tx, stop_rx) = watch::channel(false);
        let slot = &mut run.slots[i];
        slot.stop = Some(stop_tx);
        slot.task = Some(tokio::spawn(relay.run(rx, stop_rx)));
    }

    // Sources.
    for (i, chain) in chains.iter().enumerate() {
        let src = source::spawn_source(
            chain.clone(),
            spec.size,
            next[i],
            run.feeds[i].clone(),
            run.completions[i].clone(),
            window,
            run.bells[i].clone(),
        )
        .context("starting a source thread")?;
        run.sources.push(src);
    }

    // Warm-up, then the window: the first snapshot at the first tick past the warm-up, the
    // second at the first tick at least `duration` later (ticks may come late on a busy
    // machine; the window is measured between the snapshots' own instants).
    let t_start = origin + plan.warmup;
    let mut first: Option<(Instant, Snapshot)> = None;
    let mut last_rate = (Instant::now(), 0u64);
    let mut rate = 0.0;
    let (a, b) = loop {
        tokio::time::sleep(TICK).await;
        let now = Instant::now();
        for &(at, i) in &crash_at {
            if now >= origin + at
                && let Some(stop) = run.slots[i].stop.take()
            {
                let _ = stop.send(true);
            }
        }
        if first.is_none() && now >= t_start {
            first = Some((now, run.snapshot()));
        } else if let Some((at, _)) = &first
            && now.duration_since(*at) >= plan.duration
            && let Some(start) = first.take()
        {
            break (start, (now, run.snapshot()));
        }
        let done: u64 = run
            .completions
            .iter()
            .map(|c| c.snapshot().completed())
            .sum();
        if now.duration_since(last_rate.0) >= Duration::from_secs(1) {
            rate = (done - last_rate.1) as f64 / now.duration_since(last_rate.0).as_secs_f64();
            last_rate = (now, done);
        }
        let phase = match &first {
            None => format!(
                "warm-up {:.0}s",
                t_start.saturating_duration_since(now).as_secs_f64()
            ),
            Some((at, _)) => format!(
                "measuring {:.0}s",
                plan.duration
                    .saturating_sub(now.duration_since(*at))
                    .as_secs_f64()
            ),
        };
        view.say(format!(
            "{label}: {phase}, {done} delivered to all, {rate:.0} msg/s"
        ));
    };
    let secs = b.0.duration_since(a.0).as_secs_f64();
    let delta = run.delta(&a.1, &b.1, secs);
    let measured = Measured::from_delta(&delta, spec.size);

    // Drain: no new entries; wait for the last ones.
    for s in run.sources.drain(..) {
        tokio::task::spawn_blocking(move || s.stop())
            .await
            .context("stopping a source")?;
    }
    let drain_deadline = Instant::now() + plan.drain_timeout;
    while !run.all_complete() && Instant::now() < drain_deadline {
        view.say(format!("{label}: draining"));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let delivered_all = run.all_complete();

    // Frames dropped while running (frames cut off by the shutdown below do not count).
    let dropped_frames = run
        .slots
        .iter()
        .filter_map(|s| s.net.as_ref())
        .map(|n| n.stats().values().map(|p| p.dropped).sum::<u64>())
        .sum();
    // Stop the relays and collect their final status.
    let mut resends_status = 0u64;
    for slot in &mut run.slots {
        if let Some(stop) = slot.stop.take() {
            let _ = stop.send(true);
        }
        if let Some(task) = slot.task.take() {
            let st = task.await.context("a relay task failed")?;
            resends_status += st.resends;
        }
    }
    let resends = run
        .total(|c| c.resends.load(Ordering::Relaxed))
        .max(resends_status);
    let trackers: Vec<_> = run.completions.iter().map(|c| c.snapshot()).collect();
    Ok(RunResult {
        protocol: spec.protocol.name().to_owned(),
        nodes: spec.nodes,
        size: spec.size,
        faults: spec.faults.to_string(),
        warmup_s: plan.warmup.as_secs_f64(),
        measured,
        goodput_fraction: None,
        goodput_fraction_sealed: None,
        goodput_fraction_cpu: None,
        resends,
        dropped_frames,
        wire_errors: run.total(|c| {
            c.wire_errors.load(Ordering::Relaxed) + c.send_errors.load(Ordering::Relaxed)
        }),
        misbehaviours: run.total(|c| c.misbehaviours.load(Ordering::Relaxed)),
        duplicate_deliveries: trackers.iter().map(|t| t.duplicates() + t.refused()).sum(),
        released: [run.feeds[0].released(), run.feeds[1].released()],
        completed: [trackers[0].completed(), trackers[1].completed()],
        delivered_all,
        wall_s: wall.elapsed().as_secs_f64(),
    })
}

#[cfg(test)]
mod tests {
    use super::paid_for;

    #[test]
    fn deliveries_count_only_as_far_as_the_senders_took_entries_on_average() {
        // Picsou: every relay took entries past what was delivered; deliveries count.
        assert_eq!(paid_for(100, &[130, 120, 110, 140]), 100);
        // ATA: the fastest sender's first copies delivered 100 entries, while the others,
        // whose copies are still owed, took fewer: the mean of what was taken counts.
        assert_eq!(paid_for(100, &[100, 40, 60, 80]), 70);
        // No correct sender left to ask: deliveries count.
        assert_eq!(paid_for(100, &[]), 100);
    }
}
