//! The data model of DOMAIN.md as a table: every kind of record, its fields and
//! their types, and which document it lives in.
//!
//! One table drives validation, the CLI's flags and help, the query index and the
//! canonical export, so adding a field is a one-line change here.

use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    Branch,
    Location,
    Staff,
    Device,
    Vendor,
    Asset,
    Licence,
    Seat,
    StockItem,
    Movement,
    Replacement,
    Ticket,
    Transfer,
    Task,
    TaskRun,
    Oncall,
    Training,
    Booking,
    Usage,
    Retrieval,
    Page,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    Text,
    Int,
    /// Integer cents; accepts "12.50" on input.
    Money,
    /// YYYY-MM-DD
    Date,
    /// YYYY-MM-DDTHH:MM in the branch's local time
    DateTime,
    Bool,
    Enum(&'static [&'static str]),
    /// A branch code.
    Branch,
    /// A comma-separated list of branch codes.
    Branches,
    /// The UUID of a record of this kind (the CLI also accepts natural keys).
    Ref(Kind),
}

#[derive(Debug, Clone, Copy)]
pub struct FieldDef {
    pub name: &'static str,
    pub ty: FieldType,
    pub required: bool,
    /// Value given when the field is absent on create.
    pub default: Option<&'static str>,
    pub help: &'static str,
}

const fn f(name: &'static str, ty: FieldType, help: &'static str) -> FieldDef {
    FieldDef {
        name,
        ty,
        required: false,
        default: None,
        help,
    }
}
const fn req(name: &'static str, ty: FieldType, help: &'static str) -> FieldDef {
    FieldDef {
        name,
        ty,
        required: true,
        default: None,
        help,
    }
}
const fn def(name: &'static str, ty: FieldType, default: &'static str, help: &'static str) -> FieldDef {
    FieldDef {
        name,
        ty,
        required: false,
        default: Some(default),
        help,
    }
}

pub const STAFF_ROLES: &[&str] = &[
    "coordinator",
    "technician",
    "gateway-assistant",
    "gateway-manager",
    "head-of-technology",
    "head-of-systems",
    "manager",
    "other",
];
pub const ASSET_CATEGORIES: &[&str] = &[
    "public-pc",
    "staff-pc",
    "printer",
    "scanner",
    "microform-reader",
    "network",
    "server",
    "laptop",
    "other",
];
pub const ASSET_STATUSES: &[&str] = &[
    "in-stock",
    "deployed",
    "in-repair",
    "awaiting-pickup",
    "in-transit",
    "retired",
    "lost",
];
pub const MOVEMENT_KINDS: &[&str] = &["receive", "issue", "transfer-out", "transfer-in", "adjust"];
pub const TICKET_STATUSES: &[&str] = &[
    "new",
    "assigned",
    "waiting-parts",
    "waiting-vendor",
    "solved",
    "closed",
];
pub const BOOKING_STATUSES: &[&str] = &["booked", "checked-in", "no-show", "cancelled", "completed"];

use FieldType as T;

const BRANCH: &[FieldDef] = &[
    req("code", T::Text, "short branch code, e.g. CEN"),
    req("name", T::Text, "branch name"),
    f("address", T::Text, "street address"),
    f("phone", T::Text, "phone"),
    def(
        "hours",
        T::Text,
        "Mon-Fri 09:00-20:00; Sat 09:00-17:00; Sun closed",
        "opening hours, e.g. 'Mon-Fri 09:00-20:00; Sat 10:00-17:00; Sun closed'",
    ),
    f("closures", T::Text, "closed dates, comma-separated YYYY-MM-DD"),
    def("session_minutes", T::Int, "60", "longest public PC session"),
    def(
        "daily_cap_minutes",
        T::Int,
        "120",
        "booked minutes a patron may have per day",
    ),
    def(
        "express_minutes",
        T::Int,
        "15",
        "session length on express stations",
    ),
    def(
        "grace_minutes",
        T::Int,
        "10",
        "minutes before a late booking becomes a no-show",
    ),
    def(
        "book_ahead_days",
        T::Int,
        "7",
        "how many days ahead patrons may book",
    ),
    def("retired", T::Bool, "false", "branch closed for good"),
];
const LOCATION: &[FieldDef] = &[
    req("branch", T::Branch, "branch code"),
    req("name", T::Text, "room or area, e.g. Gateway Center"),
    f("notes", T::Text, "notes"),
    def("retired", T::Bool, "false", "no longer in use"),
];
const STAFF: &[FieldDef] = &[
    req("name", T::Text, "full name"),
    req("role", T::Enum(STAFF_ROLES), "role"),
    f("branch", T::Branch, "home branch"),
    f("phone", T::Text, "phone"),
    f("email", T::Text, "email"),
    def("retired", T::Bool, "false", "left the library"),
];
const DEVICE: &[FieldDef] = &[
    req("name", T::Text, "device name"),
    req("branch", T::Branch, "branch the device sits in"),
    def("role", T::Enum(&["authority", "peer"]), "peer", "enrolment role"),
    f(
        "actor",
        T::Text,
        "automerge actor id (hex) this device writes with",
    ),
    f("enrolled_by", T::Text, "device id that enrolled it"),
    def(
        "revoked",
        T::Bool,
        "false",
        "revoked devices are refused by peers",
    ),
];
const VENDOR: &[FieldDef] = &[
    req("name", T::Text, "vendor name"),
    def(
        "kind",
        T::Enum(&["supplier", "manufacturer", "service"]),
        "supplier",
        "kind of vendor",
    ),
    f("account", T::Text, "our account number"),
    f("contact", T::Text, "contact person"),
    f("phone", T::Text, "phone"),
    f("email", T::Text, "email"),
    f("support_url", T::Text, "support web address"),
    f("contract_end", T::Date, "end of contract"),
    f("notes", T::Text, "notes"),
    def("retired", T::Bool, "false", "no longer used"),
];
const ASSET: &[FieldDef] = &[
    req("tag", T::Text, "asset tag (unique)"),
    req("name", T::Text, "name"),
    req("category", T::Enum(ASSET_CATEGORIES), "category"),
    f("manufacturer", T::Text, "manufacturer"),
    f("model", T::Text, "model"),
    f("serial", T::Text, "serial number"),
    f("hostname", T::Text, "network host name"),
    def("status", T::Enum(ASSET_STATUSES), "in-stock", "status"),
    req("branch", T::Branch, "branch code"),
    f("location", T::Text, "room or area within the branch"),
    f("supplier", T::Ref(Kind::Vendor), "vendor it was bought from"),
    f("order_number", T::Text, "order number"),
    f("purchase_date", T::Date, "purchase date"),
    f("purchase_cost", T::Money, "purchase cost"),
    f("warranty_months", T::Int, "warranty in months"),
    f("eol_date", T::Date, "end of life"),
    def("public_use", T::Bool, "false", "used by the public"),
    def("bookable", T::Bool, "false", "can be booked by patrons"),
    def("express", T::Bool, "false", "express station (short sessions)"),
    f("last_audit", T::Date, "last audit"),
    f("next_audit", T::Date, "next audit due"),
    f("notes", T::Text, "notes"),
];
const LICENCE: &[FieldDef] = &[
    req("product", T::Text, "software product"),
    f("key", T::Text, "licence key"),
    req("seats", T::Int, "number of seats"),
    f("vendor", T::Ref(Kind::Vendor), "vendor"),
    f("expiry", T::Date, "expiry date"),
    f("notes", T::Text, "notes"),
    def("retired", T::Bool, "false", "no longer in use"),
];
const SEAT: &[FieldDef] = &[
    req("licence", T::Ref(Kind::Licence), "licence"),
    req("asset", T::Ref(Kind::Asset), "asset the seat is assigned to"),
    def("retired", T::Bool, "false", "seat released"),
];
const STOCK_ITEM: &[FieldDef] = &[
    req("name", T::Text, "item name"),
    def(
        "kind",
        T::Enum(&[
            "toner", "ink", "drum", "paper", "keyboard", "mouse", "cable", "part", "other",
        ]),
        "other",
        "kind of supply or spare part",
    ),
    f("part_number", T::Text, "part number"),
    f("compatible_models", T::Text, "compatible models"),
    def("unit", T::Text, "each", "unit of count"),
    def(
        "reorder_level",
        T::Int,
        "0",
        "reorder when a branch has fewer than this",
    ),
    def("target_level", T::Int, "0", "level to order up to"),
    f("vendor", T::Ref(Kind::Vendor), "default vendor"),
    f("unit_cost", T::Money, "unit cost"),
    def("retired", T::Bool, "false", "no longer stocked"),
];
const MOVEMENT: &[FieldDef] = &[
    req("item", T::Ref(Kind::StockItem), "stock item"),
    req("branch", T::Branch, "branch whose level changes"),
    req(
        "kind",
        T::Enum(MOVEMENT_KINDS),
        "receive, issue, transfer-out, transfer-in or adjust",
    ),
    req("qty", T::Int, "quantity (positive; adjust may be negative)"),
    f("asset", T::Ref(Kind::Asset), "asset it was issued to"),
    f("ticket", T::Ref(Kind::Ticket), "ticket it was used on"),
    f("transfer", T::Ref(Kind::Transfer), "transfer it belongs to"),
    f("note", T::Text, "note"),
    def("cancelled", T::Bool, "false", "reversed (keeps the history)"),
];
const REPLACEMENT: &[FieldDef] = &[
    req("item", T::Ref(Kind::StockItem), "stock item"),
    req("branch", T::Branch, "requesting branch"),
    req("qty", T::Int, "quantity"),
    def(
        "status",
        T::Enum(&["requested", "ordered", "received", "cancelled"]),
        "requested",
        "status",
    ),
    f("note", T::Text, "note"),
];
const TICKET: &[FieldDef] = &[
    f("number", T::Text, "per-branch ticket number (assigned)"),
    req("branch", T::Branch, "branch"),
    f("asset", T::Ref(Kind::Asset), "asset with the problem"),
    f("reported_by", T::Text, "who reported it"),
    req(
        "category",
        T::Enum(&["hardware", "software", "network", "printer", "microform", "other"]),
        "category",
    ),
    def(
        "urgency",
        T::Enum(&["low", "normal", "high", "critical"]),
        "normal",
        "urgency",
    ),
    def("status", T::Enum(TICKET_STATUSES), "new", "status"),
    f("assignee", T::Ref(Kind::Staff), "assigned technician"),
    req("summary", T::Text, "one-line summary"),
    f("description", T::Text, "description"),
    f("vendor", T::Ref(Kind::Vendor), "vendor doing the repair"),
    f("vendor_cost", T::Money, "vendor repair cost"),
    def("warranty", T::Bool, "false", "repaired under warranty"),
    f("resolution", T::Text, "resolution"),
    f("opened_at", T::DateTime, "opened (defaults to now)"),
    f("first_response_at", T::DateTime, "first response"),
    f("solved_at", T::DateTime, "solved"),
    f("closed_at", T::DateTime, "closed"),
    f(
        "out_of_service_minutes",
        T::Int,
        "minutes the asset was out of service",
    ),
];
const TRANSFER: &[FieldDef] = &[
    f("asset", T::Ref(Kind::Asset), "asset being moved"),
    f("item", T::Ref(Kind::StockItem), "stock item being moved"),
    f("qty", T::Int, "quantity of the stock item"),
    req("from_branch", T::Branch, "from branch"),
    req("to_branch", T::Branch, "to branch"),
    def(
        "status",
        T::Enum(&["prepared", "picked-up", "in-transit", "received", "cancelled"]),
        "prepared",
        "status",
    ),
    f("carried_by", T::Ref(Kind::Staff), "who carries it"),
    f("note", T::Text, "note"),
];
const TASK: &[FieldDef] = &[
    req("title", T::Text, "title"),
    req(
        "kind",
        T::Enum(&["maintenance", "backup", "inventory-count"]),
        "kind of task",
    ),
    req(
        "rule",
        T::Text,
        "recurrence: daily, weekly, monthly, quarterly, yearly or 'every N days'",
    ),
    f("branch", T::Branch, "branch"),
    f("asset", T::Ref(Kind::Asset), "target asset"),
    f("assignee", T::Ref(Kind::Staff), "who does it"),
    req("next_due", T::Date, "next due date"),
    f("notes", T::Text, "notes"),
    def("retired", T::Bool, "false", "no longer scheduled"),
];
const TASK_RUN: &[FieldDef] = &[
    req("task", T::Ref(Kind::Task), "recurring task"),
    req("date", T::Date, "date it was done"),
    f("staff", T::Ref(Kind::Staff), "who did it"),
    req(
        "result",
        T::Enum(&["ok", "failed", "partial", "skipped"]),
        "result",
    ),
    f("media", T::Text, "backup media"),
    f("size_mb", T::Int, "backup size in MB"),
    def(
        "restore_verified",
        T::Bool,
        "false",
        "a test restore was verified",
    ),
    f("notes", T::Text, "notes"),
];
const ONCALL: &[FieldDef] = &[
    req("staff", T::Ref(Kind::Staff), "who is on call"),
    req("branches", T::Branches, "branch codes covered, comma-separated"),
    req("start", T::DateTime, "start"),
    req("end", T::DateTime, "end"),
    f("phone", T::Text, "phone to call"),
    def("cancelled", T::Bool, "false", "shift cancelled"),
];
const TRAINING: &[FieldDef] = &[
    req("title", T::Text, "title"),
    f("trainer", T::Ref(Kind::Staff), "trainer"),
    req("branch", T::Branch, "branch where it happens"),
    req("start", T::DateTime, "start"),
    req("end", T::DateTime, "end"),
    def("attendees", T::Int, "0", "number of attendees"),
    f("notes", T::Text, "notes"),
    def("cancelled", T::Bool, "false", "session cancelled"),
];
const BOOKING: &[FieldDef] = &[
    req("station", T::Ref(Kind::Asset), "bookable public PC"),
    f("branch", T::Branch, "branch (taken from the station)"),
    req(
        "patron",
        T::Text,
        "patron reference: card number (stored hashed) or guest pass G-...",
    ),
    req("start", T::DateTime, "start"),
    req("end", T::DateTime, "end"),
    def(
        "source",
        T::Enum(&["desk", "phone", "kiosk"]),
        "desk",
        "how it was booked",
    ),
    def("status", T::Enum(BOOKING_STATUSES), "booked", "status"),
];
const USAGE: &[FieldDef] = &[
    req("branch", T::Branch, "branch"),
    req("date", T::Date, "day counted"),
    def("station", T::Text, "pool", "station tag or pool name"),
    def("sessions", T::Int, "0", "PC sessions"),
    def("minutes", T::Int, "0", "PC minutes"),
    def("walkups", T::Int, "0", "walk-up sessions"),
    def("bookings", T::Int, "0", "booked sessions"),
    def("no_shows", T::Int, "0", "no-shows"),
    def("print_bw", T::Int, "0", "black and white pages printed"),
    def("print_colour", T::Int, "0", "colour pages printed"),
    def("wifi_sessions", T::Int, "0", "Wi-Fi sessions"),
    def("microform_uses", T::Int, "0", "microform reader uses"),
    def("estimate", T::Bool, "false", "figure is an estimate, not a count"),
    def("retired", T::Bool, "false", "entry withdrawn"),
];
const RETRIEVAL: &[FieldDef] = &[
    req("branch", T::Branch, "branch"),
    req("title", T::Text, "periodical or microform requested"),
    def(
        "kind",
        T::Enum(&["periodical", "microform"]),
        "periodical",
        "kind",
    ),
    f("requested_by", T::Text, "who asked"),
    f("requested_at", T::DateTime, "when (defaults to now)"),
    f("fulfilled_at", T::DateTime, "when it was fulfilled"),
    def(
        "status",
        T::Enum(&["requested", "fulfilled", "cancelled"]),
        "requested",
        "status",
    ),
];
const PAGE: &[FieldDef] = &[
    req("title", T::Text, "title"),
    f("text", T::Text, "page text (merges concurrent edits)"),
    f("tags", T::Text, "comma-separated tags"),
    f("assets", T::Text, "linked asset tags or models, comma-separated"),
    def("retired", T::Bool, "false", "archived"),
];

/// How a record is put away when staff "retire" it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retire {
    /// Set this boolean field true.
    Flag(&'static str),
    /// Set the status field to this value.
    Status(&'static str),
    /// Not retirable (e.g. devices are revoked instead).
    Never,
}

impl Kind {
    pub const ALL: &'static [Kind] = &[
        Kind::Branch,
        Kind::Location,
        Kind::Staff,
        Kind::Device,
        Kind::Vendor,
        Kind::Asset,
        Kind::Licence,
        Kind::Seat,
        Kind::StockItem,
        Kind::Movement,
        Kind::Replacement,
        Kind::Ticket,
        Kind::Transfer,
        Kind::Task,
        Kind::TaskRun,
        Kind::Oncall,
        Kind::Training,
        Kind::Booking,
        Kind::Usage,
        Kind::Retrieval,
        Kind::Page,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Kind::Branch => "branch",
            Kind::Location => "location",
            Kind::Staff => "staff",
            Kind::Device => "device",
            Kind::Vendor => "vendor",
            Kind::Asset => "asset",
            Kind::Licence => "licence",
            Kind::Seat => "seat",
            Kind::StockItem => "stock-item",
            Kind::Movement => "movement",
            Kind::Replacement => "replacement",
            Kind::Ticket => "ticket",
            Kind::Transfer => "transfer",
            Kind::Task => "task",
            Kind::TaskRun => "task-run",
            Kind::Oncall => "oncall",
            Kind::Training => "training",
            Kind::Booking => "booking",
            Kind::Usage => "usage",
            Kind::Retrieval => "retrieval",
            Kind::Page => "page",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.iter().copied().find(|k| k.name() == s)
    }

    pub fn about(self) -> &'static str {
        match self {
            Kind::Branch => "Branches, their opening hours and public PC booking policies",
            Kind::Location => "Rooms and areas within a branch",
            Kind::Staff => "Staff members and their roles",
            Kind::Device => "Devices enrolled in the library system",
            Kind::Vendor => "Suppliers, manufacturers and service vendors",
            Kind::Asset => "Equipment: PCs, printers, scanners, network gear",
            Kind::Licence => "Software licences",
            Kind::Seat => "Licence seats assigned to assets",
            Kind::StockItem => "Supplies and spare parts",
            Kind::Movement => "Stock movements: receive, issue, transfer, count adjustment",
            Kind::Replacement => "Replacement requests for supplies",
            Kind::Ticket => "Computer problems and repairs",
            Kind::Transfer => "Transfers and shipments between branches",
            Kind::Task => "Recurring tasks: preventive maintenance, backups, inventory counts",
            Kind::TaskRun => "Runs of recurring tasks",
            Kind::Oncall => "On-call shifts",
            Kind::Training => "Training sessions",
            Kind::Booking => "Public PC bookings",
            Kind::Usage => "Daily use counts",
            Kind::Retrieval => "Periodical and microform retrieval requests",
            Kind::Page => "Documentation pages",
        }
    }

    pub fn fields(self) -> &'static [FieldDef] {
        match self {
            Kind::Branch => BRANCH,
            Kind::Location => LOCATION,
            Kind::Staff => STAFF,
            Kind::Device => DEVICE,
            Kind::Vendor => VENDOR,
            Kind::Asset => ASSET,
            Kind::Licence => LICENCE,
            Kind::Seat => SEAT,
            Kind::StockItem => STOCK_ITEM,
            Kind::Movement => MOVEMENT,
            Kind::Replacement => REPLACEMENT,
            Kind::Ticket => TICKET,
            Kind::Transfer => TRANSFER,
            Kind::Task => TASK,
            Kind::TaskRun => TASK_RUN,
            Kind::Oncall => ONCALL,
            Kind::Training => TRAINING,
            Kind::Booking => BOOKING,
            Kind::Usage => USAGE,
            Kind::Retrieval => RETRIEVAL,
            Kind::Page => PAGE,
        }
    }

    pub fn field(self, name: &str) -> Option<&'static FieldDef> {
        self.fields().iter().find(|f| f.name == name)
    }

    pub fn retire(self) -> Retire {
        match self {
            Kind::Asset => Retire::Status("retired"),
            Kind::Booking => Retire::Status("cancelled"),
            Kind::Replacement | Kind::Transfer | Kind::Retrieval => Retire::Status("cancelled"),
            Kind::Ticket => Retire::Status("closed"),
            Kind::Movement | Kind::Oncall | Kind::Training => Retire::Flag("cancelled"),
            Kind::Device | Kind::TaskRun => Retire::Never,
            _ => Retire::Flag("retired"),
        }
    }

    /// The field staff use to name a record instead of its UUID.
    pub fn natural_key(self) -> Option<&'static str> {
        match self {
            Kind::Branch => Some("code"),
            Kind::Asset => Some("tag"),
            Kind::Staff | Kind::Vendor | Kind::StockItem | Kind::Device => Some("name"),
            Kind::Licence => Some("product"),
            Kind::Ticket => Some("number"),
            Kind::Task | Kind::Page => Some("title"),
            _ => None,
        }
    }

    /// Columns shown in list tables.
    pub fn list_columns(self) -> &'static [&'static str] {
        match self {
            Kind::Branch => &["code", "name", "hours"],
            Kind::Location => &["branch", "name"],
            Kind::Staff => &["name", "role", "branch", "phone"],
            Kind::Device => &["name", "branch", "role", "revoked"],
            Kind::Vendor => &["name", "kind", "phone", "contract_end"],
            Kind::Asset => &["tag", "name", "category", "status", "branch", "location"],
            Kind::Licence => &["product", "seats", "expiry"],
            Kind::Seat => &["licence", "asset"],
            Kind::StockItem => &["name", "kind", "part_number", "reorder_level"],
            Kind::Movement => &["item", "branch", "kind", "qty"],
            Kind::Replacement => &["item", "branch", "qty", "status"],
            Kind::Ticket => &["number", "status", "urgency", "category", "summary"],
            Kind::Transfer => &["from_branch", "to_branch", "status", "asset", "item", "qty"],
            Kind::Task => &["title", "kind", "rule", "next_due", "branch"],
            Kind::TaskRun => &["task", "date", "result", "restore_verified"],
            Kind::Oncall => &["staff", "branches", "start", "end"],
            Kind::Training => &["title", "branch", "start", "end", "attendees"],
            Kind::Booking => &["branch", "station", "start", "end", "status"],
            Kind::Usage => &["branch", "date", "station", "sessions", "minutes"],
            Kind::Retrieval => &["branch", "title", "kind", "status"],
            Kind::Page => &["title", "tags"],
        }
    }

    /// The collection (map at the document root) that holds records of this kind.
    pub fn collection(self) -> &'static str {
        self.name()
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Fields every record carries, written by the node, never by staff.
pub const META_FIELDS: &[&str] = &[
    "created_at",
    "created_by",
    "created_device",
    "updated_at",
    "updated_by",
    "updated_device",
];
