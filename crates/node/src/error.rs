use branchline_core::bundle::BundleError;
use branchline_core::validate::ValidationError;
use branchline_store::StoreError;

/// Every error a front end can see. `code()` is stable: scripts and the UI match on
/// it, never on the message.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    #[error("no {kind} matches '{key}'")]
    NotFound { kind: String, key: String },
    #[error("'{key}' matches more than one {kind}: {hint}")]
    Ambiguous { kind: String, key: String, hint: String },
    #[error(transparent)]
    Bundle(#[from] BundleError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("automerge: {0}")]
    Automerge(Box<automerge::AutomergeError>),
    #[error("document: {0}")]
    Doc(#[from] branchline_core::doc::DocError),
    #[error("no replica in {0}: run `branchline init` or `branchline demo` first")]
    NotInitialised(String),
    #[error("{0} already holds a replica")]
    AlreadyInitialised(String),
    #[error("{0}")]
    Usage(String),
    #[error("{1}")]
    Net(&'static str, String),
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
}

impl NodeError {
    pub fn code(&self) -> &'static str {
        match self {
            NodeError::Invalid(_) => "invalid",
            NodeError::NotFound { .. } => "not_found",
            NodeError::Ambiguous { .. } => "ambiguous",
            NodeError::Bundle(BundleError::ForeignSystem { .. }) => "bundle_foreign",
            NodeError::Bundle(_) => "bundle_corrupt",
            NodeError::Store(StoreError::DiskFull) => "disk_full",
            NodeError::Store(StoreError::TooNew { .. }) => "store_too_new",
            NodeError::Store(_) => "store",
            NodeError::Automerge(_) | NodeError::Doc(_) => "document",
            NodeError::NotInitialised(_) => "not_initialised",
            NodeError::AlreadyInitialised(_) => "already_initialised",
            NodeError::Usage(_) => "usage",
            NodeError::Io { .. } => "io",
            NodeError::Net(code, _) => code,
        }
    }

    /// The field a validation error names, for forms.
    pub fn field(&self) -> Option<&str> {
        match self {
            NodeError::Invalid(v) => Some(&v.field),
            _ => None,
        }
    }
}

impl From<automerge::AutomergeError> for NodeError {
    fn from(e: automerge::AutomergeError) -> Self {
        NodeError::Automerge(Box::new(e))
    }
}

pub type Result<T> = std::result::Result<T, NodeError>;
