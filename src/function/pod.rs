//! [`FunctionPod`]: a packet function placed in a pipeline — identity, input
//! validation and output schema.

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, FieldRef};

use super::slurm::{Executor, SlurmSettings};
use super::PacketFunction;
use crate::error::{Error, Result};
use crate::hashing::content_hash::write_hex;
use crate::hashing::identity::schema_value;
use crate::hashing::python_type::{data_type_hash, python_type_name};
use crate::hashing::semantic::to_json_text;
use crate::hashing::{hash_value, ContentHash, Value};
use crate::model::columns::{source_info_column, BLOCK_SEPARATOR};
use crate::model::StreamSchema;
use sha2::{Digest, Sha256};

/// A function's URI: `(name, output schema hash, "v{major}", type id)` — its identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionUri {
    /// Canonical function name.
    pub name: String,
    /// Semantic hash of the output schema.
    pub output_schema_hash: ContentHash,
    /// Major version.
    pub major: u64,
    /// Function type id.
    pub type_id: String,
}

impl FunctionUri {
    /// The URI's components as strings, as they appear in database paths.
    pub fn components(&self) -> Vec<String> {
        vec![
            self.name.clone(),
            self.output_schema_hash.to_string(),
            format!("v{}", self.major),
            self.type_id.clone(),
        ]
    }

    /// The identity structure: a tuple of the four components.
    pub fn identity_structure(&self) -> Value {
        Value::Tuple(self.components().into_iter().map(Value::Str).collect())
    }

    /// The prefix of function-output source info: the components joined by `:`.
    pub fn source_prefix(&self) -> String {
        self.components().join(":")
    }
}

/// A packet function as a pipeline node: the function plus how it may be run.
#[derive(Clone)]
pub struct FunctionPod {
    function: Arc<dyn PacketFunction>,
    uri: FunctionUri,
    max_concurrency: Option<usize>,
    retries: u32,
    /// Where its packets are computed, and what a Slurm executor asks for (command
    /// functions only; neither enters any identity).
    executor: Executor,
    slurm: Arc<SlurmSettings>,
    /// The semantic JSON text of `(uri, input hash)` around the input hash: result ids
    /// hash `prefix ‖ "hash" ‖ suffix` without rebuilding the structure per packet.
    result_id_text: Arc<ResultIdText>,
    /// [`FunctionUri::source_prefix`], computed once.
    source_prefix: Arc<str>,
}

impl std::fmt::Debug for FunctionPod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FunctionPod")
            .field("uri", &self.uri)
            .field("max_concurrency", &self.max_concurrency)
            .field("retries", &self.retries)
            .field("executor", &self.executor)
            .finish()
    }
}

impl PartialEq for FunctionPod {
    fn eq(&self, other: &Self) -> bool {
        self.uri == other.uri
            && self.max_concurrency == other.max_concurrency
            && self.retries == other.retries
            && self.executor == other.executor
            && self.slurm == other.slurm
    }
}

/// The most packets one function node computes at once.
pub const MAX_CONCURRENCY: usize = 1024;

impl FunctionPod {
    /// Wraps a function; checks its version and computes its URI.
    pub fn new(function: Arc<dyn PacketFunction>) -> Result<Self> {
        let context = format!("function `{}`", function.name());
        if function.output_schema().is_empty() {
            return Err(Error::invalid(
                &context,
                "a function needs at least one output column",
            ));
        }
        let major = parse_major(function.version()).ok_or_else(|| {
            Error::invalid(
                &context,
                format!(
                    "version `{}` is not of the form v<major>.<minor> (e.g. v1.0)",
                    function.version()
                ),
            )
        })?;
        let output_schema_hash = hash_value(&schema_value(function.output_schema())?);
        let uri = FunctionUri {
            name: function.name().to_string(),
            output_schema_hash,
            major,
            type_id: function.type_id().to_string(),
        };
        let result_id_text = Arc::new(ResultIdText::new(&uri));
        let source_prefix = uri.source_prefix().into();
        Ok(FunctionPod {
            function,
            uri,
            max_concurrency: None,
            retries: 0,
            executor: Executor::Local,
            slurm: Arc::new(SlurmSettings::default()),
            result_id_text,
            source_prefix,
        })
    }

    /// Limits how many packets of this node are computed at once (1 to
    /// [`MAX_CONCURRENCY`]).
    pub fn with_max_concurrency(mut self, max: usize) -> Result<Self> {
        if max == 0 {
            return Err(Error::invalid(
                format!("function `{}`", self.uri.name),
                "max_concurrency must be at least 1",
            ));
        }
        if max > MAX_CONCURRENCY {
            return Err(Error::invalid(
                format!("function `{}`", self.uri.name),
                format!(
                    "max_concurrency is {max}, above the limit of {MAX_CONCURRENCY} \
                     (each packet computed at once takes a thread and, for a command, a \
                     process)"
                ),
            ));
        }
        self.max_concurrency = Some(max);
        Ok(self)
    }

    /// Runs the node's packets with `executor`, with `slurm` settings for the Slurm
    /// executor. Errors if the executor is Slurm and the function is not a command.
    pub fn with_executor(mut self, executor: Executor, slurm: SlurmSettings) -> Result<Self> {
        if executor == Executor::Slurm && self.function.as_command().is_none() {
            return Err(Error::invalid(
                format!("function `{}`", self.function.name()),
                "`executor: slurm` applies to command functions only",
            ));
        }
        self.executor = executor;
        self.slurm = Arc::new(slurm);
        Ok(self)
    }

    /// Where the node's packets are computed.
    pub fn executor(&self) -> Executor {
        self.executor
    }

    /// What the Slurm executor asks for (the defaults unless set).
    pub fn slurm(&self) -> &SlurmSettings {
        &self.slurm
    }

    /// Computes a failed packet again up to `retries` more times (with exponential
    /// backoff, see [`retry_backoff`](crate::function::retry_backoff)) before it counts
    /// as failed. Retries do not enter the identity.
    pub fn with_retries(mut self, retries: u32) -> Self {
        self.retries = retries;
        self
    }

    /// How many times a failed packet is computed again before it counts as failed.
    pub fn retries(&self) -> u32 {
        self.retries
    }

    /// The function.
    pub fn function(&self) -> &Arc<dyn PacketFunction> {
        &self.function
    }

    /// The function's URI.
    pub fn uri(&self) -> &FunctionUri {
        &self.uri
    }

    /// The node's own limit on concurrent packets, if any.
    pub fn max_concurrency(&self) -> Option<usize> {
        self.max_concurrency
    }

    /// The pod's content hash (its pipeline hash is the same): the hash of its URI.
    pub fn content_hash(&self) -> ContentHash {
        hash_value(&self.uri.identity_structure())
    }

    /// Checks that `input` fits the function: every packet column is a parameter of a
    /// compatible type, and every parameter is present. Extra columns are rejected, as
    /// in the reference: select or drop them upstream.
    pub fn check_input(&self, input: &StreamSchema) -> Result<()> {
        let op = format!("function `{}`", self.uri.name);
        let params = self.function.input_schema();
        let mut problems = Vec::new();
        for field in input.packet_fields() {
            match params.iter().find(|p| p.name() == field.name()) {
                None => problems.push(format!(
                    "packet column `{}` is not a parameter of the function",
                    field.name()
                )),
                Some(param) => {
                    let same_type = data_type_hash(field.data_type()).ok()
                        == data_type_hash(param.data_type()).ok();
                    if !same_type || (field.is_nullable() && !param.is_nullable()) {
                        problems.push(format!(
                            "packet column `{}` is {} but the function takes {}",
                            field.name(),
                            python_type_name(field),
                            python_type_name(param)
                        ));
                    }
                }
            }
        }
        for param in params {
            if !input.packet_names().contains(param.name()) {
                problems.push(format!("parameter `{}` has no packet column", param.name()));
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(Error::schema(
                op,
                format!(
                    "{}; the input packets are {{{}}}",
                    problems.join("; "),
                    input
                        .packet_fields()
                        .iter()
                        .map(|f| format!("{}: {}", f.name(), python_type_name(f)))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ))
        }
    }

    /// The output schema for `input`: its tags and system tags, the function's output
    /// columns, and a source-info column per output column.
    pub fn output_schema(&self, input: &StreamSchema) -> Result<StreamSchema> {
        let packets: Vec<FieldRef> = self
            .function
            .output_schema()
            .iter()
            .map(|f| {
                Arc::new(
                    f.as_ref()
                        .clone()
                        .with_data_type(crate::source::large_type(f.data_type())),
                )
            })
            .collect();
        let sources = packets
            .iter()
            .map(|f| {
                Arc::new(Field::new(
                    source_info_column(f.name()),
                    DataType::LargeUtf8,
                    false,
                ))
            })
            .collect();
        StreamSchema::new(
            input.tag_fields().to_vec(),
            packets,
            input.system_tag_fields().to_vec(),
            sources,
        )
    }

    /// The record id of the result of this function on an input packet: derived from
    /// the URI and the input packet's content hash, so a result has the same id in every
    /// run and executor (the reference uses a random uuid7 instead).
    pub fn result_id(&self, input_packet_hash: &str) -> String {
        let mut id = String::with_capacity(RESULT_ID_LEN);
        self.push_result_id(&mut id, input_packet_hash);
        id
    }

    /// [`FunctionPod::result_id`], appended to `out` (no allocation of its own on the
    /// fast path: what deriving the ids of many results needs).
    pub fn push_result_id(&self, out: &mut String, input_packet_hash: &str) {
        let plain = is_plain_json(input_packet_hash.as_bytes());
        let mut buf = [0u8; 32];
        let slow;
        let h: &str = if plain {
            // The JSON text of such a string is the string in quotes.
            let text = &*self.result_id_text;
            let mut hasher = text.prefix_state.clone();
            hasher.update(b"\"");
            hasher.update(input_packet_hash.as_bytes());
            hasher.update(b"\"");
            hasher.update(text.suffix.as_bytes());
            write_hex(&mut buf, &hasher.finalize()[..16]);
            // Only ASCII hex digits were written.
            std::str::from_utf8(&buf).unwrap_or_default()
        } else {
            slow = self.result_id_slow(input_packet_hash);
            &slow
        };
        out.reserve(RESULT_ID_LEN);
        for (i, part) in [&h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32]]
            .into_iter()
            .enumerate()
        {
            if i > 0 {
                out.push('-');
            }
            out.push_str(part);
        }
    }

    /// [`FunctionPod::result_id`]'s digest hex through the semantic hasher.
    fn result_id_slow(&self, input_packet_hash: &str) -> String {
        hash_value(&Value::tuple([
            self.uri.identity_structure(),
            Value::str(input_packet_hash),
        ]))
        .hex()
    }

    /// The source info of output column `key` of result `result_id`.
    pub fn source_info(&self, result_id: &str, key: &str) -> String {
        let mut s = String::new();
        self.push_source_info(&mut s, result_id, key);
        s
    }

    /// The prefix of every source info of this function's results: the URI's
    /// components joined by `:`.
    pub fn source_prefix(&self) -> &str {
        &self.source_prefix
    }

    /// Appends [`FunctionPod::source_info`] to `out`.
    pub fn push_source_info(&self, out: &mut String, result_id: &str, key: &str) {
        out.reserve(
            self.source_prefix.len() + result_id.len() + key.len() + 2 * BLOCK_SEPARATOR.len(),
        );
        out.push_str(&self.source_prefix);
        out.push_str(BLOCK_SEPARATOR);
        out.push_str(result_id);
        out.push_str(BLOCK_SEPARATOR);
        out.push_str(key);
    }
}

/// Whether JSON renders every byte of `bytes` as itself inside a string (and
/// `result_id`'s fast path accepts it): ASCII letters, digits and `_.:-`. Branch-free
/// per byte, so that it runs many bytes at a time (every result id asks it).
fn is_plain_json(bytes: &[u8]) -> bool {
    bytes.iter().fold(true, |plain, &b| {
        let letter = (b | 0x20).wrapping_sub(b'a') < 26;
        let digit = b.wrapping_sub(b'0') < 10;
        let mark = (b == b'_') | (b == b'.') | (b == b':') | (b == b'-');
        plain & (letter | digit | mark)
    })
}

/// The length of a result id (a UUID-shaped 36-character string).
pub(crate) const RESULT_ID_LEN: usize = 36;

/// The semantic JSON text of `(uri, input hash)` around the quoted input hash: the
/// SHA-256 state after the text before it, and the text after it.
#[derive(Clone)]
struct ResultIdText {
    prefix_state: Sha256,
    suffix: String,
}

impl ResultIdText {
    fn new(uri: &FunctionUri) -> ResultIdText {
        const MARKER: &str = "orcapod.input.hash.marker";
        let text = to_json_text(&Value::tuple([
            uri.identity_structure(),
            Value::str(MARKER),
        ]));
        let quoted = format!("\"{MARKER}\"");
        // The marker is rendered as a JSON string, so it is found.
        let at = text.rfind(&quoted).unwrap_or(text.len());
        let mut prefix_state = Sha256::new();
        prefix_state.update(&text.as_bytes()[..at]);
        ResultIdText {
            prefix_state,
            suffix: text
                .get(at + quoted.len()..)
                .unwrap_or_default()
                .to_string(),
        }
    }
}

/// The major number of a version such as `v1.2.3`: non-digits, digits, a dot, the rest.
fn parse_major(version: &str) -> Option<u64> {
    let digits_start = version.find(|c: char| c.is_ascii_digit())?;
    let rest = &version[digits_start..];
    let digits_end = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    if !rest[digits_end..].starts_with('.') {
        return None;
    }
    rest[..digits_end].parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_like_the_reference() {
        assert_eq!(parse_major("v1.2.3"), Some(1));
        assert_eq!(parse_major("v0.0"), Some(0));
        assert_eq!(parse_major("12.0"), Some(12));
        assert_eq!(parse_major("v1"), None);
        assert_eq!(parse_major("latest"), None);
    }

    #[test]
    fn result_ids_hash_the_uri_and_the_input_hash_semantically() {
        use crate::function::closure::ClosureFunction;
        use arrow::datatypes::{DataType, Field};
        let f = ClosureFunction::new(
            "f",
            vec![Arc::new(Field::new("x", DataType::Int64, false))],
            vec![Arc::new(Field::new("y", DataType::Int64, false))],
            |_| Ok(vec![]),
        );
        let pod = FunctionPod::new(Arc::new(f)).unwrap();
        // Every ASCII character, and beyond, between two plain ones: a character the
        // fast path took for plain but JSON escapes would give another id.
        let each_char = (0u8..128)
            .map(char::from)
            .chain(['é', '\u{7f}', '\u{2028}'])
            .map(|c| format!("a{c}b"));
        let inputs = [
            "arrow_v0.1:000001d3b07384d113edec49eaa6238ad5ff00",
            "plain",
            "with \"quotes\" and é",
            "",
        ];
        for input in inputs.map(String::from).into_iter().chain(each_char) {
            let input = input.as_str();
            let h = pod.result_id_slow(input);
            let expected = format!(
                "{}-{}-{}-{}-{}",
                &h[0..8],
                &h[8..12],
                &h[12..16],
                &h[16..20],
                &h[20..32]
            );
            assert_eq!(pod.result_id(input), expected, "{input}");
        }
    }
}
