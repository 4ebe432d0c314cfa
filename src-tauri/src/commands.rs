//! The Tauri commands: each is one call on the node facade (ui/CONTRACT.md lists
//! them with their shapes). Argument parsing is the only thing done here.

use crate::{AppError, AppState};
use branchline_core::conflict::Conflict;
use branchline_core::doc::Record;
use branchline_core::schema::{FieldType, Kind, Retire};
use branchline_core::Fields;
use branchline_node::service::PeerStatus;
use branchline_node::views::{BookingDay, Dashboard};
use branchline_node::{HistoryEntry, Identity, KnownPeer, ListFilter, Node, StockLevel};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use tauri::State;

type Res<T> = Result<T, AppError>;
type St<'a> = State<'a, AppState>;

pub fn handler() -> impl Fn(tauri::ipc::Invoke) -> bool + Send + Sync + 'static {
    tauri::generate_handler![
        app_info,
        start_demo,
        start_new,
        join_system,
        schema,
        list,
        get,
        create,
        update,
        retire,
        check,
        add_work,
        use_part,
        stock_levels,
        conflicts,
        resolve_conflict,
        history,
        dashboard,
        booking_day,
        sync_status,
        invite,
        revoke_device,
        add_peer,
        set_staff,
        ui_ready,
    ]
}

fn kind(name: &str) -> Res<Kind> {
    Kind::parse(name)
        .ok_or_else(|| AppError::new("usage", format!("there is no kind of record called '{name}'")))
}

fn date(s: &str) -> Res<NaiveDate> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| AppError {
        code: "invalid".into(),
        message: format!("'{s}' is not a date (YYYY-MM-DD)"),
        field: Some("date".into()),
    })
}

#[derive(Debug, Serialize)]
pub struct AppInfo {
    state: &'static str,
    identity: Option<Identity>,
    data_dir: String,
    listen: Option<String>,
    started_ms: u128,
    /// Start to the first interactive dashboard (None until the UI reports it).
    ready_ms: Option<u128>,
}

#[tauri::command]
async fn app_info(st: St<'_>) -> Res<AppInfo> {
    let svc = st.service().ok();
    Ok(AppInfo {
        state: if svc.is_some() { "ready" } else { "empty" },
        identity: svc.as_ref().map(|s| s.with_node(|n| n.identity().clone())),
        data_dir: st.cfg.data.display().to_string(),
        listen: svc.and_then(|s| s.local_addr().ok()).map(|a| a.to_string()),
        started_ms: st.started.elapsed().as_millis(),
        ready_ms: *st.ready_ms.lock().unwrap_or_else(|p| p.into_inner()),
    })
}

fn fresh(st: &AppState) -> Res<()> {
    if st.service().is_ok() || branchline_node::db_path(&st.cfg.data).exists() {
        return Err(AppError::new(
            "already_initialised",
            "This computer already holds a library system.",
        ));
    }
    std::fs::create_dir_all(&st.cfg.data)
        .map_err(|e| AppError::new("io", format!("cannot create {}: {e}", st.cfg.data.display())))
}

#[tauri::command]
async fn start_demo(st: St<'_>) -> Res<Identity> {
    fresh(&st)?;
    let (dir, clock) = (st.cfg.data.clone(), st.cfg.clock);
    let node = tauri::async_runtime::spawn_blocking(move || -> branchline_node::Result<Node> {
        let mut node = Node::init(
            &dir,
            "Demo County Public Library",
            "CEN",
            Some("Central Library"),
            "central-desk",
        )?;
        node.set_clock(clock);
        let today = node.now().1.date();
        branchline_node::demo::fill(&mut node, branchline_node::demo::DemoSize::FULL, today, 7)?;
        Ok(node)
    })
    .await
    .map_err(|e| AppError::new("internal", e.to_string()))??;
    let ident = node.identity().clone();
    st.start(node).await?;
    Ok(ident)
}

#[tauri::command]
async fn start_new(
    st: St<'_>,
    system: String,
    branch: String,
    branch_name: Option<String>,
    device: String,
) -> Res<Identity> {
    fresh(&st)?;
    let node = Node::init(&st.cfg.data, &system, &branch, branch_name.as_deref(), &device)?;
    let ident = node.identity().clone();
    st.start(node).await?;
    Ok(ident)
}

#[tauri::command]
async fn join_system(
    st: St<'_>,
    code: String,
    device: String,
    branch: String,
    peer: Option<String>,
) -> Res<Identity> {
    fresh(&st)?;
    let peer = match peer.filter(|p| !p.trim().is_empty()) {
        Some(p) => Some(p.trim().parse().map_err(|_| AppError {
            code: "invalid".into(),
            message: format!("'{p}' is not an address: give HOST:PORT, e.g. 192.168.1.20:7733"),
            field: Some("peer".into()),
        })?),
        None => None,
    };
    let (node, _) = branchline_node::service::join(&st.cfg.data, &code, &device, &branch, peer).await?;
    let ident = node.identity().clone();
    st.start(node).await?;
    Ok(ident)
}

#[derive(Debug, Serialize)]
pub struct FieldDefOut {
    name: &'static str,
    #[serde(rename = "type")]
    ty: &'static str,
    required: bool,
    default: Option<&'static str>,
    help: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    options: Option<&'static [&'static str]>,
    #[serde(rename = "ref", skip_serializing_if = "Option::is_none")]
    refers: Option<&'static str>,
    multiline: bool,
}

#[derive(Debug, Serialize)]
pub struct KindDef {
    kind: &'static str,
    about: &'static str,
    fields: Vec<FieldDefOut>,
    retire: Option<&'static str>,
}

/// The schema as the UI's generic forms read it.
pub fn schema_defs() -> Vec<KindDef> {
    Kind::ALL
        .iter()
        .map(|&k| KindDef {
            kind: k.name(),
            about: k.about(),
            retire: match k.retire() {
                Retire::Flag(f) => Some(f),
                Retire::Status(s) => Some(s),
                Retire::Never => None,
            },
            fields: k
                .fields()
                .iter()
                .map(|f| {
                    let (ty, options, refers) = match f.ty {
                        FieldType::Text => ("text", None, None),
                        FieldType::Int => ("int", None, None),
                        FieldType::Money => ("money", None, None),
                        FieldType::Date => ("date", None, None),
                        FieldType::DateTime => ("datetime", None, None),
                        FieldType::Bool => ("bool", None, None),
                        FieldType::Enum(o) => ("enum", Some(o), None),
                        FieldType::Branch => ("branch", None, None),
                        FieldType::Branches => ("branches", None, None),
                        FieldType::Ref(r) => ("ref", None, Some(r.name())),
                    };
                    FieldDefOut {
                        name: f.name,
                        ty,
                        required: f.required,
                        default: f.default,
                        help: f.help,
                        options,
                        refers,
                        multiline: matches!(f.name, "text" | "description" | "notes" | "resolution"),
                    }
                })
                .collect(),
        })
        .collect()
}

#[tauri::command]
async fn schema() -> Res<Vec<KindDef>> {
    Ok(schema_defs())
}

#[derive(Debug, Default, Deserialize)]
pub struct FilterIn {
    branch: Option<String>,
    search: Option<String>,
    from_day: Option<String>,
    to_day: Option<String>,
    #[serde(default)]
    fields: Vec<(String, String)>,
    limit: Option<usize>,
}

impl From<FilterIn> for ListFilter {
    fn from(f: FilterIn) -> ListFilter {
        let blank = |s: Option<String>| s.filter(|s| !s.trim().is_empty());
        ListFilter {
            branch: blank(f.branch),
            search: blank(f.search),
            from_day: blank(f.from_day),
            to_day: blank(f.to_day),
            fields: f.fields,
            limit: f.limit,
        }
    }
}

#[tauri::command]
async fn list(st: St<'_>, kind: String, filter: Option<FilterIn>) -> Res<Vec<Record>> {
    let (k, f) = (self::kind(&kind)?, ListFilter::from(filter.unwrap_or_default()));
    st.node(move |n| n.list(k, &f)).await
}

#[tauri::command]
async fn get(st: St<'_>, kind: String, key: String) -> Res<Record> {
    let k = self::kind(&kind)?;
    st.node(move |n| n.get(k, &key)).await
}

#[tauri::command]
async fn create(st: St<'_>, kind: String, fields: Fields) -> Res<Record> {
    let k = self::kind(&kind)?;
    st.node(move |n| n.create(k, fields)).await
}

#[tauri::command]
async fn update(st: St<'_>, kind: String, key: String, fields: Fields) -> Res<Record> {
    let k = self::kind(&kind)?;
    st.node(move |n| n.update(k, &key, fields)).await
}

#[tauri::command]
async fn retire(st: St<'_>, kind: String, key: String) -> Res<Record> {
    let k = self::kind(&kind)?;
    st.node(move |n| n.retire(k, &key)).await
}

/// Validation only: `None` when the record would be accepted.
#[tauri::command]
async fn check(st: St<'_>, kind: String, key: Option<String>, fields: Fields) -> Res<Option<AppError>> {
    let k = self::kind(&kind)?;
    let r = st.node(move |n| n.check(k, key.as_deref(), fields)).await;
    match r {
        Ok(()) => Ok(None),
        Err(e) if matches!(e.code.as_str(), "invalid" | "not_found" | "ambiguous") => Ok(Some(e)),
        Err(e) => Err(e),
    }
}

#[tauri::command]
async fn add_work(st: St<'_>, ticket: String, minutes: i64, text: String) -> Res<Record> {
    st.node(move |n| n.add_work(&ticket, minutes, &text)).await
}

#[tauri::command]
async fn use_part(st: St<'_>, ticket: String, item: String, qty: i64) -> Res<Record> {
    st.node(move |n| n.use_part(&ticket, &item, qty)).await
}

#[tauri::command]
async fn stock_levels(st: St<'_>, branch: Option<String>) -> Res<Vec<StockLevel>> {
    st.node(move |n| n.stock_levels(branch.as_deref())).await
}

#[tauri::command]
async fn conflicts(st: St<'_>) -> Res<Vec<Conflict>> {
    st.node(|n| n.conflicts()).await
}

#[tauri::command]
async fn resolve_conflict(st: St<'_>, id: String, keep: String) -> Res<String> {
    st.node(move |n| n.resolve(&id, &keep)).await
}

#[derive(Debug, Serialize)]
pub struct History {
    record: Record,
    entries: Vec<HistoryEntry>,
}

#[tauri::command]
async fn history(st: St<'_>, key: String) -> Res<History> {
    let (record, entries) = st.node(move |n| n.history(&key)).await?;
    Ok(History { record, entries })
}

#[tauri::command]
async fn dashboard(st: St<'_>, branch: String, date: Option<String>) -> Res<Dashboard> {
    let day = date.as_deref().map(self::date).transpose()?;
    let mut d = st.node(move |n| n.dashboard(&branch, day)).await?;
    // The live session table knows better than what was last written down.
    let peers = st.service()?.peers();
    if !peers.is_empty() {
        d.sync.connected = peers.iter().filter(|p| p.connected).count() as u64;
        d.sync.waiting = peers.iter().map(|p| p.docs_waiting).sum();
        d.sync.last_synced = peers
            .iter()
            .filter_map(|p| p.last_synced)
            .max()
            .or(d.sync.last_synced);
        d.sync.known = d.sync.known.max(peers.len() as u64);
    }
    Ok(d)
}

#[tauri::command]
async fn booking_day(st: St<'_>, branch: String, date: String) -> Res<BookingDay> {
    let day = self::date(&date)?;
    st.node(move |n| n.booking_day(&branch, day)).await
}

#[derive(Debug, Serialize)]
pub struct SyncStatus {
    identity: Identity,
    listen: Option<String>,
    peers: Vec<PeerStatus>,
    known: Vec<KnownPeer>,
    conflicts: usize,
}

#[tauri::command]
async fn sync_status(st: St<'_>) -> Res<SyncStatus> {
    let svc = st.service()?;
    let (identity, known, conflicts) = st
        .node(|n| Ok((n.identity().clone(), n.known_peers()?, n.conflicts()?.len())))
        .await?;
    Ok(SyncStatus {
        identity,
        listen: svc.local_addr().ok().map(|a| a.to_string()),
        peers: svc.peers(),
        known,
        conflicts,
    })
}

#[derive(Debug, Serialize)]
pub struct InviteOut {
    code: String,
    expires: String,
}

#[tauri::command]
async fn invite(st: St<'_>, role: String, expires_hours: Option<i64>) -> Res<InviteOut> {
    let svc = st.service()?;
    let port = svc.local_addr().map_err(AppError::from)?.port();
    let addrs: Vec<std::net::SocketAddr> = if st.cfg.listen.ip().is_loopback() {
        vec![std::net::SocketAddr::new(st.cfg.listen.ip(), port)]
    } else {
        branchline_net_addrs(port)
    };
    let secs = expires_hours.unwrap_or(24).clamp(1, 24 * 30) * 3600;
    let inv = st.node(move |n| n.create_invite(&role, secs, addrs)).await?;
    Ok(InviteOut {
        code: inv.code,
        expires: inv.expires,
    })
}

/// This computer's LAN addresses, which an invite code carries to the new device.
fn branchline_net_addrs(port: u16) -> Vec<std::net::SocketAddr> {
    branchline_net::discovery::local_addresses()
        .into_iter()
        .map(|ip| std::net::SocketAddr::new(ip, port))
        .collect()
}

#[tauri::command]
async fn revoke_device(st: St<'_>, id: String) -> Res<Record> {
    st.node(move |n| n.revoke_device(&id)).await
}

#[tauri::command]
async fn add_peer(st: St<'_>, addr: String) -> Res<()> {
    let a: std::net::SocketAddr = addr.trim().parse().map_err(|_| AppError {
        code: "invalid".into(),
        message: format!("'{addr}' is not an address: give HOST:PORT, e.g. 192.168.1.20:7733"),
        field: Some("addr".into()),
    })?;
    st.node(move |n| n.add_peer(&a.to_string(), "static", None)).await
}

/// Who is at the desk: their id goes on every change this app makes (history and
/// conflicts show it), until the app closes or someone else takes over.
#[tauri::command]
async fn set_staff(st: St<'_>, key: Option<String>) -> Res<()> {
    st.node(move |n| n.set_staff(key.as_deref().filter(|k| !k.trim().is_empty())))
        .await
}

/// The UI says its first dashboard is interactive: the start-up figure.
#[tauri::command]
async fn ui_ready(st: St<'_>, ms: f64) -> Res<()> {
    let elapsed = st.started.elapsed().as_millis();
    let mut ready = st.ready_ms.lock().unwrap_or_else(|p| p.into_inner());
    if ready.is_none() {
        *ready = Some(elapsed);
        eprintln!("branchline-app: dashboard interactive {elapsed} ms after start (page {ms:.0} ms)");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schema_names_every_kind_with_typed_fields() {
        let defs = schema_defs();
        assert_eq!(defs.len(), Kind::ALL.len());
        let booking = defs.iter().find(|d| d.kind == "booking").unwrap();
        let station = booking.fields.iter().find(|f| f.name == "station").unwrap();
        assert_eq!(
            (station.ty, station.refers, station.required),
            ("ref", Some("asset"), true)
        );
        let status = booking.fields.iter().find(|f| f.name == "status").unwrap();
        assert_eq!(status.ty, "enum");
        assert!(status.options.unwrap().contains(&"no-show"));
        assert_eq!(booking.retire, Some("cancelled"));
        let page = defs.iter().find(|d| d.kind == "page").unwrap();
        assert!(page.fields.iter().any(|f| f.multiline));
    }

    #[test]
    fn a_blank_filter_field_means_no_filter() {
        let f = ListFilter::from(FilterIn {
            branch: Some(" ".into()),
            search: Some("dell".into()),
            ..Default::default()
        });
        assert_eq!(f.branch, None);
        assert_eq!(f.search.as_deref(), Some("dell"));
    }
}
