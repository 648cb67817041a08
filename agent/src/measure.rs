//! Live measurements of the machine, taken like a system monitor does: one
//! long-lived [`Sampler`] (long-lived sysinfo handles) refreshed on an
//! interval by one background thread, rates computed from counter deltas
//! over the measured elapsed time. The latest [`Sample`] is published in a
//! `watch` channel; callbacks read it and never measure.
//!
//! Units (the same as the `MediaServer` type's property docs):
//! - `connections`: established TCP connections whose local port is the
//!   media port (IPv4 and IPv6, from `/proc/net/tcp{,6}`). Reading those
//!   tables makes the kernel walk its whole TCP hash (a few ms of CPU on a
//!   machine with much memory), so the tables are read every interval only
//!   while the broker asks for `connections` (within the last
//!   [`DEMAND_WINDOW`]), and every [`IDLE_EVERY`]th interval otherwise.
//!   The first request after a quiet spell wakes the sampler thread to read
//!   them at once; that request itself is answered from the older reading
//!   (its `age_ms` says how old), the next ones from the new;
//! - `load`: 1-minute load average divided by the number of logical CPUs;
//! - `cpu`: fraction of CPU time busy over the last interval, 0..1;
//! - `mem_free`: available memory, bytes;
//! - `disk_free`: space available on the volume holding the media
//!   directory, bytes;
//! - `bandwidth_in`, `bandwidth_out`: bits per second over the last
//!   interval, summed over all interfaces except loopback (loopback counts
//!   only when it is the only interface, as on a test machine);
//! - `bandwidth_free`: `bandwidth_capacity - bandwidth_out`, saturating at
//!   0, bits per second;
//! - `ctx_switches`: context switches per second over the last interval
//!   (`ctxt` of `/proc/stat`).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{RecvTimeoutError, Sender};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use bourse_proto as pb;
use sysinfo::{CpuRefreshKind, DiskRefreshKind, Disks, MemoryRefreshKind, Networks, RefreshKind, System};
use tokio::sync::watch;

use crate::config::Simulate;
use crate::procfs;

/// A dynamic property the agent answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Metric {
    Connections,
    Load,
    Cpu,
    MemFree,
    DiskFree,
    BandwidthIn,
    BandwidthOut,
    BandwidthFree,
    CtxSwitches,
}

impl Metric {
    pub const ALL: [Metric; 9] = [
        Metric::Connections,
        Metric::Load,
        Metric::Cpu,
        Metric::MemFree,
        Metric::DiskFree,
        Metric::BandwidthIn,
        Metric::BandwidthOut,
        Metric::BandwidthFree,
        Metric::CtxSwitches,
    ];

    /// The property name in the `MediaServer` type.
    pub fn name(self) -> &'static str {
        match self {
            Metric::Connections => "connections",
            Metric::Load => "load",
            Metric::Cpu => "cpu",
            Metric::MemFree => "mem_free",
            Metric::DiskFree => "disk_free",
            Metric::BandwidthIn => "bandwidth_in",
            Metric::BandwidthOut => "bandwidth_out",
            Metric::BandwidthFree => "bandwidth_free",
            Metric::CtxSwitches => "ctx_switches",
        }
    }

    pub fn from_name(name: &str) -> Option<Metric> {
        Metric::ALL.into_iter().find(|m| m.name() == name)
    }

    pub fn value_type(self) -> pb::ValueType {
        match self {
            Metric::Load | Metric::Cpu => pb::ValueType::Double,
            _ => pb::ValueType::Uint64,
        }
    }
}

/// One set of measurements. `None` means "not measured": the platform
/// lacks the source, or (for rates) there is no earlier reading yet.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sample {
    /// When the sample was taken (the TCP tables may be older: see
    /// `connections_taken`). `None` for a sample built by hand.
    pub taken: Option<Instant>,
    /// When `connections` was read.
    pub connections_taken: Option<Instant>,
    pub connections: Option<u64>,
    pub load: Option<f64>,
    pub cpu: Option<f64>,
    pub mem_free: Option<u64>,
    pub disk_free: Option<u64>,
    pub bandwidth_in: Option<u64>,
    pub bandwidth_out: Option<u64>,
    pub bandwidth_free: Option<u64>,
    pub ctx_switches: Option<u64>,
}

impl Sample {
    /// The value of one metric, typed as the `MediaServer` type declares it.
    pub fn value(&self, metric: Metric) -> Option<pb::Value> {
        let uint = |v: Option<u64>| v.map(pb::Value::uint64);
        let double = |v: Option<f64>| v.filter(|v| v.is_finite()).map(pb::Value::double);
        match metric {
            Metric::Connections => uint(self.connections),
            Metric::Load => double(self.load),
            Metric::Cpu => double(self.cpu),
            Metric::MemFree => uint(self.mem_free),
            Metric::DiskFree => uint(self.disk_free),
            Metric::BandwidthIn => uint(self.bandwidth_in),
            Metric::BandwidthOut => uint(self.bandwidth_out),
            Metric::BandwidthFree => uint(self.bandwidth_free),
            Metric::CtxSwitches => uint(self.ctx_switches),
        }
    }

    /// Replaces measured values by the simulated ones and derives
    /// `bandwidth_free` from the capacity and the (possibly simulated)
    /// outbound rate.
    pub fn finish(&mut self, simulate: &Simulate, capacity: Option<u64>) {
        fn set<T: Copy>(slot: &mut Option<T>, value: Option<T>) {
            if value.is_some() {
                *slot = value;
            }
        }
        set(&mut self.connections, simulate.connections);
        set(&mut self.load, simulate.load);
        set(&mut self.cpu, simulate.cpu);
        set(&mut self.mem_free, simulate.mem_free);
        set(&mut self.disk_free, simulate.disk_free);
        set(&mut self.bandwidth_in, simulate.bandwidth_in);
        set(&mut self.bandwidth_out, simulate.bandwidth_out);
        self.bandwidth_free = match (capacity, self.bandwidth_out) {
            (Some(capacity), Some(out)) => Some(capacity.saturating_sub(out)),
            _ => None,
        };
        set(&mut self.bandwidth_free, simulate.bandwidth_free);
        set(&mut self.ctx_switches, simulate.ctx_switches);
    }
}

/// A per-second rate from two readings of a monotonic counter taken
/// `elapsed` apart. A counter that went backwards (reset, interface gone)
/// gives 0; no elapsed time gives `None`.
pub fn rate_per_second(previous: u64, current: u64, elapsed: Duration) -> Option<u64> {
    let seconds = elapsed.as_secs_f64();
    if seconds <= 0.0 {
        return None;
    }
    let rate = current.saturating_sub(previous) as f64 / seconds;
    // `as` saturates for floats beyond u64's range.
    Some(rate.round() as u64)
}

/// How long a request for `connections` keeps the TCP tables read at
/// every interval.
pub const DEMAND_WINDOW: Duration = Duration::from_secs(30);
/// Without demand, the TCP tables are read every this many intervals.
pub const IDLE_EVERY: u64 = 5;

/// When the broker last asked for `connections`. The callback service
/// marks it (one atomic swap, no measuring); the sampler reads it. The
/// first mark after a quiet spell also wakes the sampler thread, if one
/// runs, to read the TCP tables at once.
#[derive(Debug, Clone)]
pub struct Demand {
    base: Instant,
    /// Milliseconds after `base` of the last request; 0 for never.
    last_ms: Arc<AtomicU64>,
    /// The sampler thread's wake-up line, once it runs.
    wake: Arc<OnceLock<Sender<Wake>>>,
}

/// What the sampler thread is woken for, besides its ticks.
#[derive(Debug)]
enum Wake {
    /// Read the TCP tables now: `connections` is wanted after a quiet spell.
    Connections,
    Stop,
}

impl Default for Demand {
    fn default() -> Self {
        Demand { base: Instant::now(), last_ms: Arc::new(AtomicU64::new(0)), wake: Arc::default() }
    }
}

impl Demand {
    pub fn mark(&self) {
        let now_ms = self.ms_of(Instant::now());
        let previous = self.last_ms.swap(now_ms, Ordering::Relaxed);
        if !within(previous, now_ms, DEMAND_WINDOW)
            && let Some(wake) = self.wake.get()
        {
            // The thread may be gone already (shutting down): nothing to do.
            let _ = wake.send(Wake::Connections);
        }
    }

    /// Whether a request came within `window` before `now`.
    pub fn recent(&self, now: Instant, window: Duration) -> bool {
        within(self.last_ms.load(Ordering::Relaxed), self.ms_of(now), window)
    }

    /// Milliseconds after `base` of `at`, at least 1 (0 stands for never).
    fn ms_of(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.base).as_millis()).unwrap_or(u64::MAX).max(1)
    }
}

/// Whether a request marked at `last_ms` (0: never) is within `window`
/// before `now_ms`.
fn within(last_ms: u64, now_ms: u64, window: Duration) -> bool {
    last_ms != 0 && Duration::from_millis(now_ms.saturating_sub(last_ms)) <= window
}

/// Counter readings at one instant.
#[derive(Debug, Clone, Copy)]
struct Counters {
    at: Instant,
    /// Bytes received and transmitted, summed over the counted interfaces.
    rx_bytes: u64,
    tx_bytes: u64,
    ctxt: Option<u64>,
}

/// Whether an interface name is a loopback one (`lo` on Linux, `lo0` on
/// the BSDs and macOS).
fn is_loopback(name: &str) -> bool {
    name == "lo" || name.strip_prefix("lo").is_some_and(|rest| rest.chars().all(|c| c.is_ascii_digit()))
}

/// Sums byte counters over interfaces, leaving loopback out unless it is
/// all there is.
pub fn sum_interfaces<'a>(interfaces: impl IntoIterator<Item = (&'a str, u64, u64)>) -> (u64, u64) {
    let mut all = (0u64, 0u64);
    let mut external = (0u64, 0u64);
    let mut has_external = false;
    for (name, rx, tx) in interfaces {
        all = (all.0.saturating_add(rx), all.1.saturating_add(tx));
        if !is_loopback(name) {
            has_external = true;
            external = (external.0.saturating_add(rx), external.1.saturating_add(tx));
        }
    }
    if has_external { external } else { all }
}

/// The long-lived measuring handles.
pub struct Sampler {
    system: Option<System>,
    networks: Option<Networks>,
    disks: Option<Disks>,
    /// Index into `disks` of the volume holding the media directory.
    media_disk: Option<usize>,
    media_port: u16,
    capacity: Option<u64>,
    simulate: Simulate,
    previous: Option<Counters>,
    demand: Demand,
    /// Samples taken so far (paces the idle reads of the TCP tables).
    n_samples: u64,
    connections: Option<u64>,
    /// When `connections` was last read.
    connections_taken: Option<Instant>,
}

impl Sampler {
    /// Opens the handles. A source that the platform lacks is left out and
    /// its metrics stay `None`.
    pub fn new(media_dir: &Path, media_port: u16, capacity: Option<u64>, simulate: Simulate) -> Sampler {
        let system = System::new_with_specifics(
            RefreshKind::nothing()
                .with_cpu(CpuRefreshKind::nothing().with_usage())
                .with_memory(MemoryRefreshKind::nothing().with_ram()),
        )
        .map_err(|err| tracing::warn!(error = %err, "no CPU or memory figures on this system"))
        .ok();
        let networks = Networks::new_with_refreshed_list()
            .map_err(|err| tracing::warn!(error = %err, "no network figures on this system"))
            .ok();
        let disks = Disks::new_with_refreshed_list_specifics(DiskRefreshKind::nothing().with_storage())
            .map_err(|err| tracing::warn!(error = %err, "no disk figures on this system"))
            .ok();
        let media_disk = disks.as_ref().and_then(|disks| {
            let dir = std::fs::canonicalize(media_dir).unwrap_or_else(|_| media_dir.to_path_buf());
            let mounts: Vec<PathBuf> = disks.iter().map(|d| d.mount_point().to_path_buf()).collect();
            let found = volume_of(&dir, &mounts);
            if found.is_none() {
                tracing::warn!(dir = %dir.display(), "no mounted volume found for the media directory; disk_free is not measured");
            }
            found
        });
        Sampler {
            system,
            networks,
            disks,
            media_disk,
            media_port,
            capacity,
            simulate,
            previous: None,
            demand: Demand::default(),
            n_samples: 0,
            connections: None,
            connections_taken: None,
        }
    }

    /// The handle through which callbacks say `connections` is wanted.
    pub fn demand(&self) -> Demand {
        self.demand.clone()
    }

    fn read_connections(&mut self, now: Instant) {
        self.connections = procfs::read_connections(self.media_port);
        self.connections_taken = Some(now);
    }

    /// `last` with `connections` read anew, the other figures as they were.
    pub fn with_connections(&mut self, last: &Sample) -> Sample {
        self.read_connections(Instant::now());
        let mut sample = Sample {
            connections: self.connections,
            connections_taken: self.connections_taken,
            ..last.clone()
        };
        sample.finish(&self.simulate, self.capacity);
        sample
    }

    /// Refreshes every source and returns the new sample. Rates need an
    /// earlier call; the first sample has none.
    pub fn sample(&mut self) -> Sample {
        let mut sample = Sample::default();
        let now = Instant::now();
        if let Some(system) = &mut self.system {
            system.refresh_cpu_usage();
            system.refresh_memory_specifics(MemoryRefreshKind::nothing().with_ram());
            let n_cpus = system.cpus().len().max(1);
            sample.cpu = Some((f64::from(system.global_cpu_usage()) / 100.0).clamp(0.0, 1.0));
            sample.mem_free = Some(system.available_memory());
            sample.load =
                System::load_average().ok().map(|avg| avg.one / n_cpus as f64).filter(|l| l.is_finite());
        }
        if let (Some(disks), Some(index)) = (&mut self.disks, self.media_disk)
            && let Some(disk) = disks.get_mut(index)
        {
            disk.refresh_specifics(DiskRefreshKind::nothing().with_storage());
            sample.disk_free = Some(disk.available_space());
        }
        if self.n_samples.is_multiple_of(IDLE_EVERY) || self.demand.recent(now, DEMAND_WINDOW) {
            self.read_connections(now);
        }
        self.n_samples += 1;
        sample.taken = Some(now);
        sample.connections = self.connections;
        sample.connections_taken = self.connections_taken;
        let ctxt = procfs::read_context_switches();
        let (rx_bytes, tx_bytes) = match &mut self.networks {
            Some(networks) => {
                networks.refresh(true);
                sum_interfaces(networks.iter().filter_map(|(name, data)| {
                    Some((name.to_str()?, data.total_received(), data.total_transmitted()))
                }))
            }
            None => (0, 0),
        };
        let current = Counters { at: now, rx_bytes, tx_bytes, ctxt };
        if let Some(previous) = self.previous {
            let elapsed = current.at.duration_since(previous.at);
            if self.networks.is_some() {
                let bits =
                    |prev: u64, cur: u64| rate_per_second(prev, cur, elapsed).map(|r| r.saturating_mul(8));
                sample.bandwidth_in = bits(previous.rx_bytes, current.rx_bytes);
                sample.bandwidth_out = bits(previous.tx_bytes, current.tx_bytes);
            }
            if let (Some(prev), Some(cur)) = (previous.ctxt, current.ctxt) {
                sample.ctx_switches = rate_per_second(prev, cur, elapsed);
            }
        }
        self.previous = Some(current);
        sample.finish(&self.simulate, self.capacity);
        sample
    }
}

/// Index of the mount point that holds `dir`: the longest one that is a
/// prefix of it (component-wise).
pub fn volume_of(dir: &Path, mount_points: &[PathBuf]) -> Option<usize> {
    mount_points
        .iter()
        .enumerate()
        .filter(|(_, mount)| dir.starts_with(mount))
        .max_by_key(|(_, mount)| mount.components().count())
        .map(|(index, _)| index)
}

/// The background sampler: one thread that refreshes every `interval` and
/// publishes each sample, and reads the TCP tables between ticks when the
/// demand for `connections` resumes. It ends when every receiver is gone
/// or the `SamplerThread` is dropped.
pub struct SamplerThread {
    /// Wakes the thread; `Wake::Stop` (or every sender gone) ends it.
    stop: Option<Sender<Wake>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl SamplerThread {
    /// Takes a first reading, waits the minimum for CPU usage to mean
    /// something (200 ms or the interval if shorter), publishes the first
    /// full sample, then goes on in the background.
    pub fn spawn(
        mut sampler: Sampler,
        interval: Duration,
    ) -> std::io::Result<(SamplerThread, watch::Receiver<Arc<Sample>>)> {
        let _baseline = sampler.sample();
        std::thread::sleep(
            interval.min(sysinfo::MINIMUM_CPU_UPDATE_INTERVAL.max(Duration::from_millis(200))),
        );
        let (tx, rx) = watch::channel(Arc::new(sampler.sample()));
        let (stop, woken) = std::sync::mpsc::channel::<Wake>();
        // Set once: a sampler is spawned once.
        let _ = sampler.demand.wake.set(stop.clone());
        let thread = std::thread::Builder::new().name("bourse-sampler".into()).spawn(move || {
            let mut next = Instant::now() + interval;
            loop {
                let wait = next.saturating_duration_since(Instant::now());
                let sample = match woken.recv_timeout(wait) {
                    Err(RecvTimeoutError::Timeout) => {
                        // Fixed-rate ticks, but never a burst to catch up after a stall.
                        next = (next + interval).max(Instant::now());
                        sampler.sample()
                    }
                    Ok(Wake::Connections) => {
                        let last = tx.borrow().clone();
                        sampler.with_connections(&last)
                    }
                    Ok(Wake::Stop) | Err(RecvTimeoutError::Disconnected) => return,
                };
                if tx.send(Arc::new(sample)).is_err() {
                    return;
                }
            }
        })?;
        Ok((SamplerThread { stop: Some(stop), thread: Some(thread) }, rx))
    }
}

impl Drop for SamplerThread {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(Wake::Stop);
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    #[test]
    fn rates_from_deltas() {
        let cases = [
            (0, 1000, 1000, Some(1000)),
            (1000, 3000, 500, Some(4000)),
            (5000, 5000, 2000, Some(0)),
            (5000, 10, 1000, Some(0)), // counter went backwards
            (0, u64::MAX, 1, Some(u64::MAX)),
            (0, 100, 0, None),
            (0, 1, 3000, Some(0)), // 0.33/s rounds to 0
            (0, 2, 3000, Some(1)),
        ];
        for (prev, cur, ms, expected) in cases {
            assert_eq!(
                rate_per_second(prev, cur, Duration::from_millis(ms)),
                expected,
                "{prev}->{cur} in {ms} ms"
            );
        }
    }

    #[test]
    fn loopback_counts_only_when_alone() {
        assert_eq!(sum_interfaces([("lo", 100, 200), ("eth0", 1, 2), ("wlan0", 10, 20)]), (11, 22));
        assert_eq!(sum_interfaces([("lo", 100, 200)]), (100, 200));
        assert_eq!(sum_interfaces([("lo0", 100, 200), ("en0", 5, 6)]), (5, 6));
        assert_eq!(sum_interfaces([("lowpan0", 1, 1), ("lo", 100, 200)]), (1, 1));
        assert_eq!(sum_interfaces([]), (0, 0));
    }

    #[test]
    fn simulated_values_win_and_free_bandwidth_follows() {
        let mut sample =
            Sample { load: Some(0.1), bandwidth_out: Some(300), connections: Some(1), ..Sample::default() };
        let simulate = Simulate { load: Some(0.7), connections: Some(3), ..Simulate::default() };
        sample.finish(&simulate, Some(1000));
        assert_eq!(sample.load, Some(0.7));
        assert_eq!(sample.connections, Some(3));
        assert_eq!(sample.bandwidth_free, Some(700));

        let mut sample = Sample { bandwidth_out: Some(300), ..Sample::default() };
        sample.finish(&Simulate { bandwidth_out: Some(5000), ..Simulate::default() }, Some(1000));
        assert_eq!(sample.bandwidth_free, Some(0), "saturates");

        let mut sample = Sample { bandwidth_out: Some(300), ..Sample::default() };
        sample.finish(&Simulate::default(), None);
        assert_eq!(sample.bandwidth_free, None, "no capacity, no free bandwidth");
    }

    #[test]
    fn values_are_typed_as_declared() {
        let sample = Sample { load: Some(0.5), mem_free: Some(7), cpu: Some(f64::NAN), ..Sample::default() };
        assert_eq!(sample.value(Metric::Load), Some(pb::Value::double(0.5)));
        assert_eq!(sample.value(Metric::MemFree), Some(pb::Value::uint64(7)));
        assert_eq!(sample.value(Metric::Cpu), None, "non-finite doubles are not sent");
        assert_eq!(sample.value(Metric::DiskFree), None);
        for metric in Metric::ALL {
            assert_eq!(Metric::from_name(metric.name()), Some(metric));
        }
        assert_eq!(Metric::from_name("titles"), None);
    }

    #[test]
    fn demand_expires() {
        let demand = Demand::default();
        let now = Instant::now();
        assert!(!demand.recent(now, DEMAND_WINDOW), "never asked");
        demand.mark();
        assert!(demand.recent(Instant::now(), DEMAND_WINDOW));
        assert!(!demand.recent(Instant::now() + DEMAND_WINDOW + Duration::from_secs(1), DEMAND_WINDOW));
    }

    #[test]
    fn connections_are_read_every_interval_only_on_demand() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let mut sampler = Sampler::new(&std::env::temp_dir(), port, None, Simulate::default());
        if !cfg!(target_os = "linux") {
            return;
        }
        assert_eq!(sampler.sample().connections, Some(0), "the first sample reads the tables");
        let client = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        assert_eq!(sampler.sample().connections, Some(0), "no demand: not read again yet");
        sampler.demand().mark();
        assert_eq!(sampler.sample().connections, Some(1), "demand: read at once");
        drop(client);
    }

    #[test]
    fn demand_after_a_quiet_spell_wakes_the_sampler_thread() {
        if !cfg!(target_os = "linux") {
            return;
        }
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let sampler = Sampler::new(&std::env::temp_dir(), port, None, Simulate::default());
        let demand = sampler.demand();
        // Ticks far apart: any new reading within the test comes from the wake.
        let (thread, samples) = SamplerThread::spawn(sampler, Duration::from_secs(3600)).unwrap();
        let first = samples.borrow().clone();
        assert_eq!(first.connections, Some(0));
        let client = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        demand.mark();
        let deadline = Instant::now() + Duration::from_secs(5);
        while samples.borrow().connections != Some(1) {
            assert!(Instant::now() < deadline, "the tables were not read again after the demand");
            std::thread::sleep(Duration::from_millis(10));
        }
        let woken = samples.borrow().clone();
        assert!(woken.connections_taken > first.connections_taken);
        assert_eq!(woken.taken, first.taken, "the other figures are kept as they were");
        // A second mark within the window does not wake it again.
        drop(client);
        demand.mark();
        std::thread::sleep(Duration::from_millis(200));
        assert_eq!(samples.borrow().connections, Some(1));
        drop(thread);
    }

    #[test]
    fn volume_is_the_longest_mount_prefix() {
        let mounts: Vec<PathBuf> = ["/", "/srv", "/srv/media2", "/home"].iter().map(PathBuf::from).collect();
        assert_eq!(volume_of(Path::new("/srv/media"), &mounts), Some(1));
        assert_eq!(volume_of(Path::new("/srv/media2/x"), &mounts), Some(2));
        assert_eq!(volume_of(Path::new("/var/x"), &mounts), Some(0));
        assert_eq!(volume_of(Path::new("/var/x"), &[]), None);
    }

    #[test]
    fn a_real_sampler_measures_this_machine() {
        let mut sampler = Sampler::new(&std::env::temp_dir(), 1, Some(1_000_000), Simulate::default());
        let first = sampler.sample();
        assert_eq!(first.bandwidth_in, None, "no rate before a second reading");
        std::thread::sleep(Duration::from_millis(250));
        let second = sampler.sample();
        if cfg!(target_os = "linux") {
            assert!(second.mem_free.is_some_and(|m| m > 0));
            assert!(second.load.is_some());
            assert!(second.cpu.is_some_and(|c| (0.0..=1.0).contains(&c)));
            assert!(second.bandwidth_out.is_some());
            assert!(second.bandwidth_free.is_some());
            assert!(second.ctx_switches.is_some_and(|c| c > 0));
            assert_eq!(second.connections, Some(0));
        }
    }
}
