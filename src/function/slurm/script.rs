//! What is submitted: the batch script of one job array ([`batch_script`]) and the
//! `sbatch` arguments that submit it ([`sbatch_args`]).
//!
//! Array task `i` of a submission runs the node's command once, in the command's working
//! directory, on chunk `i` of the submission: the chunk's requests on stdin, its stdout
//! and stderr to files beside it ([`ChunkPaths`]), then it writes the command's exit
//! status to the chunk's exit marker (a temporary file renamed into place, so the marker
//! is whole when it exists, and exists only once stdout is complete).
//!
//! Text only: this file never writes a file nor runs a program.

use std::path::Path;

use super::chunk::ChunkPaths;
use super::settings::SlurmSettings;
use crate::files::OUT_DIR_VAR;

/// A word quoted for `bash`: single quotes, with each `'` written `'\''`.
pub fn shell_quote(word: &str) -> String {
    let mut quoted = String::with_capacity(word.len() + 2);
    quoted.push('\'');
    for c in word.chars() {
        if c == '\'' {
            quoted.push_str("'\\''");
        } else {
            quoted.push(c);
        }
    }
    quoted.push('\'');
    quoted
}

/// The batch script of one submission: array task `i` runs `command` (program, then
/// arguments) in `working_dir` on `chunks[i]`. With `files` (the command's outputs hold
/// files), the command gets `ORCAPOD_OUT_DIR` fresh and empty for each packet, as a
/// local worker gives it ([`files_driver`]).
pub fn batch_script(
    command: &[String],
    working_dir: &Path,
    chunks: &[ChunkPaths],
    files: bool,
) -> String {
    let mut script = String::from(
        "#!/bin/bash\n\
         # Written by orcapod: array task i runs the command on chunk i (stdin), its\n\
         # stdout and stderr to files, then writes its exit status to the exit marker.\n\
         set -u\n\
         chunks=(\n",
    );
    for chunk in chunks {
        script.push_str("  ");
        script.push_str(&shell_quote(&chunk.stem().to_string_lossy()));
        script.push('\n');
    }
    script.push_str(")\nstem=\"${chunks[$SLURM_ARRAY_TASK_ID]}\"\n");
    script.push_str("cd ");
    script.push_str(&shell_quote(&working_dir.to_string_lossy()));
    script.push_str(
        " || { echo \"orcapod: cannot enter the working directory\" >\"$stem.err\"; \
         echo 126 >\"$stem.exit.tmp\"; mv -f \"$stem.exit.tmp\" \"$stem.exit\"; exit 126; }\n",
    );
    let words: Vec<String> = command.iter().map(|w| shell_quote(w)).collect();
    if files {
        script.push_str(&files_driver(&words.join(" ")));
    } else {
        script.push_str(&words.join(" "));
        script.push_str(" <\"$stem.in\" >\"$stem.out\" 2>\"$stem.err\"\ncode=$?\n");
    }
    script.push_str(
        "echo \"$code\" >\"$stem.exit.tmp\" && mv -f \"$stem.exit.tmp\" \"$stem.exit\"\n\
         exit \"$code\"\n",
    );
    script
}

/// The part of a batch script that runs `command` (quoted words) packet by packet, as a
/// local worker does, and leaves its exit status in `code`.
///
/// The chunk's files directory ([`ChunkPaths::files`]) is made fresh and empty and the
/// command is started with `ORCAPOD_OUT_DIR` naming `{files}/cur`, its stdin and stdout
/// through named pipes (in a temporary directory of the node). Each request is written,
/// then the next non-blank line of stdout is read as its answer and appended to the
/// chunk's `.out`; `cur` is then renamed to the answer's number and made afresh. So the
/// command sees a fresh, empty directory for each packet and must answer a packet
/// before it gets the next, exactly as under a local worker. The loop ends early when
/// the command ends; whatever it writes after its last answer goes to `.out` too (so an
/// extra line is seen when the chunk is read back).
pub fn files_driver(command: &str) -> String {
    format!(
        "fail() {{ echo \"orcapod: $1\" >>\"$stem.err\"; echo 126 >\"$stem.exit.tmp\"; \
         mv -f \"$stem.exit.tmp\" \"$stem.exit\"; exit 126; }}\n\
         files=\"$stem.files\"\n\
         rm -rf \"$files\" && mkdir -p \"$files/cur\" || fail \"cannot make $files\"\n\
         pipes=$(mktemp -d) && mkfifo \"$pipes/req\" \"$pipes/ans\" || fail \"cannot make pipes\"\n\
         : >\"$stem.out\" && : >\"$stem.err\" || fail \"cannot write beside $stem\"\n\
         {var}=\"$files/cur\" {command} <\"$pipes/req\" >\"$pipes/ans\" 2>>\"$stem.err\" &\n\
         pid=$!\n\
         exec {{to}}>\"$pipes/req\" {{from}}<\"$pipes/ans\"\n\
         trap '' PIPE\n\
         n=0\n\
         while IFS= read -r request; do\n\
         \x20 printf '%s\\n' \"$request\" >&\"$to\" || break\n\
         \x20 answer=\n\
         \x20 while IFS= read -r line <&\"$from\" || [ -n \"$line\" ]; do\n\
         \x20   case \"$line\" in *[![:space:]]*) answer=$line; break ;; esac\n\
         \x20 done\n\
         \x20 [ -n \"$answer\" ] || break\n\
         \x20 printf '%s\\n' \"$answer\" >>\"$stem.out\"\n\
         \x20 mv \"$files/cur\" \"$files/$n\" && mkdir \"$files/cur\" || break\n\
         \x20 n=$((n + 1))\n\
         done <\"$stem.in\"\n\
         exec {{to}}>&-\n\
         cat <&\"$from\" >>\"$stem.out\"\n\
         exec {{from}}<&-\n\
         wait \"$pid\"\n\
         code=$?\n\
         rm -rf \"$pipes\"\n",
        var = OUT_DIR_VAR
    )
}

/// The arguments of `sbatch` (without the program) submitting `script` as an array of
/// `tasks` tasks, at most `settings.max_tasks` of them running at once, named
/// `job_name`, with Slurm's own log of each task (what the script itself writes, e.g.
/// when bash cannot start) in `log_dir`.
pub fn sbatch_args(
    settings: &SlurmSettings,
    job_name: &str,
    tasks: usize,
    log_dir: &Path,
    script: &Path,
) -> Vec<String> {
    let mut args = vec![
        "--parsable".to_string(),
        format!("--job-name={job_name}"),
        format!(
            "--array=0-{}%{}",
            tasks.saturating_sub(1),
            settings.max_tasks.max(1)
        ),
        format!("--output={}", log_dir.join("slurm-%A_%a.log").display()),
    ];
    if let Some(partition) = &settings.partition {
        args.push(format!("--partition={partition}"));
    }
    if let Some(cpus) = settings.cpus {
        args.push(format!("--cpus-per-task={cpus}"));
    }
    if let Some(mem) = &settings.mem {
        args.push(format!("--mem={mem}"));
    }
    if let Some(time) = &settings.time {
        args.push(format!("--time={time}"));
    }
    args.extend(settings.extra_args.iter().cloned());
    args.push(script.display().to_string());
    args
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    #[test]
    fn words_are_quoted_for_bash() {
        assert_eq!(shell_quote("plain"), "'plain'");
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("$HOME `x`"), "'$HOME `x`'");
    }

    #[test]
    fn a_script_runs_the_command_on_its_tasks_chunk() {
        let dir = PathBuf::from("/w/run/node");
        let chunks = [ChunkPaths::new(&dir, 0), ChunkPaths::new(&dir, 7)];
        let command = vec!["python3".to_string(), "f s.py".to_string()];
        let script = batch_script(&command, Path::new("/p"), &chunks, false);
        assert!(script.starts_with("#!/bin/bash\n"), "{script}");
        assert!(
            script.contains("chunks=(\n  '/w/run/node/c000000'\n  '/w/run/node/c000007'\n)"),
            "{script}"
        );
        assert!(script.contains("cd '/p' || "), "{script}");
        assert!(
            script.contains("'python3' 'f s.py' <\"$stem.in\" >\"$stem.out\" 2>\"$stem.err\"\n"),
            "{script}"
        );
        assert!(
            script.contains("mv -f \"$stem.exit.tmp\" \"$stem.exit\"\nexit \"$code\"\n"),
            "{script}"
        );
    }

    #[test]
    fn sbatch_gets_the_array_and_the_nodes_resources() {
        let settings = SlurmSettings {
            partition: Some("debug".into()),
            cpus: Some(2),
            mem: Some("1G".into()),
            time: Some("5:00".into()),
            chunk: 10,
            max_tasks: 3,
            extra_args: vec!["--qos=low".into()],
        };
        let args = sbatch_args(
            &settings,
            "orcapod-x",
            5,
            Path::new("/l"),
            Path::new("/s.sh"),
        );
        assert_eq!(
            args,
            [
                "--parsable",
                "--job-name=orcapod-x",
                "--array=0-4%3",
                "--output=/l/slurm-%A_%a.log",
                "--partition=debug",
                "--cpus-per-task=2",
                "--mem=1G",
                "--time=5:00",
                "--qos=low",
                "/s.sh"
            ]
        );
        let plain = sbatch_args(
            &SlurmSettings::default(),
            "n",
            1,
            Path::new("/l"),
            Path::new("/s"),
        );
        assert_eq!(plain[2], "--array=0-0%100");
        assert_eq!(plain.len(), 5);
    }
}
