//! The log lines a test's handlers write, captured on the test's thread in the JSON the
//! functions write on Lambda, to check an alert is raised and that nothing secret is logged.

use serde_json::Value;

/// The log lines written on this thread while the guard of [`capture_logs`] lives, in the JSON
/// Lambda receives from the functions (`crate::logging`'s subscriber, at INFO).
#[derive(Clone, Default)]
pub struct CapturedLogs(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl CapturedLogs {
    /// Every line so far, parsed.
    pub fn lines(&self) -> Vec<Value> {
        let bytes = self.0.lock().map(|bytes| bytes.clone()).unwrap_or_default();
        String::from_utf8_lossy(&bytes)
            .lines()
            .filter_map(|line| serde_json::from_str(line).ok())
            .collect()
    }

    /// The lines carrying `alert` (`crate::logging::MAIL_SEND_FAILED`, ...).
    pub fn alerts(&self, alert: &str) -> Vec<Value> {
        self.lines()
            .into_iter()
            .filter(|line| line["fields"]["alert"] == alert)
            .collect()
    }

    /// Everything written, as text (to check that nothing secret is in it).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().map(|bytes| bytes.clone()).unwrap_or_default()).into_owned()
    }
}

impl std::io::Write for CapturedLogs {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut buffer) = self.0.lock() {
            buffer.extend_from_slice(bytes);
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Captures this thread's logs (a `#[tokio::test]` runs on one thread) until the guard drops.
pub fn capture_logs() -> (CapturedLogs, tracing::subscriber::DefaultGuard) {
    let logs = CapturedLogs::default();
    let writer = logs.clone();
    let subscriber = crate::logging::subscriber(
        move || writer.clone(),
        tracing_subscriber::filter::LevelFilter::INFO,
        "",
        true,
    );
    (logs, tracing::subscriber::set_default(subscriber))
}
