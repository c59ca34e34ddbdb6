//! The report of the error a command failed with: printed once, at the end, its cause chain on
//! one line and the advice that fits it.
//!
//! ```text
//! error: nothing accepts connections at 127.0.0.1:1: Connection refused (os error 111)
//!   code: connection_refused
//!   what to do: Check the port: ...
//! ```
//!
//! With `--log-format json`, one object on one line instead, shaped like the log lines:
//! `{"timestamp":..,"level":"ERROR","message":..,"causes":[..],"code":..,"advice":..}`.

use std::error::Error as _;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::Failure;
use crate::args::LogFormatArg;

/// What is said about a failure.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Report {
    /// Our own words.
    pub(crate) message: String,
    /// The causes, outermost first; a cause whose text the line already holds is left out
    /// (some errors repeat their cause's text in their own).
    pub(crate) causes: Vec<String>,
    /// The library's error code.
    pub(crate) code: Option<&'static str>,
    /// What to do (the simulated cluster's errors have no advice).
    pub(crate) advice: Option<String>,
}

impl Report {
    pub(crate) fn of(failure: &Failure) -> Self {
        match failure {
            Failure::Audit(error) => Self::new(
                error.to_string(),
                error.source(),
                Some(error.code()),
                Some(error.advice().to_string()),
            ),
            Failure::Output(error) => Self::new(
                "could not write events to stdout".to_owned(),
                Some(error),
                None,
                Some(
                    "Check where stdout goes (a full disk, a reader that failed); the cursor \
                     covers only what was written, so running the command again loses nothing."
                        .to_owned(),
                ),
            ),
        }
    }

    /// The report of an error saying `message` in its own words, with its `source` chain.
    pub(crate) fn new(
        message: String,
        mut source: Option<&(dyn std::error::Error + 'static)>,
        code: Option<&'static str>,
        advice: Option<String>,
    ) -> Self {
        let message = one_line(&message);
        let mut line = message.clone();
        let mut causes = Vec::new();
        while let Some(cause) = source {
            let text = one_line(&cause.to_string());
            if !text.is_empty() && !line.contains(&text) {
                line.push_str(": ");
                line.push_str(&text);
                causes.push(text);
            }
            source = cause.source();
        }
        Self {
            message,
            causes,
            code,
            advice: advice.as_deref().map(one_line),
        }
    }

    /// `error: ours: cause: cause`, then the code and the advice on their own lines (each when
    /// there is one).
    pub(crate) fn text(&self) -> String {
        let mut text = format!("error: {}", self.message);
        for cause in &self.causes {
            text.push_str(": ");
            text.push_str(cause);
        }
        text.push('\n');
        if let Some(code) = self.code {
            text.push_str(&format!("  code: {code}\n"));
        }
        if let Some(advice) = &self.advice {
            text.push_str(&format!("  what to do: {advice}\n"));
        }
        text
    }

    /// One JSON object and a newline.
    pub(crate) fn json(&self, now: OffsetDateTime) -> String {
        let line = serde_json::json!({
            "timestamp": now.format(&Rfc3339).unwrap_or_default(),
            "level": "ERROR",
            "message": self.message,
            "causes": self.causes,
            "code": self.code,
            "advice": self.advice,
        });
        format!("{line}\n")
    }
}

/// Prints the report of `failure` on stderr, in one write, secrets redacted.
pub(crate) fn print(failure: &Failure, format: LogFormatArg) {
    Report::of(failure).print(format);
}

impl Report {
    /// Prints the report on stderr in `format`, in one write, secrets redacted.
    pub(crate) fn print(&self, format: LogFormatArg) {
        let text = match format {
            LogFormatArg::Text => self.text(),
            LogFormatArg::Json => self.json(OffsetDateTime::now_utc()),
        };
        crate::progress::write_stderr(text.as_bytes());
    }
}

/// Line breaks (some causes are multi-line) as spaces, and no surrounding space.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Cause(&'static str, Option<Box<Cause>>);

    impl std::fmt::Display for Cause {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }

    impl std::error::Error for Cause {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            self.1.as_deref().map(|c| c as _)
        }
    }

    #[test]
    fn the_chain_on_one_line_each_cause_once() {
        let chain = Cause(
            "transport error",
            Some(Box::new(Cause("Connection refused\n(os error 111)", None))),
        );
        let report = Report::new(
            "nothing accepts connections at 127.0.0.1:1".into(),
            Some(&chain),
            Some("connection_refused"),
            Some("Check the port.".into()),
        );
        assert_eq!(
            report.text(),
            "error: nothing accepts connections at 127.0.0.1:1: transport error: Connection refused \
             (os error 111)\n  code: connection_refused\n  what to do: Check the port.\n"
        );
        // A message that already holds its cause's text does not say it twice.
        let cause = Cause("no \"v\" (version) field", None);
        let report = Report::new(
            "invalid cursor: cur.json: no \"v\" (version) field".into(),
            Some(&cause),
            Some("invalid_cursor"),
            Some("Use another cursor.".into()),
        );
        assert!(report.causes.is_empty());
        assert_eq!(report.text().matches("version").count(), 1);
    }

    #[test]
    fn json_is_one_object_on_one_line() {
        let cause = Cause("broken pipe", None);
        let report = Report::new(
            "could not write".into(),
            Some(&cause),
            None,
            Some("Look.".into()),
        );
        let json = report.json(OffsetDateTime::UNIX_EPOCH);
        assert_eq!(json.lines().count(), 1);
        let value: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(value["level"], "ERROR");
        assert_eq!(value["message"], "could not write");
        assert_eq!(value["causes"], serde_json::json!(["broken pipe"]));
        assert_eq!(value["code"], serde_json::Value::Null);
        assert_eq!(value["advice"], "Look.");
        assert_eq!(value["timestamp"], "1970-01-01T00:00:00Z");
    }

    #[test]
    fn library_errors_bring_their_code_and_advice() {
        let error = teleport_audit::Error::Cursor(teleport_audit::CursorError::Invalid {
            reason: "the first run saved no cursor".to_owned(),
            source: None,
        });
        let report = Report::of(&Failure::Audit(error));
        assert_eq!(report.code, Some("invalid_cursor"));
        assert!(
            report
                .advice
                .as_deref()
                .is_some_and(|advice| !advice.is_empty())
        );
        assert!(report.text().starts_with("error: invalid cursor: "));
    }
}
