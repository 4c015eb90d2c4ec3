//! Printing results: one JSON object for tools that make or change something, and for listings a
//! table on a terminal, JSON Lines otherwise, or a Go template (`--format`), as DESIGN.md §3 says.

use std::io::{IsTerminal, Write};

use serde_json::Value;

use crate::error::{Error, Result};
use crate::template::{split_table, Method, Struct, Template, Typed};

/// How a listing is printed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Format {
    /// A table on a terminal, JSON Lines otherwise.
    Auto,
    /// One JSON object per line.
    Json,
    /// A table; with a template, its columns (`table {{.ID}}\t{{.Tag}}`).
    Table(Option<String>),
    /// A Go template executed for each item.
    Template(String),
}

impl Format {
    /// Reads `--format`: `json`, `table`, `table TEMPLATE` or `TEMPLATE`.
    pub fn parse(opt: Option<&str>) -> Format {
        match opt.map(str::trim) {
            None | Some("") => Format::Auto,
            Some("json") => Format::Json,
            Some(s) => {
                let (table, rest) = split_table(s);
                match (table, rest.trim().is_empty()) {
                    (true, true) => Format::Table(None),
                    (true, false) => Format::Table(Some(rest)),
                    (false, _) => Format::Template(rest),
                }
            }
        }
    }

    /// Resolves `Auto` for this process's stdout.
    pub fn resolve(self) -> Format {
        match self {
            Format::Auto if std::io::stdout().is_terminal() => Format::Table(None),
            Format::Auto => Format::Json,
            f => f,
        }
    }
}

/// A table column: its header and the field of each row it shows.
#[derive(Debug, Clone, Copy)]
pub struct Column {
    pub header: &'static str,
    pub field: &'static str,
}

pub const fn col(header: &'static str, field: &'static str) -> Column {
    Column { header, field }
}

/// Writes to stdout, naming stdout in the error (a closed pipe is recognised by the caller).
pub fn write_stdout(data: &[u8]) -> Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(data)
        .and_then(|_| out.flush())
        .map_err(|e| Error::stream("write to stdout", e))
}

/// Prints one JSON object on one line: the result of a tool that made or changed something.
pub fn print_json(v: &Value) -> Result<()> {
    let mut s = serde_json::to_string(v).expect("JSON values serialise");
    s.push('\n');
    write_stdout(s.as_bytes())
}

/// Prints indented JSON, as `docker inspect` does.
pub fn print_json_pretty(v: &Value) -> Result<()> {
    let mut s = serde_json::to_string_pretty(v).expect("JSON values serialise");
    s.push('\n');
    write_stdout(s.as_bytes())
}

/// What the inspect tools print: the objects as one JSON array, or with `--format TEMPLATE`
/// the template for each (a `table` prefix ignored, as Docker's inspect does).
pub fn print_inspected(format: Option<&str>, found: Vec<Value>) -> Result<()> {
    match format {
        None | Some("json") => print_json_pretty(&Value::Array(found)),
        Some(t) => write_stdout(render_each(&split_table(t).1, &found)?.as_bytes()),
    }
}

/// What berth's inspect objects (containers, images, volumes, networks) hold whole of Docker's
/// structs: the object itself and a container's `State`. A field these do not have is an error,
/// as `docker inspect --format '{{.Foo}}'` says `map has no entry for key "Foo"`; other objects
/// (maps such as Labels, or structs whose empty fields berth's JSON may leave out) print
/// `<no value>`. The fields Docker's JSON omits when empty (`State.Health`, a container's
/// `Node`, an image's `Variant` and `OsVersion`, a volume's `Status` and `UsageData`, a
/// network's `Peers` and `Services`) print `<nil>` when left out.
pub const INSPECT_TYPES: Typed<'static> = Typed {
    structs: &["State"],
    optional: &[
        "Health",
        "Node",
        "Variant",
        "OsVersion",
        "Status",
        "UsageData",
        "Peers",
        "Services",
    ],
};

/// Executes a template for each item, one line each, as `--format TEMPLATE` does, the items
/// being Docker's inspect objects: a field that is not there is an error, but in a map
/// ([`INSPECT_TYPES`]).
pub fn render_each(template: &str, items: &[Value]) -> Result<String> {
    let t = Template::parse(template)?;
    let mut out = String::new();
    for item in items {
        out.push_str(&t.render_typed(item, &INSPECT_TYPES)?);
        out.push('\n');
    }
    Ok(out)
}

/// What a listing's items are to a template: Docker's formatter struct for them (its Go type's
/// name, for errors; its methods that take arguments) and the headers of its fields.
pub struct Formatter<'a> {
    /// `*formatter.ContainerContext`.
    pub type_name: &'a str,
    pub methods: &'a [Method<'a>],
    /// The header of each field a `table` template may show; the columns' are added.
    pub headers: &'a [Column],
    /// The methods of the headers' struct (`{{.Label "k"}}`'s header is `k`); with none, the
    /// headers are a map, where a field not there prints `<no value>`.
    pub header_methods: &'a [Method<'a>],
}

/// `{{.Label "KEY"}}` of Docker's container, volume and network formatters: the value of the
/// label (the item's [`Item::private`] is its labels, an object), or nothing.
pub const LABEL: Method<'static> = Method {
    name: "Label",
    args: 1,
    call: label,
};

/// The header of a `{{.Label "KEY"}}` column, as Docker's: the last dotted part of KEY, `-` and
/// `_` as spaces (`com.example.my-tier` is `my tier`).
pub const LABEL_HEADER: Method<'static> = Method {
    name: "Label",
    args: 1,
    call: label_header,
};

fn label(labels: &Value, args: &[Value]) -> std::result::Result<Value, String> {
    match &args[0] {
        Value::String(k) => Ok(labels.get(k).cloned().unwrap_or_else(|| Value::from(""))),
        other => Err(format!(
            "wrong type for value; expected string; got {}",
            match other {
                Value::Null => "<nil>",
                Value::Number(_) => "int",
                Value::Bool(_) => "bool",
                _ => "interface {}",
            }
        )),
    }
}

fn label_header(_: &Value, args: &[Value]) -> std::result::Result<Value, String> {
    let name = args[0].as_str().unwrap_or_default();
    let last = name.rsplit('.').next().unwrap_or_default();
    Ok(Value::from(last.replace(['-', '_'], " ")))
}

/// One item of a listing: the fields a template sees (what JSON output prints), and what only
/// the formatter's methods read (Go's unexported fields; null when there are none).
pub struct Item {
    pub fields: Value,
    pub private: Value,
}

/// Docker's formatter type for the listing tools that print with [`print_list`], by tool.
const FORMATTERS: &[(&str, &str)] = &[
    ("ctr-ls", "*formatter.ContainerContext"),
    ("ctr-stats", "*container.statsContext"),
    ("img-history", "*image.historyContext"),
    ("img-ls", "*formatter.imageContext"),
    ("img-search", "*registry.searchContext"),
    ("net-ls", "*network.networkContext"),
    ("vol-ls", "*formatter.volumeContext"),
];

/// The Go type Docker's formatter has for this tool's items (by the name the tool runs as:
/// `img-ls`, or `berth img-ls`), for errors.
fn formatter_type() -> &'static str {
    let mut args = std::env::args();
    let name = |a: Option<String>| {
        a.map(|a| a.rsplit('/').next().unwrap_or_default().to_string())
            .unwrap_or_default()
    };
    let first = name(args.next());
    let tool = if first == "berth" {
        name(args.next())
    } else {
        first
    };
    FORMATTERS
        .iter()
        .find(|(t, _)| *t == tool)
        .map_or("struct", |(_, ty)| ty)
}

/// Prints a listing in `format`. A template sees each row as Docker's formatters give it an
/// item, a struct: a field a row does not have is an error, not `<no value>`.
pub fn print_list(rows: &[Value], columns: &[Column], format: Format) -> Result<()> {
    let items: Vec<Item> = rows
        .iter()
        .map(|r| Item {
            fields: r.clone(),
            private: Value::Null,
        })
        .collect();
    let formatter = Formatter {
        type_name: formatter_type(),
        methods: &[],
        headers: &[],
        header_methods: &[],
    };
    print_items(&formatter, &items, columns, format)
}

/// Executes `t` on one item as its formatter's struct.
pub fn render_item(t: &Template, formatter: &Formatter, item: &Item) -> Result<String> {
    Ok(t.render_struct(&Struct {
        type_name: formatter.type_name,
        fields: &item.fields,
        private: &item.private,
        methods: formatter.methods,
    })?)
}

/// Prints a listing in `format`, each item given to a template as `formatter`'s struct.
pub fn print_items(
    formatter: &Formatter,
    items: &[Item],
    columns: &[Column],
    format: Format,
) -> Result<()> {
    let text = match format.resolve() {
        Format::Json | Format::Auto => {
            let mut s = String::new();
            for r in items {
                s.push_str(&serde_json::to_string(&r.fields).expect("JSON values serialise"));
                s.push('\n');
            }
            s
        }
        Format::Template(t) => {
            let t = Template::parse(&t)?;
            let mut out = String::new();
            for item in items {
                out.push_str(&render_item(&t, formatter, item)?);
                out.push('\n');
            }
            out
        }
        Format::Table(t) => {
            let template = t.unwrap_or_else(|| {
                columns
                    .iter()
                    .map(|c| format!("{{{{.{}}}}}", c.field))
                    .collect::<Vec<_>>()
                    .join("\t")
            });
            let mut header = serde_json::Map::new();
            for c in formatter.headers.iter().chain(columns) {
                header.insert(c.field.to_string(), Value::String(c.header.to_string()));
            }
            let tpl = Template::parse(&template)?;
            // Docker renders the header on its map of the headers (with its methods) and keeps
            // what it printed before an error.
            let header = Value::Object(header);
            let header = if formatter.header_methods.is_empty() {
                tpl.render(&header)
            } else {
                tpl.render_struct(&Struct {
                    type_name: "formatter.SubHeaderContext",
                    fields: &header,
                    private: &Value::Null,
                    methods: formatter.header_methods,
                })
            };
            let mut lines = vec![header.unwrap_or_default()];
            for item in items {
                lines.push(render_item(&tpl, formatter, item)?);
            }
            align(&lines.join("\n"))
        }
    };
    write_stdout(text.as_bytes())
}

/// Aligns tab-separated cells into columns as Go's tabwriter does for Docker (minimum width 10,
/// padding 3); the last cell of a line is not padded.
pub fn align(text: &str) -> String {
    let lines: Vec<Vec<&str>> = text.lines().map(|l| l.split('\t').collect()).collect();
    let mut widths: Vec<usize> = Vec::new();
    for cells in &lines {
        for (i, c) in cells.iter().enumerate().take(cells.len().saturating_sub(1)) {
            let w = (c.chars().count() + 3).max(10);
            if widths.len() <= i {
                widths.push(w);
            } else {
                widths[i] = widths[i].max(w);
            }
        }
    }
    let mut out = String::new();
    for cells in &lines {
        for (i, c) in cells.iter().enumerate() {
            out.push_str(c);
            if i + 1 < cells.len() {
                let pad = widths[i] - c.chars().count();
                out.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.push('\n');
    }
    out
}

/// A size as Docker prints it: three significant digits, decimal units (`4.26MB`, `512B`).
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 7] = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
    let mut size = bytes as f64;
    let mut unit = 0;
    while size >= 1000.0 && unit < UNITS.len() - 1 {
        size /= 1000.0;
        unit += 1;
    }
    format!("{}{}", three_significant(size), UNITS[unit])
}

/// Go's `%.3g` for 0 <= x < 1000.
fn three_significant(x: f64) -> String {
    let decimals = if x >= 100.0 {
        0
    } else if x >= 10.0 {
        1
    } else {
        2
    };
    let s = format!("{x:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// A duration as Docker prints it (go-units HumanDuration): `About a minute`, `3 hours`.
pub fn human_duration(seconds: i64) -> String {
    let s = seconds.max(0);
    let minutes = s / 60;
    let hours = ((s as f64) / 3600.0 + 0.5) as i64;
    if s < 1 {
        "Less than a second".into()
    } else if s == 1 {
        "1 second".into()
    } else if s < 60 {
        format!("{s} seconds")
    } else if minutes == 1 {
        "About a minute".into()
    } else if minutes < 60 {
        format!("{minutes} minutes")
    } else if hours == 1 {
        "About an hour".into()
    } else if hours < 48 {
        format!("{hours} hours")
    } else if hours < 24 * 7 * 2 {
        format!("{} days", hours / 24)
    } else if hours < 24 * 30 * 2 {
        format!("{} weeks", hours / 24 / 7)
    } else if hours < 24 * 365 * 2 {
        format!("{} months", hours / 24 / 30)
    } else {
        format!("{} years", hours / 24 / 365)
    }
}

/// `2 hours ago` for an RFC 3339 time, or an empty string when there is none.
pub fn since(rfc3339: Option<&str>) -> String {
    match rfc3339.and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok()) {
        Some(t) => {
            let d = chrono::Utc::now().signed_duration_since(t);
            format!("{} ago", human_duration(d.num_seconds()))
        }
        None => "N/A".into(),
    }
}

/// An RFC 3339 time as Go's `time.Time.String()` prints it in UTC, the form of Docker's
/// `CreatedAt` fields: `2024-05-01 10:00:00 +0000 UTC`.
pub fn go_time(rfc3339: Option<&str>) -> String {
    match rfc3339.and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok()) {
        Some(t) => t
            .with_timezone(&chrono::Utc)
            .format("%Y-%m-%d %H:%M:%S +0000 UTC")
            .to_string(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_by_key() {
        let labels = serde_json::json!({"tier": "web"});
        let call = |l: &Value, k: Value| (LABEL.call)(l, &[k]);
        assert_eq!(call(&labels, Value::from("tier")).unwrap(), "web");
        assert_eq!(call(&labels, Value::from("nope")).unwrap(), "");
        assert_eq!(call(&Value::Null, Value::from("tier")).unwrap(), "");
        assert!(call(&labels, Value::from(1)).is_err());
        assert_eq!(
            (LABEL_HEADER.call)(&Value::Null, &[Value::from("com.example.my-tier_x")]).unwrap(),
            "my tier x"
        );
    }

    #[test]
    fn sizes_as_docker() {
        assert_eq!(human_size(0), "0B");
        assert_eq!(human_size(512), "512B");
        assert_eq!(human_size(1000), "1kB");
        assert_eq!(human_size(4_261_550), "4.26MB");
        assert_eq!(human_size(77_900_000), "77.9MB");
        assert_eq!(human_size(123_456_789_012), "123GB");
        assert_eq!(human_size(1_500), "1.5kB");
    }

    #[test]
    fn durations_as_docker() {
        assert_eq!(human_duration(0), "Less than a second");
        assert_eq!(human_duration(1), "1 second");
        assert_eq!(human_duration(45), "45 seconds");
        assert_eq!(human_duration(90), "About a minute");
        assert_eq!(human_duration(600), "10 minutes");
        assert_eq!(human_duration(3600), "About an hour");
        assert_eq!(human_duration(5 * 3600), "5 hours");
        assert_eq!(human_duration(3 * 86400), "3 days");
        assert_eq!(human_duration(20 * 86400), "2 weeks");
        assert_eq!(human_duration(90 * 86400), "3 months");
        assert_eq!(human_duration(800 * 86400), "2 years");
    }

    #[test]
    fn go_time_format() {
        assert_eq!(
            go_time(Some("2024-05-01T10:00:00.123456789Z")),
            "2024-05-01 10:00:00 +0000 UTC"
        );
        assert_eq!(go_time(None), "");
    }

    #[test]
    fn formats_parse() {
        assert_eq!(Format::parse(None), Format::Auto);
        assert_eq!(Format::parse(Some("json")), Format::Json);
        assert_eq!(Format::parse(Some("table")), Format::Table(None));
        assert_eq!(
            Format::parse(Some("table {{.ID}}\\t{{.Tag}}")),
            Format::Table(Some("{{.ID}}\t{{.Tag}}".into()))
        );
        assert_eq!(
            Format::parse(Some("{{.ID}}")),
            Format::Template("{{.ID}}".into())
        );
    }

    #[test]
    fn aligns_like_tabwriter() {
        let t = align("REPOSITORY\tTAG\tSIZE\nbusybox\tlatest\t4.26MB");
        assert_eq!(
            t,
            "REPOSITORY   TAG       SIZE\nbusybox      latest    4.26MB\n"
        );
    }
}
