//! The Branchline desktop shell: the node runs in this process (store, sync,
//! discovery), the web UI calls it through Tauri commands, and node events are pushed
//! to the UI as Tauri events. Commands are one-liners over the node facade; the only
//! logic here is wiring.

mod commands;
mod config;
mod error;
mod pumps;

pub use config::Config;
pub use error::AppError;

use branchline_node::service::{ServeOptions, Service};
use branchline_node::Node;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tauri::Manager;

/// What every command reaches: the configuration and, once this computer has a
/// library system, the running node.
pub struct AppState {
    pub cfg: Config,
    pub started: Instant,
    svc: Mutex<Option<Arc<Service>>>,
    app: Mutex<Option<tauri::AppHandle>>,
    /// Milliseconds from start to the first interactive dashboard, once the UI says so.
    pub ready_ms: Mutex<Option<u128>>,
}

impl AppState {
    fn service(&self) -> Result<Arc<Service>, AppError> {
        self.svc
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .ok_or_else(AppError::not_ready)
    }

    /// Run `f` against the node off the UI thread.
    pub async fn node<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Node) -> branchline_node::Result<R> + Send + 'static,
    ) -> Result<R, AppError> {
        let svc = self.service()?;
        tauri::async_runtime::spawn_blocking(move || svc.with_node(f))
            .await
            .map_err(|e| AppError::new("internal", format!("the task stopped: {e}")))?
            .map_err(AppError::from)
    }

    /// Start the node over a replica and the pumps that feed the UI.
    pub async fn start(&self, mut node: Node) -> Result<(), AppError> {
        node.set_clock(self.cfg.clock);
        let mut opts = ServeOptions::new(self.cfg.listen);
        opts.mdns.enabled = self.cfg.mdns.is_some();
        opts.mdns.interface = self.cfg.mdns.clone().flatten();
        let svc = match Service::start(node, opts.clone()).await {
            Ok(s) => s,
            // The fixed port is taken (a `branchline serve` on this computer): take
            // any port rather than not start; peers learn it by mDNS or by address.
            Err(e) if self.cfg.listen.port() != 0 && e.code() == "net.io" => {
                let mut any = opts;
                any.listen.set_port(0);
                Service::start(Node::open(&self.cfg.data)?, any).await?
            }
            Err(e) => return Err(e.into()),
        };
        let svc = Arc::new(svc);
        *self.svc.lock().unwrap_or_else(|p| p.into_inner()) = Some(svc.clone());
        if let Some(app) = self.app.lock().unwrap_or_else(|p| p.into_inner()).clone() {
            pumps::spawn(app, svc);
        }
        Ok(())
    }

    async fn stop(&self) {
        let svc = self.svc.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(svc) = svc {
            // Commands in flight hold clones for a moment; wait for them to finish.
            let mut svc = svc;
            for _ in 0..50 {
                match Arc::try_unwrap(svc) {
                    Ok(s) => {
                        s.shutdown().await;
                        return;
                    }
                    Err(again) => {
                        svc = again;
                        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                    }
                }
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    #[error(transparent)]
    App(#[from] AppError),
    #[error("the window system: {0}")]
    Tauri(#[from] tauri::Error),
}

pub fn run(started: Instant) -> Result<(), RunError> {
    let args: Vec<String> = std::env::args().collect();
    let cfg = Config::from_env(&args)?;
    let state = AppState {
        cfg,
        started,
        svc: Mutex::new(None),
        app: Mutex::new(None),
        ready_ms: Mutex::new(None),
    };
    let app = tauri::Builder::default()
        .manage(state)
        .invoke_handler(commands::handler())
        .setup(|app| {
            let state = app.state::<AppState>();
            *state.app.lock().unwrap_or_else(|p| p.into_inner()) = Some(app.handle().clone());
            if branchline_node::db_path(&state.cfg.data).exists() {
                let node = Node::open(&state.cfg.data).map_err(AppError::from)?;
                tauri::async_runtime::block_on(state.start(node))?;
            }
            Ok(())
        })
        .build(tauri::generate_context!())?;
    app.run(|handle, event| {
        if let tauri::RunEvent::Exit = event {
            let state = handle.state::<AppState>();
            tauri::async_runtime::block_on(state.stop());
        }
    });
    Ok(())
}
