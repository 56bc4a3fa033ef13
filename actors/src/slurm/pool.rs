//! [`SlurmPool`]: computes a function node's packets as Slurm job arrays — the Slurm
//! counterpart of the local [`WorkerPool`](crate::worker_pool::WorkerPool), with the
//! same interface to the node (jobs in, [`JobDone`] out).
//!
//! One thread per node takes the node's jobs, cuts their packets into chunks of
//! `slurm.chunk` packets (a partial chunk once no job has come for [`LINGER`]), writes
//! each chunk's requests, and submits the chunks ready with one `sbatch --array` (at
//! most `slurm.max_tasks` tasks of the node in flight). It then waits for the run's
//! [`Poller`](super::poller::Poller): after each `squeue` answer it looks for the exit
//! markers of its chunks, reads every finished chunk back
//! ([`read_answers`](orcapod::function::slurm::answers::read_answers)) and hands the
//! results of each job to the node as soon as they form a run from the job's first
//! packet not yet handed out, so early chunks' results flow on while later ones run. A
//! task that Slurm ended (FAILED, TIMEOUT, OUT_OF_MEMORY, NODE_FAIL, CANCELLED …)
//! without an exit marker fails its packets with the state and the tails of its stderr
//! and Slurm log; a failed packet with retries left goes into a new chunk.
//!
//! Each submission is recorded in the store (one row per packet, flushed). A packet
//! that an earlier run's chunk holds (that run was killed) is not submitted again: the
//! pool waits for that chunk with its own, takes the packet's answer if it is a good
//! one, and queues the packet for a chunk of its own otherwise.
//!
//! When the node stops (its actor is gone: the run failed or was interrupted), the
//! thread cancels the jobs it still waits for (`scancel`) and ends. It never touches the
//! store nor drives the node's state machine; it only sends the node results.

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use orcapod::function::command::CommandFunction;
use orcapod::function::slurm::chunk::{chunk_requests, write_requests, ChunkPaths};
use orcapod::function::slurm::record::{read_submissions, submission_batch, Submitted};
use orcapod::function::slurm::script::{batch_script, sbatch_args};
use orcapod::function::slurm::status::parse_sbatch;
use orcapod::function::slurm::SlurmSettings;
use orcapod::function::{FunctionError, Job, PacketResult};
use orcapod::store::{ArrowStore, RecordPath};

use super::ledger::{Ledger, PacketRef};
use super::poller::Snapshot;
use super::readback::{outcome, writes_files, Chunk};
use super::registry;
use super::SlurmRun;
use crate::messages::JobDone;
use crate::worker_pool::PoolNode;

/// A partial chunk is cut once no job has come for this long.
pub(crate) const LINGER: Duration = Duration::from_millis(200);

/// The Slurm executor of one function node.
pub(crate) struct SlurmPool {
    jobs: Option<Sender<Job>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl SlurmPool {
    /// Starts the pool of a node running `command` with `settings` (and `retries`), its
    /// files in `dir` (created here).
    pub(crate) fn start(
        run: Arc<SlurmRun>,
        dir: PathBuf,
        command: CommandFunction,
        settings: SlurmSettings,
        retries: u32,
        records: Option<(Arc<dyn ArrowStore>, RecordPath)>,
        node: PoolNode,
    ) -> Result<Self, String> {
        std::fs::create_dir_all(&dir)
            .map_err(|e| format!("cannot create the work directory {}: {e}", dir.display()))?;
        let previous = match &records {
            Some((store, path)) => earlier_submissions(store.as_ref(), path, &run.job_name)
                .unwrap_or_else(|e| {
                    eprintln!("warning: {e}; their packets are submitted again");
                    HashMap::new()
                }),
            None => HashMap::new(),
        };
        let (tx, rx) = crossbeam_channel::unbounded::<Job>();
        let driver = Driver {
            records,
            previous,
            adopted: Vec::new(),
            run,
            dir,
            command,
            settings,
            node,
            jobs: rx,
            ledger: Ledger::new(retries),
            outstanding: Vec::new(),
            next_chunk: 0,
            next_script: 0,
            last_job: Instant::now(),
            generation: 0,
        };
        let thread = std::thread::Builder::new()
            .name("orcapod-slurm".into())
            .spawn(move || driver.run())
            .map_err(|e| format!("cannot start the Slurm thread: {e}"))?;
        Ok(SlurmPool {
            jobs: Some(tx),
            thread: Some(thread),
        })
    }

    /// Hands `jobs` to the pool.
    pub(crate) fn dispatch(&mut self, jobs: Vec<Job>) {
        if let Some(tx) = &self.jobs {
            for job in jobs {
                let _ = tx.send(job);
            }
        }
    }

    /// Closes the job channel; joins the thread when the node has nothing in flight.
    pub(crate) fn close(mut self, idle: bool) {
        self.jobs = None;
        if idle {
            if let Some(thread) = self.thread.take() {
                let _ = thread.join();
            }
        }
    }
}

/// A chunk of an earlier run that holds packets of this one.
struct Adopted {
    chunk: Chunk,
    /// The packets of this run it answers, with their places in the chunk.
    members: Vec<(usize, PacketRef)>,
    /// The packets of the chunk.
    size: usize,
}

struct Driver {
    /// Where submissions are recorded (when the run has a store).
    records: Option<(Arc<dyn ArrowStore>, RecordPath)>,
    /// Earlier runs' submissions not yet matched with a packet, by input packet hash.
    previous: HashMap<String, Submitted>,
    /// Earlier runs' chunks waited for.
    adopted: Vec<Adopted>,
    run: Arc<SlurmRun>,
    dir: PathBuf,
    command: CommandFunction,
    settings: SlurmSettings,
    node: PoolNode,
    jobs: Receiver<Job>,
    ledger: Ledger,
    outstanding: Vec<Chunk>,
    next_chunk: u64,
    next_script: u64,
    last_job: Instant,
    generation: u64,
}

impl Driver {
    fn run(mut self) {
        let mut closed = false;
        loop {
            if !self.node.connected() {
                self.cancel();
                return;
            }
            // Take the jobs that came.
            loop {
                match self.jobs.try_recv() {
                    Ok(job) => self.take_job(job),
                    Err(crossbeam_channel::TryRecvError::Empty) => break,
                    Err(crossbeam_channel::TryRecvError::Disconnected) => {
                        closed = true;
                        break;
                    }
                }
            }
            self.submit_ready(closed);
            // Packets whose chunk could not be submitted have failed already.
            self.deliver();
            if self.outstanding.is_empty() && self.adopted.is_empty() {
                if closed && self.ledger.is_empty() {
                    return;
                }
                if closed {
                    // Packets wait for room or for their chunk: go on submitting.
                    std::thread::sleep(LINGER);
                    continue;
                }
                // Packets waiting: linger for more; none: wait for a job (waking up now
                // and then to see whether the node is still there).
                let wait = if self.ledger.queued() > 0 {
                    LINGER
                } else {
                    Duration::from_secs(1)
                };
                let wait = self.jobs.recv_timeout(wait);
                match wait {
                    Ok(job) => self.take_job(job),
                    Err(RecvTimeoutError::Timeout) => {}
                    Err(RecvTimeoutError::Disconnected) => closed = true,
                }
                continue;
            }
            // Wait for the next answer of squeue (briefly, to take new jobs meanwhile).
            let _watch = self.run.poller.watch();
            let snapshot = self.run.poller.wait_newer(self.generation, LINGER);
            if snapshot.generation > self.generation {
                self.generation = snapshot.generation;
                self.check(&snapshot);
                self.deliver();
            }
        }
    }

    /// Takes a job: each packet that a chunk of an earlier run computes (or computed)
    /// waits for that chunk; the others wait for a chunk of this run.
    fn take_job(&mut self, job: Job) {
        let protocol = self.command.protocol().name();
        for packet in self.ledger.add(job) {
            let earlier = self
                .ledger
                .hash(&packet)
                .and_then(|hash| self.previous.remove(&hash))
                .filter(|s| s.protocol == protocol && s.chunk.input().exists());
            match earlier {
                Some(submitted) => self.adopt(submitted, packet),
                None => self.ledger.enqueue(packet),
            }
        }
        self.last_job = Instant::now();
    }

    /// `packet` waits for the earlier run's chunk `submitted`.
    fn adopt(&mut self, submitted: Submitted, packet: PacketRef) {
        let member = (submitted.index, packet);
        if let Some(adopted) = self
            .adopted
            .iter_mut()
            .find(|a| a.chunk.paths == submitted.chunk)
        {
            adopted.members.push(member);
            return;
        }
        self.run.poller.add_name(&submitted.job_name);
        registry::register(submitted.job);
        self.adopted.push(Adopted {
            chunk: Chunk {
                paths: submitted.chunk,
                packets: Vec::new(),
                task: (submitted.job, submitted.task),
                unmarked: 0,
            },
            members: vec![member],
            size: submitted.size,
        });
    }

    /// Submits the chunks that are ready, as one array, if the node has room.
    fn submit_ready(&mut self, closed: bool) {
        let room = self
            .settings
            .max_tasks
            .saturating_sub(self.outstanding.len());
        let chunk = self.settings.chunk.max(1);
        let queued = self.ledger.queued();
        let lingered = closed || self.last_job.elapsed() >= LINGER;
        let ready = if lingered {
            queued.div_ceil(chunk)
        } else {
            queued / chunk
        };
        let count = ready.min(room);
        if count == 0 {
            return;
        }
        let mut chunks = Vec::with_capacity(count);
        for _ in 0..count {
            let packets = self.ledger.take(chunk);
            let paths = ChunkPaths::new(&self.dir, self.next_chunk);
            self.next_chunk += 1;
            chunks.push((paths, packets));
        }
        self.submit(chunks);
    }

    /// Writes the chunks' requests and submits them as one array; packets whose chunk
    /// cannot be written or submitted fail.
    fn submit(&mut self, chunks: Vec<(ChunkPaths, Vec<PacketRef>)>) {
        let protocol = self.command.protocol();
        let mut written = Vec::with_capacity(chunks.len());
        for (paths, packets) in chunks {
            let mut values = Vec::with_capacity(packets.len());
            let mut unreadable = None;
            for packet in &packets {
                match self.ledger.packet(packet) {
                    Ok(v) => values.push(v),
                    Err(e) => {
                        unreadable = Some(e);
                        break;
                    }
                }
            }
            let outcome = match unreadable {
                Some(e) => Err(e),
                None => write_requests(&paths, &chunk_requests(&values, protocol)).map_err(|e| {
                    format!("cannot write the chunk {}: {e}", paths.input().display())
                }),
            };
            match outcome {
                Ok(()) => written.push((paths, packets)),
                Err(message) => self.ledger.fail(&packets, &FunctionError::new(message)),
            }
        }
        if written.is_empty() {
            return;
        }
        match self.sbatch(&written) {
            Ok(job) => {
                registry::register(job);
                self.record(job, &written);
                for (i, (paths, packets)) in written.into_iter().enumerate() {
                    self.outstanding.push(Chunk {
                        paths,
                        packets,
                        task: (job, i as u32),
                        unmarked: 0,
                    });
                }
            }
            Err(message) => {
                let error = FunctionError::new(message);
                for (_, packets) in &written {
                    self.ledger.fail(packets, &error);
                }
            }
        }
    }

    /// Runs `sbatch` for the chunks; the job id, or why it failed.
    fn sbatch(&mut self, chunks: &[(ChunkPaths, Vec<PacketRef>)]) -> Result<u64, String> {
        let paths: Vec<ChunkPaths> = chunks.iter().map(|(p, _)| p.clone()).collect();
        let script_text = batch_script(
            self.command.command(),
            self.command.working_dir(),
            &paths,
            writes_files(&self.command).is_some(),
        );
        let script = self.dir.join(format!("s{:06}.sh", self.next_script));
        self.next_script += 1;
        std::fs::write(&script, script_text)
            .map_err(|e| format!("cannot write the batch script {}: {e}", script.display()))?;
        let args = sbatch_args(
            &self.settings,
            &self.run.job_name,
            paths.len(),
            &self.dir,
            &script,
        );
        let output = Command::new("sbatch")
            .args(&args)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run sbatch (is Slurm installed here?): {e}"))?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        if !output.status.success() {
            return Err(format!(
                "sbatch refused the array ({}): {}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            ));
        }
        parse_sbatch(&stdout)
            .ok_or_else(|| format!("sbatch printed no job id: `{}`", stdout.trim()))
    }

    /// Records the packets of the chunks of array `job` in the store (and flushes), so
    /// that a later run finds them should this process be killed.
    fn record(&self, job: u64, chunks: &[(ChunkPaths, Vec<PacketRef>)]) {
        let Some((store, path)) = &self.records else {
            return;
        };
        let mut ids = Vec::new();
        let mut rows = Vec::new();
        for (task, (paths, packets)) in chunks.iter().enumerate() {
            for (index, packet) in packets.iter().enumerate() {
                let Some(hash) = self.ledger.hash(packet) else {
                    continue;
                };
                ids.push(hash);
                rows.push(Submitted {
                    chunk: paths.clone(),
                    index,
                    size: packets.len(),
                    job,
                    task: task as u32,
                    job_name: self.run.job_name.clone(),
                    protocol: self.command.protocol().name().to_string(),
                });
            }
        }
        let written = submission_batch(&rows)
            .and_then(|batch| store.add_records(path, &ids, &batch, false))
            .and_then(|_| store.flush());
        if let Err(e) = written {
            eprintln!(
                "warning: cannot record Slurm job {job} in the database ({e}); a run after \
                 this one is killed would submit its packets again"
            );
        }
    }

    /// Reads back every chunk that finished, by its marker or its state in `snapshot`.
    fn check(&mut self, snapshot: &Snapshot) {
        let mut a = 0;
        while a < self.adopted.len() {
            let adopted = &mut self.adopted[a];
            let size = adopted.size;
            match outcome(&mut adopted.chunk, size, &self.command, snapshot) {
                Some(results) => {
                    let adopted = self.adopted.swap_remove(a);
                    let job = adopted.chunk.task.0;
                    self.take_earlier(adopted, results);
                    self.forget_if_done(job);
                }
                None => a += 1,
            }
        }
        let mut i = 0;
        while i < self.outstanding.len() {
            let chunk = &mut self.outstanding[i];
            let n = chunk.packets.len();
            match outcome(chunk, n, &self.command, snapshot) {
                Some(results) => {
                    let chunk = self.outstanding.swap_remove(i);
                    self.ledger.settle(&chunk.packets, results);
                    self.forget_if_done(chunk.task.0);
                }
                None => i += 1,
            }
        }
    }

    /// Takes `job` out of the registry once none of its chunks is waited for.
    fn forget_if_done(&self, job: u64) {
        let waited = self.outstanding.iter().any(|c| c.task.0 == job)
            || self.adopted.iter().any(|a| a.chunk.task.0 == job);
        if !waited {
            registry::unregister(job);
        }
    }

    /// The packets of this run that an earlier run's chunk answered: a packet answered
    /// well takes its result; any other is computed afresh (at no retry's cost: this
    /// run has not tried it yet).
    fn take_earlier(&mut self, adopted: Adopted, results: Vec<PacketResult>) {
        let mut results: Vec<Option<PacketResult>> = results.into_iter().map(Some).collect();
        for (index, packet) in adopted.members {
            match results.get_mut(index).and_then(Option::take) {
                Some(Ok(values)) => self.ledger.settle(&[packet], vec![Ok(values)]),
                _ => self.ledger.enqueue(packet),
            }
        }
    }

    /// Hands the node every run of results ready.
    fn deliver(&mut self) {
        for (id, completed) in self.ledger.deliveries() {
            self.node.done.do_send(JobDone { id, completed });
        }
    }

    /// Cancels the jobs still waited for.
    fn cancel(&mut self) {
        let jobs: BTreeSet<u64> = self
            .outstanding
            .iter()
            .map(|c| c.task.0)
            .chain(self.adopted.iter().map(|a| a.chunk.task.0))
            .collect();
        let jobs: Vec<u64> = jobs.into_iter().collect();
        if let Err(e) = registry::scancel(&jobs) {
            eprintln!("warning: {e}");
        }
        for job in jobs {
            registry::unregister(job);
        }
        self.outstanding.clear();
        self.adopted.clear();
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        if !self.outstanding.is_empty() || !self.adopted.is_empty() {
            self.cancel();
        }
    }
}

/// The submissions of earlier runs recorded at `path` (the current run's, `job_name`,
/// left out).
fn earlier_submissions(
    store: &dyn ArrowStore,
    path: &RecordPath,
    job_name: &str,
) -> Result<HashMap<String, Submitted>, String> {
    let read = store
        .get_all(path)
        .and_then(|records| records.map(|r| read_submissions(&r)).transpose())
        .map_err(|e| format!("cannot read the Slurm submissions recorded in the database: {e}"))?;
    let mut previous = read.unwrap_or_default();
    previous.retain(|_, s| s.job_name != job_name);
    Ok(previous)
}
