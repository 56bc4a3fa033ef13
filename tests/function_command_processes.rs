//! Command processes never outlive their worker or this process: `kill_all_commands`
//! kills every command with its process group, and the kernel kills a command whose
//! parent dies. Each test runs itself alone in a child process of this test binary.

mod function_command_helpers;

use std::io::Read;
use std::time::{Duration, Instant};

use function_command_helpers::*;
use orcapod::function::command::{kill_all_commands, CommandWorker};

const KILL_ALL: &str = "kill_all_commands_kills_busy_commands_and_their_groups";

const ORPHAN: &str = "commands_die_with_the_process_that_started_them";

#[test]
fn kill_all_commands_kills_busy_commands_and_their_groups() {
    if mode().as_deref() != Some("kill-all") {
        // It kills every command of this process: run it in a process of its own,
        // so that the commands of tests running beside it are left alone.
        let child = run_alone(KILL_ALL, "kill-all");
        let out = child.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{stdout}");
        assert!(stdout.contains("1 passed"), "{stdout}");
        return;
    }
    // A command busy computing, with a child of its own, and an idle one.
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("child");
    let f = py_xy(&format!(
        "import subprocess\nc = subprocess.Popen(['sleep', '60'])\n\
         open({:?} + '.tmp', 'w').write(str(c.pid))\nos.rename({:?} + '.tmp', {:?})\n\
         while True:\n    pass",
        marker.display().to_string(),
        marker.display().to_string(),
        marker.display().to_string(),
    ));
    let idle = CommandWorker::start(&f).unwrap();
    let idle_pid = idle.pid().unwrap();
    let mut busy = CommandWorker::start(&f).unwrap();
    let busy_pid = busy.pid().unwrap();
    let waiting_for = marker.clone();
    let killer = std::thread::spawn(move || {
        // Once the command is busy (its child started), from another thread.
        let deadline = Instant::now() + Duration::from_secs(20);
        while !waiting_for.exists() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        (kill_all_commands(), Instant::now())
    });
    let err = y(&mut busy, 1).unwrap_err();
    let returned = Instant::now();
    let (killed, killed_at) = killer.join().unwrap();
    assert_eq!(killed, 2);
    assert!(
        returned.duration_since(killed_at) < Duration::from_secs(2),
        "the call returned {:?} after the kill",
        returned.duration_since(killed_at)
    );
    assert!(err.message.contains("signal: 9"), "{}", err.message);
    let grandchild: u32 = std::fs::read_to_string(&marker).unwrap().parse().unwrap();
    assert!(dead(busy_pid));
    assert!(
        wait_until_dead(grandchild, Duration::from_secs(2)),
        "its child"
    );
    assert!(
        wait_until_dead(idle_pid, Duration::from_secs(2)),
        "the idle one"
    );
    drop(idle);
    // The worker goes on with a fresh process.
    assert!(busy.pid().is_none());
}

#[test]
fn commands_die_with_the_process_that_started_them() {
    if mode().as_deref() != Some("orphan") {
        // A child process starts a command, says its pid, and is killed (SIGKILL:
        // no handler, no destructor runs): the kernel must kill the command.
        let mut child = run_alone(ORPHAN, "orphan");
        let mut stdout = child.stdout.take().unwrap();
        let mut seen = Vec::new();
        let mut buf = [0u8; 256];
        let pid: u32 = loop {
            let n = stdout.read(&mut buf).unwrap();
            assert!(n > 0, "{}", String::from_utf8_lossy(&seen));
            seen.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&seen);
            if let Some(rest) = text.split("command pid ").nth(1) {
                if let Some((pid, _)) = rest.split_once('\n') {
                    break pid.parse().unwrap();
                }
            }
        };
        assert!(!dead(pid));
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(
            wait_until_dead(pid, Duration::from_secs(2)),
            "{pid} outlived its parent"
        );
        return;
    }
    // A command that would outlive its parent: it never reads its input, so it
    // does not end when its stdin closes.
    let f = command(&["sleep", "60"], ints(&["x"]), ints(&["y"]));
    let worker = CommandWorker::start(&f).unwrap();
    println!("command pid {}", worker.pid().unwrap());
    std::thread::sleep(Duration::from_secs(60));
    drop(worker);
}

#[test]
fn a_command_that_closes_its_output_is_waited_for_until_it_exits() {
    // It closes its stdout before answering and exits a moment later, well within the
    // exit grace: its own exit status is reported, it is not killed.
    let f = sh_xy("read line; exec 1>&-; sleep 0.3; exit 5");
    let mut worker = CommandWorker::start(&f).unwrap();
    let started = Instant::now();
    let err = y(&mut worker, 1).unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(2), "{err:?}");
    assert!(
        err.message.contains(
            "closed its output before answering; it exited with a failure (exit status: 5)"
        ),
        "{}",
        err.message
    );
}
