//! [`Ledger`]: the packets of a Slurm node's jobs, from the job that brought them to
//! the result handed back: which wait for a chunk, which are tried again, and which
//! contiguous runs of a job are complete and can be delivered.
//!
//! Bookkeeping only: it never submits, polls, reads a chunk nor sends a message.

use std::collections::{HashMap, VecDeque};

use orcapod::function::{Completed, FunctionError, Job, PacketResult, MAX_RERUNS};
use orcapod::model::Datum;

/// One packet of one job, and how many times it was tried again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PacketRef {
    job: u64,
    index: usize,
    retries: u32,
    /// Free reruns taken (failures caused by another packet).
    reruns: u32,
}

struct Entry {
    job: Job,
    results: Vec<Option<PacketResult>>,
    /// Packets `..sent` were delivered.
    sent: usize,
    /// Retries of packets not yet delivered.
    retried: u64,
}

/// The packets of one node's jobs.
pub(crate) struct Ledger {
    jobs: HashMap<u64, Entry>,
    queue: VecDeque<PacketRef>,
    retries: u32,
}

impl Ledger {
    /// A ledger trying a failed packet again up to `retries` times.
    pub(crate) fn new(retries: u32) -> Self {
        Ledger {
            jobs: HashMap::new(),
            queue: VecDeque::new(),
            retries,
        }
    }

    /// Takes a job; returns its packets, which the caller either queues for a chunk
    /// ([`enqueue`](Self::enqueue)) or settles from a chunk of an earlier run.
    pub(crate) fn add(&mut self, job: Job) -> Vec<PacketRef> {
        let n = job.len();
        let packets = (0..n)
            .map(|index| PacketRef {
                job: job.id,
                index,
                retries: 0,
                reruns: 0,
            })
            .collect();
        self.jobs.insert(
            job.id,
            Entry {
                job,
                results: (0..n).map(|_| None).collect(),
                sent: 0,
                retried: 0,
            },
        );
        packets
    }

    /// Queues a packet for a chunk (again, at no retry's cost when it was answered by
    /// nothing usable in an earlier run's chunk).
    pub(crate) fn enqueue(&mut self, packet: PacketRef) {
        self.queue.push_back(packet);
    }

    /// The input packet hash of a packet.
    pub(crate) fn hash(&self, packet: &PacketRef) -> Option<String> {
        self.jobs.get(&packet.job)?.job.hash(packet.index)
    }

    /// How many packets wait for a chunk.
    pub(crate) fn queued(&self) -> usize {
        self.queue.len()
    }

    /// Whether no packet waits for its result.
    pub(crate) fn is_empty(&self) -> bool {
        self.jobs.is_empty()
    }

    /// The next (at most) `n` packets waiting for a chunk.
    pub(crate) fn take(&mut self, n: usize) -> Vec<PacketRef> {
        let n = n.min(self.queue.len());
        self.queue.drain(..n).collect()
    }

    /// A packet as (column, value) pairs.
    pub(crate) fn packet(&self, packet: &PacketRef) -> Result<Vec<(String, Datum)>, String> {
        let entry = self
            .jobs
            .get(&packet.job)
            .ok_or_else(|| format!("internal: job {} is not known", packet.job))?;
        entry
            .job
            .packet(packet.index)
            .map_err(|e| format!("cannot read the input packet: {e}"))
    }

    /// The results of `packets`, in order: a failed packet waits for a chunk again, at
    /// no retry's cost when another packet caused its failure
    /// ([`FunctionError::rerun`], at most [`MAX_RERUNS`] times), else when it has
    /// retries left; any other result is kept for delivery.
    pub(crate) fn settle(&mut self, packets: &[PacketRef], results: Vec<PacketResult>) {
        for (packet, result) in packets.iter().zip(results) {
            let Some(entry) = self.jobs.get_mut(&packet.job) else {
                continue;
            };
            match result {
                Err(e) if e.rerun && packet.reruns < MAX_RERUNS => {
                    self.queue.push_back(PacketRef {
                        reruns: packet.reruns + 1,
                        ..*packet
                    });
                }
                Err(_) if packet.retries < self.retries => {
                    entry.retried += 1;
                    self.queue.push_back(PacketRef {
                        retries: packet.retries + 1,
                        ..*packet
                    });
                }
                result => entry.results[packet.index] = Some(result),
            }
        }
    }

    /// Fails `packets` with `error` (retries apply).
    pub(crate) fn fail(&mut self, packets: &[PacketRef], error: &FunctionError) {
        let results = packets.iter().map(|_| Err(error.clone())).collect();
        self.settle(packets, results);
    }

    /// The runs of results ready to hand out: for each job, its packets from the first
    /// not delivered up to the first without a result, built into result rows. A job
    /// whose every packet was delivered is forgotten.
    pub(crate) fn deliveries(&mut self) -> Vec<(u64, orcapod::Result<Completed>)> {
        let mut out = Vec::new();
        let mut done = Vec::new();
        for (&id, entry) in &mut self.jobs {
            let start = entry.sent;
            let mut end = start;
            while end < entry.results.len() && entry.results[end].is_some() {
                end += 1;
            }
            if end == start {
                continue;
            }
            let results: Vec<PacketResult> = entry.results[start..end]
                .iter_mut()
                .map(|r| r.take().expect("a result up to `end`"))
                .collect();
            out.push((id, entry.job.build(start, results, entry.retried)));
            entry.retried = 0;
            entry.sent = end;
            if end == entry.results.len() {
                done.push(id);
            }
        }
        for id in done {
            self.jobs.remove(&id);
        }
        out.sort_by_key(|(id, _)| *id);
        out
    }
}
