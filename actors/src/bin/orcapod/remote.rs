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
//! `{"show": NODE, "node_hash": CONTENT_HASH}`; the answer is one JSON line (`{"rows":
//! N}` or `{"error": MESSAGE}`) followed by the node's stored rows as an Arrow IPC
//! stream, read from the run's own store exactly as `show` reads a closed database
//! ([`stored_source`]). The run answers for *its* pipeline: the node's content hash
//! must be the one the asker computed from its file, or the answer says that the file
//! changed since the run started. Requests are served one at a time on one thread that
//! only reads; the run goes on meanwhile. Nothing here can start a command.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::FileTypeExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use arrow::ipc::reader::StreamReader;
use arrow::ipc::writer::StreamWriter;
use orcapod::model::Stream;
use orcapod::pipeline::{stored_source, Node, Pipeline};
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
        listener.set_nonblocking(true)?;
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let thread = std::thread::Builder::new()
            .name("orcapod-show-server".to_string())
            .spawn(move || {
                while !stopped.load(Ordering::SeqCst) {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            // A broken connection concerns only the one who asked.
                            let _ = answer(stream, store.as_ref(), &pipeline);
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                            std::thread::sleep(Duration::from_millis(20));
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(20)),
                    }
                }
            })?;
        Ok(Server {
            path,
            stop,
            thread: Some(thread),
        })
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
            let _ = thread.join();
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

fn answer(stream: UnixStream, store: &dyn ArrowStore, pipeline: &Pipeline) -> std::io::Result<()> {
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
        Ok(rows) => {
            writeln!(out, "{}", serde_json::json!({ "rows": rows.num_rows() }))?;
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

fn stored_rows(
    request: &serde_json::Value,
    store: &dyn ArrowStore,
    pipeline: &Pipeline,
) -> Result<Stream, String> {
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
    stored_source(store, pipeline, name)
        .map(|source| source.stream().clone())
        .map_err(|e| format!("cannot read the results of `{name}`: {e}"))
}

/// Asks the run listening on `socket` for the stored rows of `node` (of the asker's
/// pipeline file).
pub fn fetch(socket: &Path, node: &Node) -> Result<Stream, String> {
    let stream = UnixStream::connect(socket)
        .map_err(|e| format!("cannot reach it at {}: {e}", socket.display()))?;
    stream
        .set_read_timeout(Some(ANSWER_TIMEOUT))
        .map_err(|e| e.to_string())?;
    let request = serde_json::json!({
        "show": node.name(),
        "node_hash": node.identity().content.to_string(),
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
    Stream::new(schema.clone(), batches).map_err(|e| e.to_string())
}
