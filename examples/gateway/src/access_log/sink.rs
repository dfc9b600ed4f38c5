//! Where JSON access-log lines go: a bounded buffer in front of a writer thread, so that a
//! slow output (a full disk, a blocked pipe) never holds a request.

use std::fs::OpenOptions;
use std::io::{self, BufWriter, Write};
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};

use mtls_policy::access_log::{AccessLogConfig, AccessLogFormat};

/// `mtls_access_log_dropped_total`: access-log lines dropped because the buffer was full.
pub(crate) const DROPPED_TOTAL: &str = "mtls_access_log_dropped_total";

/// Hands lines to the writer thread; cheap to clone. The thread writes until every clone is
/// dropped, then flushes and ends.
#[derive(Clone)]
pub(crate) struct JsonSink {
    lines: SyncSender<String>,
    dropped: metrics::Counter,
}

impl JsonSink {
    /// Opens the output `config` names (the file, appended to and created if missing; else
    /// standard output) and starts its writer thread.
    pub(crate) fn open(config: &AccessLogConfig) -> Result<Self, String> {
        let AccessLogFormat::Json = config.format else {
            return Err(format!(
                "access_log.format {:?} is not supported",
                config.format
            ));
        };
        let output: Box<dyn Write + Send> = match &config.path {
            Some(path) => Box::new(
                OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .map_err(|e| format!("access_log.path {}: {e}", path.display()))?,
            ),
            None => Box::new(io::stdout()),
        };
        let (lines, received) = sync_channel(config.buffer());
        std::thread::Builder::new()
            .name("access-log".into())
            .spawn(move || write_lines(&received, output))
            .map_err(|e| format!("access_log: cannot start its writer: {e}"))?;
        // Responses carry their route's name from now on.
        crate::proxy::JSON_ACCESS_LOG.store(true, Ordering::Relaxed);
        metrics::describe_counter!(
            DROPPED_TOTAL,
            "JSON access-log lines dropped because the writer was behind"
        );
        Ok(Self {
            lines,
            dropped: metrics::counter!(DROPPED_TOTAL),
        })
    }

    /// Queues `line` (without its newline), or drops and counts it when the buffer is full.
    pub(crate) fn push(&self, line: String) {
        match self.lines.try_send(line) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => self.dropped.increment(1),
            // The writer stopped (its output failed): counted as dropped as well.
            Err(TrySendError::Disconnected(_)) => self.dropped.increment(1),
        }
    }
}

/// Writes every line received, flushing whenever no more are waiting; stops on an output
/// error (logged once; later lines are counted as dropped).
fn write_lines(received: &Receiver<String>, output: Box<dyn Write + Send>) {
    let mut out = BufWriter::new(output);
    while let Ok(first) = received.recv() {
        let mut next = Some(first);
        let mut result = Ok(());
        while let Some(line) = next {
            result = out
                .write_all(line.as_bytes())
                .and_then(|()| out.write_all(b"\n"));
            if result.is_err() {
                break;
            }
            next = received.try_recv().ok();
        }
        if let Err(e) = result.and_then(|()| out.flush()) {
            tracing::error!(error = %e, "access log: cannot write; lines are dropped from now on");
            return;
        }
    }
    let _ = out.flush();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_reach_the_file_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("access.log");
        let mut config = AccessLogConfig::json();
        config.path = Some(path.clone());
        let sink = JsonSink::open(&config).unwrap();
        sink.push(r#"{"n":1}"#.into());
        sink.push(r#"{"n":2}"#.into());
        drop(sink);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::fs::read_to_string(&path).unwrap_or_default() != "{\"n\":1}\n{\"n\":2}\n" {
            assert!(std::time::Instant::now() < deadline, "lines not written");
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }

    #[test]
    fn an_unwritable_path_is_refused_with_its_name() {
        let mut config = AccessLogConfig::json();
        config.path = Some("/nonexistent-dir/access.log".into());
        let Err(e) = JsonSink::open(&config) else {
            panic!("opened");
        };
        assert!(
            e.starts_with("access_log.path /nonexistent-dir/access.log: "),
            "{e}"
        );
    }

    #[test]
    fn a_full_buffer_drops_and_counts() {
        // A buffer of one line and no writer draining it: the second line is dropped.
        let (lines, _received) = sync_channel(1);
        let dropped = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let sink = JsonSink {
            lines,
            dropped: metrics::Counter::from_arc(std::sync::Arc::clone(&dropped)),
        };
        sink.push("a".into());
        sink.push("b".into()); // never blocks
        sink.push("c".into());
        assert_eq!(dropped.load(Ordering::Relaxed), 2);
    }
}
