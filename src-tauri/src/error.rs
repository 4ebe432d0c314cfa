//! What a failed command gives the UI: a stable code to match on, a sentence to show,
//! and the form field it concerns.

use branchline_node::NodeError;
use serde::Serialize;

#[derive(Debug, Clone, Serialize, thiserror::Error)]
#[error("{code}: {message}")]
pub struct AppError {
    pub code: String,
    pub message: String,
    pub field: Option<String>,
}

impl AppError {
    pub fn new(code: &str, message: impl Into<String>) -> AppError {
        AppError {
            code: code.into(),
            message: message.into(),
            field: None,
        }
    }

    pub fn not_ready() -> AppError {
        AppError::new(
            "not_initialised",
            "This computer has no library system yet: join one, start one, or explore the demo.",
        )
    }
}

impl From<NodeError> for AppError {
    fn from(e: NodeError) -> AppError {
        AppError {
            code: e.code().to_string(),
            field: e.field().map(str::to_string),
            message: plain(&e),
        }
    }
}

/// The message staff read. Validation errors already name the field in words; the
/// rest get a sentence about what it means for them.
fn plain(e: &NodeError) -> String {
    match e {
        // The form shows it beside the field it names, so the field is not repeated.
        NodeError::Invalid(v) => v.message.clone(),
        NodeError::Store(branchline_store::StoreError::DiskFull) => {
            "The disk is full: nothing was saved. Free some space and try again.".into()
        }
        NodeError::Net(code, msg) if code.starts_with("net.") => {
            format!("Could not reach the other computer: {msg}")
        }
        _ => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_validation_error_keeps_its_code_and_field() {
        let e = NodeError::Invalid(branchline_core::validate::ValidationError {
            field: "end".into(),
            message: "is before start".into(),
        });
        let a = AppError::from(e);
        assert_eq!(a.code, "invalid");
        assert_eq!(a.field.as_deref(), Some("end"));
        assert_eq!(a.message, "is before start");
    }

    #[test]
    fn a_full_disk_says_nothing_was_saved() {
        let a = AppError::from(NodeError::Store(branchline_store::StoreError::DiskFull));
        assert_eq!(a.code, "disk_full");
        assert!(a.message.contains("nothing was saved"));
    }
}
