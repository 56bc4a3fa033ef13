//! A finished chunk's stdout read back into one result per packet ([`read_answers`]),
//! with the pairing guarantees of a local worker.
//!
//! The array task's process has exited and its stdout file is complete (its exit
//! marker exists), so the whole life of the process is seen at once, as a local
//! session is when it settles:
//!
//! - `jsonl`: answers pair with requests by position only. More answer lines than
//!   requests, or a line that is not an answer (not a JSON object with exactly the
//!   output keys, nor `{"$error": ...}`), proves nothing: every packet of the chunk fails
//!   and none of its answers is kept. Fewer lines than requests: the process ended
//!   before answering the rest (the answers it gave are proven, as for a local process
//!   that exited); the first packet without an answer fails with the exit status, and
//!   the ones after it, never reached, fail [marked for a free rerun](FunctionError::rerun)
//!   (a driver computes them again without counting a retry, as a local one does).
//! - `jsonl-id`: each answer names its request; the answers pair by id in any order. A
//!   packet answered twice fails; a line with no known id pairs with nothing. Of the
//!   packets not answered, the first fails with the exit status and the others are
//!   marked for a free rerun, as above.
//!
//! Right keys with a wrong type fail that packet only ([`read_reply`]). Each result comes
//! with the number of the answer line it was read from (among the non-blank lines), so
//! that the files written for that answer can be found ([`ChunkPaths::answer_files`]).
//! Pure: it reads bytes it is given and never touches a file.
//!
//! [`ChunkPaths::answer_files`]: super::chunk::ChunkPaths::answer_files

use std::collections::HashMap;

use arrow::datatypes::FieldRef;

use super::chunk::request_id;
use crate::function::command::Protocol;
use crate::function::jsonl::{clip, read_reply, reply_id, LineFramer, Reply};
use crate::function::{FunctionError, PacketResult};

/// A packet's result, and the answer line (0: the first non-blank one) it was read from.
pub type Answer = (PacketResult, Option<usize>);

/// The results of a chunk of `packets` packets from its command's whole stdout `out`,
/// the command's `exit_status` and the tail of its stderr (kept with each failure).
pub fn read_answers(
    out: &[u8],
    packets: usize,
    output: &[FieldRef],
    protocol: Protocol,
    max_line_bytes: usize,
    exit_status: i32,
    stderr: Option<String>,
) -> Vec<Answer> {
    let fail = |message: String| FunctionError {
        message,
        stderr: stderr.clone(),
        rerun: false,
    };
    let mut framer = LineFramer::new(max_line_bytes);
    framer.push(out);
    // A last line without its newline is a line too.
    if !out.is_empty() && !out.ends_with(b"\n") {
        framer.push(b"\n");
    }
    let mut lines: Vec<Vec<u8>> = Vec::new();
    loop {
        match framer.next_line() {
            Ok(Some(line)) => lines.push(line.to_vec()),
            Ok(None) => break,
            Err(too_long) => {
                let message = format!(
                    "an answer line is longer than {} bytes; no answer of this array task \
                     can be paired with its packet",
                    too_long.limit
                );
                return (0..packets)
                    .map(|_| (Err(fail(message.clone())), None))
                    .collect();
            }
        }
    }
    match protocol {
        Protocol::Jsonl => by_position(&lines, packets, output, exit_status, &fail),
        Protocol::JsonlId => by_id(&lines, packets, output, exit_status, &fail),
    }
}

fn unanswered(exit_status: i32) -> String {
    format!(
        "the command ended (exit status {exit_status}) before answering this packet in its \
         array task"
    )
}

/// The failure of a packet the command never reached: it ended on an earlier one.
fn never_reached(exit_status: i32) -> String {
    format!(
        "not computed: the command ended (exit status {exit_status}) on an earlier packet of \
         its array task"
    )
}

/// The failure of the `nth` packet without an answer (0: the first).
fn missing(nth: usize, exit_status: i32, fail: &dyn Fn(String) -> FunctionError) -> FunctionError {
    if nth == 0 {
        fail(unanswered(exit_status))
    } else {
        fail(never_reached(exit_status)).for_rerun()
    }
}

fn by_position(
    lines: &[Vec<u8>],
    packets: usize,
    output: &[FieldRef],
    exit_status: i32,
    fail: &dyn Fn(String) -> FunctionError,
) -> Vec<Answer> {
    if lines.len() > packets {
        let message = format!(
            "protocol error: the command wrote {} answer lines for {packets} requests \
             (e.g. `{}`), so no answer of its array task can be paired with its packet; \
             write debug output to stderr",
            lines.len(),
            clip(&lines[packets])
        );
        return (0..packets)
            .map(|_| (Err(fail(message.clone())), None))
            .collect();
    }
    let mut results: Vec<Answer> = Vec::with_capacity(packets);
    for (i, line) in lines.iter().enumerate() {
        match read_reply(line, output, None) {
            Reply::Values(values) => results.push((Ok(values), Some(i))),
            Reply::Failed(message) => results.push((Err(fail(message)), Some(i))),
            Reply::NotAnAnswer(why) => {
                let message = format!(
                    "protocol error: answer line {} is not an answer ({why}): `{}`; no answer \
                     of its array task can be paired with its packet",
                    i + 1,
                    clip(line)
                );
                return (0..packets)
                    .map(|_| (Err(fail(message.clone())), None))
                    .collect();
            }
        }
    }
    let answered = results.len();
    while results.len() < packets {
        let nth = results.len() - answered;
        results.push((Err(missing(nth, exit_status, fail)), None));
    }
    results
}

fn by_id(
    lines: &[Vec<u8>],
    packets: usize,
    output: &[FieldRef],
    exit_status: i32,
    fail: &dyn Fn(String) -> FunctionError,
) -> Vec<Answer> {
    let mut answers: HashMap<usize, Vec<(usize, &[u8])>> = HashMap::new();
    let ids: HashMap<String, usize> = (0..packets).map(|i| (request_id(i), i)).collect();
    for (n, line) in lines.iter().enumerate() {
        if let Some(i) = reply_id(line).and_then(|id| ids.get(&id).copied()) {
            answers.entry(i).or_default().push((n, line));
        }
    }
    let mut unanswered_so_far = 0;
    (0..packets)
        .map(|i| match answers.get(&i).map(Vec::as_slice) {
            None | Some([]) => {
                unanswered_so_far += 1;
                (Err(missing(unanswered_so_far - 1, exit_status, fail)), None)
            }
            Some([(n, line)]) => match read_reply(line, output, Some(&request_id(i))) {
                Reply::Values(values) => (Ok(values), Some(*n)),
                Reply::Failed(message) | Reply::NotAnAnswer(message) => {
                    (Err(fail(message)), Some(*n))
                }
            },
            Some(several) => (
                Err(fail(format!(
                    "protocol error: the command answered this packet (`$id` \"{}\") {} \
                     times",
                    request_id(i),
                    several.len()
                ))),
                None,
            ),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::datatypes::{DataType, Field};

    use super::*;
    use crate::model::Datum;

    fn output() -> Vec<FieldRef> {
        vec![Arc::new(Field::new("y", DataType::Int64, false))]
    }

    fn read(out: &str, packets: usize, protocol: Protocol, exit: i32) -> Vec<PacketResult> {
        read_with_lines(out, packets, protocol, exit)
            .into_iter()
            .map(|(r, _)| r)
            .collect()
    }

    fn read_with_lines(out: &str, packets: usize, protocol: Protocol, exit: i32) -> Vec<Answer> {
        read_answers(
            out.as_bytes(),
            packets,
            &output(),
            protocol,
            1024,
            exit,
            Some("tail".into()),
        )
    }

    fn values(results: &[PacketResult]) -> Vec<Option<i64>> {
        results
            .iter()
            .map(|r| match r {
                Ok(v) => match v[..] {
                    [Datum::Int(y)] => Some(y),
                    _ => panic!("{v:?}"),
                },
                Err(_) => None,
            })
            .collect()
    }

    fn messages(results: &[PacketResult]) -> Vec<String> {
        results
            .iter()
            .filter_map(|r| r.as_ref().err().map(|e| e.message.clone()))
            .collect()
    }

    #[test]
    fn jsonl_answers_pair_by_position_and_blank_lines_are_ignored() {
        let r = read(
            "{\"y\":1}\n\n  \n{\"$error\":\"no\"}\n{\"y\":3}",
            3,
            Protocol::Jsonl,
            0,
        );
        assert_eq!(values(&r), [Some(1), None, Some(3)]);
        assert_eq!(messages(&r), ["no"]);
        assert_eq!(r[1].as_ref().unwrap_err().stderr.as_deref(), Some("tail"));
    }

    #[test]
    fn an_extra_or_stray_line_fails_the_whole_chunk() {
        let r = read("{\"y\":1}\n{\"y\":2}\n{\"y\":3}\n", 2, Protocol::Jsonl, 0);
        assert_eq!(values(&r), [None, None]);
        assert!(
            messages(&r)[0].contains("3 answer lines for 2 requests"),
            "{r:?}"
        );
        let r = read("{\"y\":1}\ndebug\n", 2, Protocol::Jsonl, 0);
        assert_eq!(values(&r), [None, None]);
        assert!(
            messages(&r)[0].contains("answer line 2 is not an answer"),
            "{r:?}"
        );
        assert!(messages(&r)[0].contains("`debug`"), "{r:?}");
    }

    #[test]
    fn a_process_that_ended_early_keeps_its_answers() {
        let r = read("{\"y\":1}\n", 3, Protocol::Jsonl, 1);
        assert_eq!(values(&r), [Some(1), None, None]);
        let m = messages(&r);
        assert!(
            m[0].starts_with("the command ended (exit status 1) before"),
            "{m:?}"
        );
        assert!(m[1].starts_with("not computed: the command ended"), "{m:?}");
        // The packet it ended on costs a retry; the ones after it are free to rerun.
        let reruns: Vec<bool> = r
            .iter()
            .skip(1)
            .map(|e| e.as_ref().unwrap_err().rerun)
            .collect();
        assert_eq!(reruns, [false, true]);
    }

    #[test]
    fn a_wrong_type_fails_its_packet_only() {
        let r = read("{\"y\":\"a\"}\n{\"y\":2}\n", 2, Protocol::Jsonl, 0);
        assert_eq!(values(&r), [None, Some(2)]);
    }

    #[test]
    fn a_line_too_long_fails_the_chunk() {
        let long = format!("{{\"y\":{}}}\n", "1".repeat(2000));
        let r = read(&long, 1, Protocol::Jsonl, 0);
        assert!(messages(&r)[0].contains("longer than 1024 bytes"), "{r:?}");
    }

    #[test]
    fn jsonl_id_answers_pair_by_id_in_any_order() {
        let out = "{\"$id\":\"2\",\"y\":30}\nnoise\n{\"$id\":\"0\",\"y\":10}\n\
                   {\"$id\":\"3\",\"y\":1}\n{\"$id\":\"3\",\"y\":2}\n{\"$id\":\"9\",\"y\":9}\n";
        let r = read(out, 4, Protocol::JsonlId, 0);
        assert_eq!(values(&r), [Some(10), None, Some(30), None]);
        let m = messages(&r);
        assert!(m[0].contains("before answering"), "{m:?}");
        assert!(m[1].contains("2 times"), "{m:?}");
        assert!(!r[1].as_ref().unwrap_err().rerun);
        let lines: Vec<Option<usize>> = read_with_lines(out, 4, Protocol::JsonlId, 0)
            .into_iter()
            .map(|(_, line)| line)
            .collect();
        assert_eq!(lines, [Some(2), None, Some(0), None]);
        let lines: Vec<Option<usize>> =
            read_with_lines("\n{\"y\":1}\n\n{\"y\":2}\n", 3, Protocol::Jsonl, 0)
                .into_iter()
                .map(|(_, line)| line)
                .collect();
        assert_eq!(lines, [Some(0), Some(1), None]);
    }
}
