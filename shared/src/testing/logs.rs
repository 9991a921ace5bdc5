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

    /// The security events' lines (`crate::security_log::log`).
    pub fn security_events(&self) -> Vec<Value> {
        self.lines()
            .into_iter()
            .filter(|line| line["fields"]["kind"] == "security_event")
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

thread_local! {
    /// Where this thread's log lines go while a test captures them.
    static CAPTURING: std::cell::RefCell<Option<CapturedLogs>> = const { std::cell::RefCell::new(None) };
}

/// Writes to the capture of the thread it writes on, if any; elsewhere nowhere.
struct ThisThread;

impl std::io::Write for ThisThread {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        CAPTURING.with(|capturing| match capturing.borrow_mut().as_mut() {
            Some(logs) => logs.write(bytes),
            None => Ok(bytes.len()),
        })
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Stops this thread's capture when dropped.
pub struct CaptureGuard(());

impl Drop for CaptureGuard {
    fn drop(&mut self) {
        CAPTURING.with(|capturing| capturing.borrow_mut().take());
    }
}

/// Captures this thread's logs (a `#[tokio::test]` runs on one thread) until the guard drops.
///
/// One global subscriber for the whole test binary, writing to the capture of the thread that
/// logs: a scoped subscriber per test (`set_default`) lost lines, as tracing caches whether a
/// callsite is wanted across threads and another test's thread could have it cached "never"
/// for the lifetime of ours.
pub fn capture_logs() -> (CapturedLogs, CaptureGuard) {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        let subscriber =
            crate::logging::subscriber(|| ThisThread, tracing_subscriber::filter::LevelFilter::INFO, "", true);
        // A binary that set its own global subscriber keeps it (and captures nothing).
        let _ = tracing::subscriber::set_global_default(subscriber);
    });
    let logs = CapturedLogs::default();
    CAPTURING.with(|capturing| *capturing.borrow_mut() = Some(logs.clone()));
    (logs, CaptureGuard(()))
}
