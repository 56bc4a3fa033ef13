//! `show` during a run: the running `orcapod run` answers through a local socket.
//!
//! sled lets one process open a database, and the run holds it. Among the ways for
//! another process to read stored rows meanwhile:
//!
//! - copying the database directory and opening the copy races with sled's own
//!   writes and gives a torn copy;
//! - having the run export every node's rows to files on a timer costs the run work
//!   nobody may ask for, and is stale by up to a period;
//! - asking the process that holds the database is exact and costs nothing until
//!   someone asks. That is this module.
//!
//! The run listens on a Unix-domain socket ([`Server`]) whose path it announces in its
//! progress file ([`crate::live`]): `run.sock` in the database directory, or, when that
//! path is too long for a socket address (108 bytes on Linux), `orcapod-{pid}.sock` in
//! the temporary directory. The socket takes the directory's permissions, so only who
//! may read the database may ask. A request is one JSON line,
//! `{"show": NODE, "node_hash": CONTENT_HASH, "rows": "current" | "all_stored"}`; the
//! answer is one JSON line (`{"rows": N, "of": "current" | "all_stored", "warnings":
//! [...]}` or `{"error": MESSAGE}`) followed by the node's rows as an Arrow IPC stream,
//! computed from the run's own store exactly as `show` computes them from a closed
//! database: `current`, the node's rows as a run would give them now, from the results
//! stored so far (a lookup-only [`SyncExecutor`], which calls no function and writes
//! nothing), with the packets still missing as warnings; `all_stored`, every result
//! stored for the node ([`stored_source`]; also what a request without `rows`, from an
//! older `show`, gets). The run answers for *its* pipeline: the node's content hash
//! must be the one the asker computed from its file, or the answer says that the file
//! changed since the run started. Requests are served one at a time on one thread that
//! only reads; the run goes on meanwhile. Nothing here can start a command. Under
//! `--watch`, each round hands the server the pipeline it loaded ([`Server::serve`]),
//! so `show` answers for the sources as the latest round read them.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::FileTypeExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arrow::ipc::reader::StreamReader;
use arrow::ipc::writer::StreamWriter;
use orcapod::model::Stream;
use orcapod::pipeline::{stored_source, Node, Pipeline, RunWarning, SyncExecutor};
use orcapod::store::ArrowStore;

/// The longest socket path the platform accepts (`sun_path` holds 108 bytes with the
/// terminating NUL).
const MAX_SOCKET_PATH: usize = 107;
/// The longest request line read.
const MAX_REQUEST: u64 = 64 * 1024;
/// How long the server waits for a request, and the asker for the answer to begin.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
const ANSWER_TIMEOUT: Duration = Duration::from_secs(120);

/// The socket of a running `orcapod run`; dropping it stops serving and removes it.
pub struct Server {
    path: PathBuf,
    /// The pipeline whose nodes are served (replaced by each round of `--watch`).
    pipeline: Arc<Mutex<Arc<Pipeline>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    /// Starts serving the stored rows of `pipeline`'s nodes from `store`; `db` is the
    /// (absolute) database directory.
    pub fn start(
        db: &Path,
        store: Arc<dyn ArrowStore>,
        pipeline: Arc<Pipeline>,
    ) -> std::io::Result<Server> {
        let path = socket_path(db);
        remove_stale_socket(&path);
        let listener = UnixListener::bind(&path)?;
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let served = Arc::new(Mutex::new(pipeline));
        let current = served.clone();
        // `accept` blocks: dropping the server sets `stop`, then connects once to wake
        // it, so the run neither polls nor waits for a poll to end.
        let thread = std::thread::Builder::new()
            .name("orcapod-show-server".to_string())
            .spawn(move || loop {
                let accepted = listener.accept();
                if stopped.load(Ordering::SeqCst) {
                    return;
                }
                match accepted {
                    // A broken connection concerns only the one who asked.
                    Ok((stream, _)) => {
                        let pipeline = current
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner)
                            .clone();
                        let _ = answer(stream, &store, &pipeline);
                    }
                    // Out of descriptors, say: try again a little later.
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            })?;
        Ok(Server {
            path,
            pipeline: served,
            stop,
            thread: Some(thread),
        })
    }

    /// Serves `pipeline` from now on (a new round of `--watch`, over the sources as it
    /// read them).
    pub fn serve(&self, pipeline: Arc<Pipeline>) {
        *self
            .pipeline
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = pipeline;
    }

    /// Where it listens.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            // Wakes the blocked `accept`; if even that fails, the thread is left to end
            // with the process rather than waited for.
            if UnixStream::connect(&self.path).is_ok() {
                let _ = thread.join();
            }
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

/// `run.sock` in the database directory, or a per-process socket in the temporary
/// directory when that path is too long.
fn socket_path(db: &Path) -> PathBuf {
    let beside = db.join("run.sock");
    if beside.as_os_str().len() <= MAX_SOCKET_PATH {
        beside
    } else {
        std::env::temp_dir().join(format!("orcapod-{}.sock", std::process::id()))
    }
}

/// Removes a socket left by a killed run (never a file of another kind).
pub fn remove_stale_socket(path: &Path) {
    if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_socket()) {
        let _ = std::fs::remove_file(path);
    }
}

fn answer(
    stream: UnixStream,
    store: &Arc<dyn ArrowStore>,
    pipeline: &Pipeline,
) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(REQUEST_TIMEOUT))?;
    let mut line = String::new();
    BufReader::new((&stream).take(MAX_REQUEST)).read_line(&mut line)?;
    let mut out = std::io::BufWriter::new(&stream);
    let rows = serde_json::from_str::<serde_json::Value>(&line)
        .map_err(|e| format!("a malformed request: {e}"))
        .and_then(|request| stored_rows(&request, store, pipeline));
    match rows {
        Err(message) => {
            writeln!(out, "{}", serde_json::json!({ "error": message }))?;
        }
        Ok((rows, of, warnings)) => {
            let warnings: Vec<serde_json::Value> = warnings.iter().map(warning_json).collect();
            let header = serde_json::json!({
                "rows": rows.num_rows(),
                "of": of,
                "warnings": warnings,
            });
            writeln!(out, "{header}")?;
            let mut writer = StreamWriter::try_new(&mut out, rows.schema().arrow())
                .map_err(std::io::Error::other)?;
            for batch in rows.batches() {
                writer.write(batch).map_err(std::io::Error::other)?;
            }
            writer.finish().map_err(std::io::Error::other)?;
        }
    }
    out.flush()
}

/// What a request asks of the run: `"rows": "current"` (what a run would give now,
/// computed lookup-only from the stored results) or `"all_stored"` (every stored
/// result of the node; also what a request without `rows` gets, as older askers
/// expect). Returns the rows, which of the two they are, and the warnings.
fn stored_rows(
    request: &serde_json::Value,
    store: &Arc<dyn ArrowStore>,
    pipeline: &Pipeline,
) -> Result<(Stream, &'static str, Vec<RunWarning>), String> {
    let name = request["show"].as_str().ok_or("a request without `show`")?;
    let node = pipeline
        .node(name)
        .ok_or_else(|| format!("the running pipeline has no node `{name}`"))?;
    if request["node_hash"].as_str() != Some(node.identity().content.to_string().as_str()) {
        return Err(format!(
            "node `{name}` of the running pipeline is not the file's node `{name}`: the \
             file changed since the run started; show it again once the run has ended"
        ));
    }
    match request["rows"].as_str() {
        Some("current") => {
            let mut executor = SyncExecutor::new(pipeline)
                .with_store(store.clone())
                .map_err(|e| format!("cannot read the store: {e}"))?
                .lookup_only();
            let rows = executor
                .output(name)
                .map_err(|e| format!("cannot compute `{name}`: {e}"))?
                .clone();
            Ok((rows, "current", executor.warnings().to_vec()))
        }
        None | Some("all_stored") => stored_source(store.as_ref(), pipeline, name)
            .and_then(|source| source.stream())
            .map(|rows| (rows, "all_stored", Vec::new()))
            .map_err(|e| format!("cannot read the results of `{name}`: {e}")),
        Some(other) => Err(format!("a request for unknown rows `{other}`")),
    }
}

/// A warning as the answer's header carries it.
fn warning_json(warning: &RunWarning) -> serde_json::Value {
    match warning {
        RunWarning::NothingToReplay { node, path } => serde_json::json!({
            "kind": "nothing_to_replay",
            "node": node,
            "path": path,
        }),
        RunWarning::ResultsMissing {
            node,
            packets,
            rows,
        } => serde_json::json!({
            "kind": "results_missing",
            "node": node,
            "packets": packets,
            "rows": rows,
        }),
    }
}

/// The warning [`warning_json`] wrote.
fn warning_of_json(value: &serde_json::Value) -> Result<RunWarning, String> {
    let text = |key: &str| {
        value[key]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| format!("a malformed warning: {value}"))
    };
    let count = |key: &str| {
        value[key]
            .as_u64()
            .ok_or_else(|| format!("a malformed warning: {value}"))
    };
    match value["kind"].as_str() {
        Some("nothing_to_replay") => Ok(RunWarning::NothingToReplay {
            node: text("node")?,
            path: text("path")?,
        }),
        Some("results_missing") => Ok(RunWarning::ResultsMissing {
            node: text("node")?,
            packets: count("packets")?,
            rows: count("rows")?,
        }),
        _ => Err(format!("an unknown warning: {value}")),
    }
}

/// Asks the run listening on `socket` for the rows of `node` (of the asker's pipeline
/// file): what a run would give now from the results stored so far, with the warnings,
/// or with `all_stored` every result stored for it.
pub fn fetch(
    socket: &Path,
    node: &Node,
    all_stored: bool,
) -> Result<(Stream, Vec<RunWarning>), String> {
    let stream = UnixStream::connect(socket)
        .map_err(|e| format!("cannot reach it at {}: {e}", socket.display()))?;
    stream
        .set_read_timeout(Some(ANSWER_TIMEOUT))
        .map_err(|e| e.to_string())?;
    let wanted = if all_stored { "all_stored" } else { "current" };
    let request = serde_json::json!({
        "show": node.name(),
        "node_hash": node.identity().content.to_string(),
        "rows": wanted,
    });
    (&stream)
        .write_all(format!("{request}\n").as_bytes())
        .map_err(|e| format!("cannot ask it: {e}"))?;
    let mut reader = BufReader::new(&stream);
    let mut header = String::new();
    reader
        .read_line(&mut header)
        .map_err(|e| format!("no answer: {e}"))?;
    let header: serde_json::Value =
        serde_json::from_str(&header).map_err(|e| format!("a malformed answer: {e}"))?;
    if let Some(message) = header["error"].as_str() {
        return Err(message.to_string());
    }
    if header["of"].as_str() != Some(wanted) {
        return Err(
            "it is an older orcapod, which can only show every stored result of a node \
             (`show --all-stored`); `show` computes the node's current rows when the run ends"
                .to_string(),
        );
    }
    let warnings = header["warnings"]
        .as_array()
        .map(|all| {
            all.iter()
                .map(warning_of_json)
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()?
        .unwrap_or_default();
    let batches = StreamReader::try_new(reader, None)
        .and_then(|r| r.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("a malformed answer: {e}"))?;
    let schema = node.output_schema();
    if batches
        .iter()
        .any(|b| b.schema().fields() != schema.arrow().fields())
    {
        return Err(format!(
            "the rows of `{}` do not have the schema the file gives the node",
            node.name()
        ));
    }
    let batches = batches.into_iter().filter(|b| b.num_rows() > 0).collect();
    let rows = Stream::new(schema.clone(), batches).map_err(|e| e.to_string())?;
    Ok((rows, warnings))
}
